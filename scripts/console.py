"""Helpers for `brownie console` (local chains): a deployed system, borrowers with real features,
an in-process 2-of-3 oracle, and a loan walked step by step.

    $ .venv/bin/brownie console --network ganache-cli
    >>> from scripts.console import *
    >>> s = deploy()                       # every contract; model v1 registered + approved
    >>> b = new_borrower(s)                # a funded account with a real GMSC holdout row, KYC'd
    >>> loan = request(s, b, 2_000)        # 2,000 tUSD; emits ScoreRequested
    >>> att = score(s, b)                  # PD, score, reason codes; 2 oracle signatures; submitted
    >>> explain(att)
    >>> approve(s, loan); fund(s, loan); repay(s, loan)
    >>> show(s, loan)
    >>> impair(s, loan); unimpair(s, loan)  # the lender flags a loan in trouble, and lifts it

The oracle here runs in the console process with three keys made up for this console session
(kept in memory only) — local chains only. Operators run real nodes (`oracle serve`) with
encrypted keystores instead; `pull(s, b, url)` asks such a node for a borrower's score with the
borrower's signed request (the node answers no one else).
"""

from __future__ import annotations

import importlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from brownie import accounts, chain

from oracle import attest, commitment, keys, typed_data
from oracle.scoring import load_model

from .network_context import DEV_FIRST_FREE_INDEX, is_local, require_success, role_account

ROOT = Path(__file__).resolve().parents[1]
USD = 10**6
DAY = 24 * 3600

__all__ = ["deploy", "new_borrower", "request", "score", "pull", "explain", "approve", "fund", "repay",
           "impair", "unimpair", "show", "Borrower", "USD", "DAY", "accounts", "chain"]

_deploy = importlib.import_module("scripts.01_deploy")
_governance = importlib.import_module("scripts.02_register_model")
_onboarding = importlib.import_module("scripts.03_onboard_borrowers")
_loans = importlib.import_module("scripts.04_run_loans")
_model = None


_ORACLE_KEYS: list[keys.Signer] = []


def _oracle_keys() -> list[keys.Signer]:
    if not is_local():
        raise RuntimeError("the console's in-process oracle is for local chains only")
    if not _ORACLE_KEYS:
        _ORACLE_KEYS.extend(keys.Signer(secrets.token_bytes(32)) for _ in range(3))
    return _ORACLE_KEYS


def _bundle():
    global _model
    if _model is None:
        _model = load_model(ROOT / "models/default")
    return _model


def deploy(threshold: int = 2):
    """Deploy everything with the console's 3 oracle keys as signers; register + approve model v1."""
    signers = [k.address for k in _oracle_keys()]
    system = _deploy.deploy(signers, threshold)
    commitments = _governance.register_model(system)
    _governance.approve_model(system)
    print(f"deployed; model 0x{commitments.model_id.hex()[:16]}… approved; "
          f"oracle {threshold}-of-{len(signers)}")
    return system


@dataclass
class Borrower:
    account: object
    features: dict
    salt: bytes
    real_outcome: str

    @property
    def address(self) -> str:
        return self.account.address


def new_borrower(system, jurisdiction: str = "GB", *, seed: int | None = None) -> Borrower:
    """A fresh account with gas money and a real holdout row, registered by the KYC provider and
    enrolled by its own consent transaction."""
    seed = secrets.randbelow(2**31) if seed is None else seed
    (record,) = _onboarding.demo_records(1, [jurisdiction], seed=seed)
    _onboarding.register_borrowers(system, [record])
    return Borrower(record.account, record.features, record.salt,
                    "defaulted" if record.holdout_label else "repaid")


def request(system, borrower: Borrower, principal_usd: float, apr_bps: int = 1_500,
            term_days: int = 180, installments: int = 6):
    run = _loans.request_loan(system.loan_manager, _as_record(borrower), int(principal_usd * USD),
                              apr_bps, term_days * DAY, installments)
    print(f"loan {run.loan_id} requested (ScoreRequested emitted)")
    return run


def score(system, borrower: Borrower) -> typed_data.ScoreAttestation:
    """Score in-process as an oracle node would, sign with k oracle keys and submit (for the
    borrower's open loan request: the registry records one score per request and none otherwise)."""
    from models.schema import validate_row

    if not system.score_registry.scoreRequested(borrower.address):
        raise ValueError(f"{borrower.address} has no open loan request: request_loan(...) first; "
                         "a score is recorded only for a request")
    model = _bundle()
    vector = validate_row(model.schema, borrower.features)
    prediction = model.predict(vector)
    registry = system.score_registry
    att = attest.build_attestation(
        borrower=borrower.address, model_id=model.model_id,
        features_hash=commitment.features_hash(model.schema_hash, borrower.salt, vector),
        pd_bps=prediction.pd_bps, score=prediction.score,
        reason_codes=prediction.reason_codes_packed, nonce=registry.nonces(borrower.address),
        now=chain[-1].timestamp, policy=attest.Policy(validity_s=DAY, clock_tolerance_s=120),
        config_digest=bytes(registry.configDigest()))
    digest = typed_data.digest(att, typed_data.domain_separator(chain.id, registry.address))
    signatures = [k.sign_digest(digest) for k in _oracle_keys()[: registry.threshold()]]
    require_success(registry.submit(att.as_tuple(), signatures, {"from": role_account("deployer")}))
    print(f"score {att.score} (PD {att.pdBps / 100:.2f} %) recorded for {borrower.address}")
    return att


def pull(system, borrower: Borrower, node_url: str) -> dict:
    """The k-signed score of `borrower` from a running node's public listener (`oracle serve`),
    asked for with a ScoreRequest the borrower signs (oracle/pull_client.py); the node answers only
    while the borrower has an open loan request. Returns the node's JSON answer; raises on a
    refusal, with the node's reason."""
    from oracle.pull_client import pull_score

    r = pull_score(node_url, borrower.account.private_key, chain.id,
                   system.score_registry.address)
    if r.status_code != 200:
        raise RuntimeError(f"node refused ({r.status_code}): {r.json().get('error')}")
    return r.json()


def explain(att: typed_data.ScoreAttestation) -> None:
    """Print the attestation's reason codes, most important first (models/reason_codes.json)."""
    from models.serving import describe_reason_codes

    for rank, text in enumerate(describe_reason_codes(att.reasonCodes), start=1):
        print(f"reason {rank}: {text}")


def approve(system, run) -> None:
    _loans.decide(system.loan_manager, run)
    print(f"loan {run.loan_id}: {run.decision}{' (' + run.reason + ')' if run.reason else ''}")
    if run.decision == "rejected":
        notice(system, run)


def notice(system, run) -> None:
    """The adverse-action reasons of a declined loan: the rule's, then (a score-based decline)
    the score's own (oracle.adverse_action), from the borrower's latest score: the one the
    decision read unless a newer request has been scored since."""
    from oracle.adverse_action import principal_reasons

    loan = system.loan_manager.getLoan(run.loan_id)
    packed = system.score_registry.latestScore(loan["borrower"])["reasonCodes"]
    for rank, text in enumerate(principal_reasons(loan["rejectReason"], packed), start=1):
        print(f"principal reason {rank}: {text}")


def fund(system, run, lender=None) -> None:
    lender = lender or accounts[DEV_FIRST_FREE_INDEX + 2]
    require_success(system.token.mint(lender, run.principal, {"from": role_account("deployer")}))
    _loans.fund(system.token, system.loan_manager, run, lender)
    print(f"loan {run.loan_id} funded by {lender.address}")


def repay(system, run) -> None:
    """The borrower repays everything owed; the interest is minted to it first (local chains)."""
    deployer = role_account("deployer")
    require_success(system.token.mint(deployer, system.loan_manager.amountOwed(run.loan_id),
                                 {"from": deployer}))
    _loans.repay_in_full(system.token, system.loan_manager, run, deployer)
    print(f"loan {run.loan_id} repaid in full")


def impair(system, run) -> None:
    """The lender impairs the funded loan: it counts as late now (the borrower is delinquent)."""
    require_success(system.loan_manager.impairLoan(run.loan_id, {"from": run.lender}))
    print(f"loan {run.loan_id} impaired")


def unimpair(system, run) -> None:
    require_success(system.loan_manager.removeLoanImpairment(run.loan_id, {"from": run.lender}))
    print(f"loan {run.loan_id}: impairment removed")


def show(system, run) -> None:
    loan = system.loan_manager.getLoan(run.loan_id)
    print(f"loan {run.loan_id}: {_loans.STATES[loan['state']]}, principal "
          f"{loan['principal'] / USD:,.2f}, due {loan['totalDue'] / USD:,.2f}, repaid "
          f"{loan['repaid'] / USD:,.2f}, late fee owed "
          f"{system.loan_manager.lateFeeOwed(run.loan_id) / USD:,.2f}"
          f"{', impaired' if loan['impairedAt'] else ''}, approved on PD {loan['pdBps'] / 100:.2f} % "
          f"(score {loan['score']})")


def _as_record(borrower: Borrower):
    return _onboarding.BorrowerRecord(address=borrower.address, identity="console",
                                      jurisdiction="GB", features=borrower.features,
                                      salt=borrower.salt, account=borrower.account)

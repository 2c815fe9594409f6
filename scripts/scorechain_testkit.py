"""A kit for local chains, shared by the contract tests and the gas benchmarks: EIP-712 typed data
and signing with local eth_account keys, attestation building, compliance rules and the
pure-Python loan arithmetic the ghost models use. It lives in scripts/ because nothing outside
tests/ may import from tests/ (scripts/bench_gas*.py use it too)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import keccak

YEAR_SECONDS = 365 * 24 * 3600
DAY = 24 * 3600
BPS = 10_000

ATTESTATION_FIELDS = [
    {"name": "borrower", "type": "address"},
    {"name": "modelId", "type": "bytes32"},
    {"name": "featuresHash", "type": "bytes32"},
    {"name": "pdBps", "type": "uint16"},
    {"name": "score", "type": "uint16"},
    {"name": "reasonCodes", "type": "uint32"},
    {"name": "issuedAt", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "nonce", "type": "uint256"},
    {"name": "extensionHash", "type": "bytes32"},
]
ENTRY_FIELDS = list(ATTESTATION_FIELDS)
ATTESTATION_FIELDS = ENTRY_FIELDS + [{"name": "configDigest", "type": "bytes32"}]
FIELD_NAMES = [f["name"] for f in ATTESTATION_FIELDS]
ENTRY_NAMES = [f["name"] for f in ENTRY_FIELDS]
NO_EXTENSION = "0x" + "00" * 32

# Local throwaway oracle keys, created fresh for each test session (never funded, never reused).
ORACLE_ACCOUNTS = [Account.create() for _ in range(6)]
# ORACLE_ACCOUNTS[5] is deliberately never registered: "a signature from a non-signer".
REGISTERED_ORACLES = ORACLE_ACCOUNTS[:5]
OUTSIDER = ORACLE_ACCOUNTS[5]

MODEL_ID = "0x" + keccak(b"scorechain-model-v1.onnx").hex()  # stands in for the ONNX SHA-256
MODEL_ID_2 = "0x" + keccak(b"scorechain-model-v2.onnx").hex()
FEATURES_HASH = "0x" + keccak(b"features").hex()

GB = "0x4742"  # bytes2 "GB"
FR = "0x4652"  # bytes2 "FR"
US = "0x5553"  # bytes2 "US"

def enrol(registry, kyc, borrower, commitment, jurisdiction, kyc_expiry):
    """Register a new identity with `borrower` as its first address (KYC provider `kyc`) and have
    the borrower consent to the registry's current terms: the address is then eligible."""
    registry.register(borrower, commitment, jurisdiction, kyc_expiry, {"from": kyc})
    return registry.consent(registry.consentTerms(), {"from": borrower})


def link(registry, kyc, identity, account):
    """Link another address to `identity` (KYC provider `kyc`) and have it consent."""
    registry.linkAddress(identity, account, {"from": kyc})
    return registry.consent(registry.consentTerms(), {"from": account})


DEFAULT_RULES = {
    "maxPdBps": 2_000,
    "maxAprBps": 3_600,
    "maxActiveLoans": 2,
    "minTermSeconds": 7 * DAY,
    "maxTermSeconds": 2 * YEAR_SECONDS,
    "maxScoreAgeSeconds": 7 * DAY,
    "coolOffSeconds": 90 * DAY,
    "requestTtlSeconds": 7 * DAY,
    "fundingWindowSeconds": 14 * DAY,
    # No late fee by default so the lifecycle arithmetic of the older tests is unchanged;
    # tests/contracts/test_servicing.py sets one.
    "lateInterestPremiumBps": 0,
    "publicDefaultDelaySeconds": 7 * DAY,
    "bandMinScores": [300, 600, 750],
    "bandMaxPrincipal": [1_000 * 10**6, 10_000 * 10**6, 50_000 * 10**6],
}


def fuzz_profile() -> str:
    """SCORECHAIN_FUZZ_PROFILE: "ci" (default, light) or "full" (>= 10,000 stateful steps)."""
    return os.environ.get("SCORECHAIN_FUZZ_PROFILE", "ci").lower()


def rules_tuple(rules: dict) -> tuple:
    from scripts.scorechain_deploy import rule_set_tuple  # needs the loaded brownie project

    return rule_set_tuple(rules)


_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _domain(chain_id: int, verifying_contract: str) -> dict:
    return {"name": "Scorechain", "version": "2", "chainId": chain_id, "verifyingContract": verifying_contract}


def typed_data(att: dict, chain_id: int, verifying_contract: str) -> dict:
    """The full EIP-712 message a standard wallet (eth_signTypedData_v4) would sign."""
    return {
        "types": {"EIP712Domain": _DOMAIN_FIELDS, "ScoreAttestation": ATTESTATION_FIELDS},
        "primaryType": "ScoreAttestation",
        "domain": _domain(chain_id, verifying_contract),
        "message": dict(att),
    }


def typed_report(config_digest, entries: list[dict], chain_id: int, verifying_contract: str) -> dict:
    """A ScoreReport (k signatures for many scores) as a wallet would sign it."""
    return {
        "types": {
            "EIP712Domain": _DOMAIN_FIELDS,
            "ScoreReport": [{"name": "configDigest", "type": "bytes32"}, {"name": "entries", "type": "ScoreEntry[]"}],
            "ScoreEntry": ENTRY_FIELDS,
        },
        "primaryType": "ScoreReport",
        "domain": _domain(chain_id, verifying_contract),
        "message": {"configDigest": config_digest, "entries": [{n: e[n] for n in ENTRY_NAMES} for e in entries]},
    }


def sign_report(config_digest, entries: list[dict], signers, chain_id: int, verifying_contract: str) -> list[bytes]:
    signable = encode_typed_data(full_message=typed_report(config_digest, entries, chain_id, verifying_contract))
    return [bytes(Account.sign_message(signable, s.key).signature) for s in signers]


def entry_tuple(att: dict) -> tuple:
    return tuple(att[name] for name in ENTRY_NAMES)


def digest(att: dict, chain_id: int, verifying_contract: str) -> bytes:
    return _hash_eip191_message(encode_typed_data(full_message=typed_data(att, chain_id, verifying_contract)))


def sign(att: dict, signers, chain_id: int, verifying_contract: str) -> list[bytes]:
    signable = encode_typed_data(full_message=typed_data(att, chain_id, verifying_contract))
    return [bytes(Account.sign_message(signable, s.key).signature) for s in signers]


def sign_features(att: dict, signers, chain_id: int, verifying_contract: str) -> list[bytes]:
    """Signatures over a FeaturesAttestation (a proven score's signed half)."""
    from oracle.typed_data import typed_data_features

    signable = encode_typed_data(full_message=typed_data_features(att, chain_id, verifying_contract))
    return [bytes(Account.sign_message(signable, s.key).signature) for s in signers]


def features_tuple(att: dict) -> tuple:
    from oracle.typed_data import FEATURES_FIELDS

    return tuple(att[name] for name, _ in FEATURES_FIELDS)


def as_tuple(att: dict) -> tuple:
    return tuple(att[name] for name in FIELD_NAMES)


def recorded(event) -> dict:
    """A ScoreRecorded event's fields with its `record` word unpacked (pdBps, score, reasonCodes,
    issuedAt, validUntil, nonce, modelIndex), by the oracle's codec."""
    from oracle.chain.codec import unpack_record

    return {**dict(event), **unpack_record(event["record"])}


def pack_reason_codes(c0=0, c1=0, c2=0, c3=0) -> int:
    return (c0 << 24) | (c1 << 16) | (c2 << 8) | c3


def total_due(principal: int, apr_bps: int, term_seconds: int) -> int:
    return principal + principal * apr_bps * term_seconds // (BPS * YEAR_SECONDS)


def due_dates(funded_at: int, term_seconds: int, installments: int) -> list[int]:
    return [funded_at + term_seconds * i // installments for i in range(1, installments + 1)]


def minimum_repaid(now: int, funded_at: int, term: int, n: int, grace: int, due: int) -> int:
    """Independent loop version of LoanManager's default test (installment late iff now > due + grace)."""
    late = sum(1 for d in due_dates(funded_at, term, n) if now > d + grace)
    return due * late // n


def principal_share(paid: int, principal: int, due: int) -> int:
    return paid * principal // due


@dataclass
class Oracle:
    """Builds and signs attestations for one CreditScoreRegistry deployment."""

    registry: object
    chain_id: int
    model_id: str = MODEL_ID
    keys: list = field(default_factory=lambda: list(REGISTERED_ORACLES))
    # An account holding SCORE_REQUESTER_ROLE, to open a score request the way a loan request does
    # (tests of the score registry alone); None where only real loan requests open them.
    requester: object = None

    def open_request(self, borrower):
        """Open a score request for `borrower` (advanceNonce), as LoanManager.request does."""
        if self.requester is None:
            raise ValueError("this Oracle has no requester account: request a loan instead")
        return self.registry.advanceNonce(borrower, {"from": self.requester})

    def attestation(self, borrower, *, pd_bps=500, score=700, issued_at, valid_for=3600, nonce=None,
                    model_id=None, reason_codes=0, features_hash=FEATURES_HASH, config_digest=None,
                    extension_hash=NO_EXTENSION) -> dict:
        """An attestation under the registry's current config digest (read now unless given)."""
        borrower = str(borrower)
        return {
            "borrower": borrower,
            "modelId": model_id or self.model_id,
            "featuresHash": features_hash,
            "pdBps": pd_bps,
            "score": score,
            "reasonCodes": reason_codes,
            "issuedAt": issued_at,
            "validUntil": issued_at + valid_for,
            "nonce": self.registry.nonces(borrower) if nonce is None else nonce,
            "extensionHash": extension_hash,
            "configDigest": config_digest or "0x" + bytes(self.registry.configDigest()).hex(),
        }

    def sign(self, att: dict, signers=None, *, chain_id=None, contract=None) -> list[bytes]:
        k = self.registry.threshold()
        return sign(att, signers if signers is not None else self.keys[:k], chain_id or self.chain_id,
                    contract or self.registry.address)

    def submit(self, att: dict, sender, signers=None):
        return self.registry.submit(as_tuple(att), self.sign(att, signers), {"from": sender})

    def submit_report(self, entries: list[dict], sender, signers=None, *, config_digest=None):
        """Sign `entries` as one ScoreReport (under the current config digest unless given) and
        submit it; entries are attestation dicts (their own configDigest is not used)."""
        digest = config_digest or "0x" + bytes(self.registry.configDigest()).hex()
        k = self.registry.threshold()
        sigs = sign_report(digest, entries, signers if signers is not None else self.keys[:k], self.chain_id,
                           self.registry.address)
        return self.registry.submitReport(digest, [entry_tuple(e) for e in entries], sigs, {"from": sender})

    def fresh_score(self, borrower, sender, *, pd_bps=500, score=700, valid_for=30 * DAY, model_id=None):
        """Submit a score issued at the latest block time (advancing time if needed so it is newer),
        opening a score request first if none is open."""
        from brownie import chain

        if not self.registry.scoreRequested(borrower):
            self.open_request(borrower)
        t = chain[-1].timestamp
        last = self.registry.latestScore(borrower)["issuedAt"]
        if last >= t:
            chain.sleep(last - t + 1)
            chain.mine()
            t = chain[-1].timestamp
        att = self.attestation(borrower, pd_bps=pd_bps, score=score, issued_at=t, valid_for=valid_for,
                               model_id=model_id)
        return self.submit(att, sender)


def err(name: str, *args) -> str:
    """A custom error as brownie renders it: "Name: a, b" (addresses lower-case, bytesN as b'..')."""

    def fmt(a):
        if hasattr(a, "address"):
            return a.address.lower()
        if isinstance(a, (bytes, bytearray)):
            return str(bytes(a))
        if isinstance(a, str) and a.startswith("0x"):
            if len(a) == 42:
                return a.lower()
            return str(bytes.fromhex(a[2:]))
        return str(a)

    return f"{name}: " + ", ".join(fmt(a) for a in args)


def role_err(account, role) -> str:
    return err("AccessControlUnauthorizedAccount", account, bytes(role))


def audit_case(model, row: dict, *, borrower: str | None = None, k: int = 2, n_signers: int = 3,
               batch_size: int = 64, block_timestamp: int = 1_700_000_000, seed: int = 0,
               report_with: int = 0, documents: bool = False):
    """A recorded score as `oracle verify --disclosure` sees it, built locally with no chain: a
    (Disclosure, Evidence) pair that passes every check of oracle.audit — signed by `k` of
    `n_signers` local keys, recorded, its model registered and approved, its features in an
    anchored batch of `batch_size` records. With `report_with=n`, it was posted as a ScoreReport
    of n+1 entries (one signature set over the report). Tests alter one part to see one check
    fail; the verify benchmark times the checks on it. With `documents=True` the model and the
    batch are registered under ``ipfs://<cid>`` URIs (the bundle directory's, the batch public
    document's) and a fourth item is returned: audit's `bundle_cid` and `batch_document` kwargs;
    otherwise the URIs are of the kind recorded before content ids."""
    import random
    from types import SimpleNamespace

    from models.schema import validate_row
    from oracle import commitment, keys, typed_data
    from oracle.disclosure import AnchorProof, Disclosure
    from oracle.evidence import Evidence
    from oracle.merkle import MerkleTree, leaf
    from oracle.provenance import metrics_hash

    rnd = random.Random(seed)
    borrower = borrower or Account.from_key(rnd.randbytes(32)).address
    registry, chain_id = "0x" + "ce" * 20, 31337
    salt = rnd.randbytes(32)
    vector = validate_row(model.schema, row)
    fh = commitment.features_hash(model.schema_hash, salt, vector)
    p = model.predict(vector)
    signers = [keys.Signer(rnd.randbytes(32)) for _ in range(n_signers)]
    config_digest = k.to_bytes(2, "big") + rnd.randbytes(30)
    att = typed_data.ScoreAttestation(
        borrower=borrower, modelId=model.model_id, featuresHash=fh, pdBps=p.pd_bps,
        score=p.score, reasonCodes=p.reason_codes_packed, issuedAt=block_timestamp - 10,
        validUntil=block_timestamp - 10 + 86_400, nonce=1, extensionHash=b"\0" * 32,
        configDigest=config_digest)
    separator = typed_data.domain_separator(chain_id, registry)
    entries = None
    if report_with:
        from dataclasses import replace

        entries = [att] + [replace(att, borrower=Account.from_key(rnd.randbytes(32)).address)
                           for _ in range(report_with)]
        digest = typed_data.report_digest(config_digest, entries, separator)
    else:
        digest = typed_data.digest(att, separator)
    sigs = [s.sign_digest(digest) for s in signers[:k]]
    recorded = SimpleNamespace(args=SimpleNamespace(
        borrower=borrower, nonce=1, **{f: getattr(att, f) for f in (
            "modelId", "featuresHash", "pdBps", "score", "reasonCodes", "issuedAt",
            "validUntil", "extensionHash")}))
    card_path = model.path / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {"evaluation": {}}
    model_record = (metrics_hash(card), b"\0" * 32, bytes.fromhex(model.schema_hash),
                    "0x" + "11" * 20, block_timestamp - 1000, 2, 0, 1, "0x" + "22" * 20,
                    block_timestamp - 900, 1, "scorechain://test")
    others = [(Account.from_key(rnd.randbytes(32)).address, rnd.randbytes(32))
              for _ in range(batch_size - 1)]
    tree = MerkleTree.build([leaf(borrower, fh)] + [leaf(a, h) for a, h in others])
    provider = "0x" + "33" * 20
    disclosure = Disclosure(borrower, bytes.fromhex(model.schema_hash), salt, dict(row),
                            "0x" + "ab" * 32, AnchorProof(tree.root, tuple(tree.proof(0)), 1,
                                                          "0x" + "44" * 20))
    evidence = Evidence(
        chain_id=chain_id, registry=typed_data.checksum(registry), tx_hash="0x" + "ab" * 32,
        tx_to=typed_data.checksum(registry), tx_status=1, block_number=100,
        block_timestamp=block_timestamp, function="submitReport" if entries else "submitBatch",
        attestation=att, signatures=sigs, report_entries=entries, contract_digest=digest,
        recorded=recorded,
        latest_nonce=1, config=([s.address for s in signers], k), model_record=model_record,
        model_approved_now=True, anchor_batch=(1, tree.root, provider),
        anchor_verified_on_chain=True)
    if not documents:
        return disclosure, evidence, card
    from dataclasses import replace as _replace

    from oracle import batch_doc, content_id

    bundle_cid = content_id.path_cid(model.path)
    document = batch_doc.build(tree)
    evidence = _replace(evidence, model_record=model_record[:-1] + (content_id.uri(bundle_cid),),
                        anchor_uri=content_id.uri(content_id.bytes_cid(document)))
    return disclosure, evidence, card, {"bundle_cid": bundle_cid, "batch_document": document}


def rounding_boundary_rows(model, X, feature: str, scale: int, n: int = 3, steps: int = 25) -> list:
    """Up to `n` rows near `X`'s whose float PD and zk circuit PD (oracle.scoring.Model, at fixed
    point 2^scale) round to different basis points: `feature` moved a unit at a time, `steps`
    times per row. What a test of "the circuit's PD is the canonical one" needs to be able to fail."""
    import numpy as np

    j = [f["name"] for f in model.schema["features"]].index(feature)
    rows = np.repeat(np.asarray(X, dtype=np.float32), steps, axis=0)
    rows[:, j] += np.tile(np.arange(steps, dtype=np.float32), len(X))
    return [x for x in rows
            if model.predict(x).pd_bps != model.predict(x, circuit_scale=scale).pd_bps][:n]


def provable_bundle(base, circuit: bool = True):
    """A gated, zk-provable bundle for tests: a federated logistic model of the German data (two
    rounds) exported to `base`/bundle, and with `circuit` its circuit in `base`/circuit. Returns
    (data set, splits, circuit info or None)."""
    from models import zk
    from models.data import load_dataset, make_splits
    from models.federated.run import run_federation

    ds = load_dataset("german")
    sp = make_splits(ds.y, ds.X)
    run = run_federation(ds, sp, rounds=2, export=base / "bundle")
    if "gate_failure" in run["after"]:
        raise AssertionError(f"the federated bundle failed its gates: {run['after']['gate_failure']}")
    info = zk.setup(base / "bundle", base / "circuit", ds.X[sp.train_idx]) if circuit else None
    return ds, sp, info

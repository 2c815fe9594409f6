"""Gas benchmark for the Scorechain contracts (a measurement, not a timed test).

Run:  brownie run scripts/bench_gas.py --network anvil-a
      (any local network works; it deploys fresh contracts and uses accounts[0..9])

Writes reports/gas.json and reports/gas.md: gas used (receipt gasUsed, i.e. after refunds,
including the 21,000 intrinsic cost and calldata) for every external state-changing function,
the deployed code size of every contract against the 24,576-byte limit, and the headline keys
with the targets of issue 11:

  attest_single             submit, k=1, one signature, update          target <= 45,000
  attest_quorum_3of5        submit, 3 signatures of a 3-of-5 set, update target <= 55,000
  attest_first_3of5         the same, a borrower's first score           target <= 75,000
  attest_marginal_signer    one more signature (4-of-5 minus 3-of-5)     target <=  5,000
  loan_full_lifecycle       request + approve + fund + repay in full + lender claims
                                                                         target <= 430,000
  report_batch_per_score_3of5  submitReport of 100 updates, 3-of-5, per score
                                                                         target <= 10,000

Attestation keys are measured twice: "first" (the borrower has no score yet, so the record and
the nonce slots go from zero to non-zero) and "update" (the borrower already has a score and has
made a new loan request, the steady state for the oracle daemon; the request's own transaction, which
opens the score request, is not counted). The headline value of each attestation key is the update
figure; the first-score figure is reported next to it. The loan lifecycle is measured for a
borrower's first loan in a market that already has loans (steady state for the contract), for
the very first loan of a fresh deployment, and for a returning borrower's loan funded by a repeat
lender (loan_full_lifecycle_returning). Every one of them starts and ends with no tokens held by
the manager, so the repayment always pays for the manager's token balance slot.
"""

from __future__ import annotations

import json
from pathlib import Path

from brownie import accounts, chain, web3
from eth_utils import keccak

from scripts.scorechain_testkit import (
    DEFAULT_RULES,
    GB,
    MODEL_ID,
    MODEL_ID_2,
    Account,
    Oracle,
    as_tuple,
    rules_tuple,
    total_due,
)
from scripts.scorechain_deploy import deploy_system

ROOT = Path(__file__).resolve().parents[1]

TARGETS = {
    "attest_single": 45_000,
    "attest_quorum_3of5": 55_000,
    "attest_first_3of5": 75_000,
    "attest_marginal_signer": 5_000,
    "loan_full_lifecycle": 430_000,
    "report_batch_per_score_3of5": 10_000,
}
CODE_SIZE_LIMIT = 24_576  # EIP-170
CONTRACTS = ("BorrowerRegistry", "ModelRegistry", "CreditScoreRegistry", "ComplianceRules", "LoanManager",
             "DataAnchor")
def _now():
    return chain[-1].timestamp


def code_sizes() -> dict[str, int]:
    """Deployed (runtime) bytecode size of each contract, from brownie's build artefacts."""
    sizes = {}
    for name in CONTRACTS:
        build = json.loads((ROOT / "build" / "contracts" / f"{name}.json").read_text())
        sizes[name] = len(bytes.fromhex(build["deployedBytecode"].removeprefix("0x")))
    return sizes


class FixedAccounts:
    """Fixed keys and addresses (zero bytes in calldata and addresses move the figures by a few
    hundred gas, so a run with fresh random ones would not repeat)."""

    def __init__(self) -> None:
        self._counter = iter(range(10**6))

    def __call__(self, label: str):
        return Account.from_key(keccak(text=f"scorechain-gas-bench/{label}/{next(self._counter)}"))


def deploy(fixed_account, admin, approver, k: int, n: int):
    """A fresh system with a k-of-n oracle set of fixed keys and one approved model; returns
    (system, Oracle)."""
    keys = [fixed_account(f"oracle-{k}-of-{n}") for _ in range(n)]
    system = deploy_system(admin, oracle_signers=[a.address for a in keys], threshold=k,
                           roles={"model_approver": approver})
    # The benchmark opens score requests itself (advanceNonce, as a loan request does) to time
    # the registry alone; LoanManager holds this role in a deployment.
    reg = system.score_registry
    reg.grantRole(reg.SCORE_REQUESTER_ROLE(), admin, {"from": admin})
    system.model_registry.register(MODEL_ID, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32,
                                   "ipfs://model", 1, {"from": admin})
    system.model_registry.approve(MODEL_ID, {"from": approver})
    return system, Oracle(registry=reg, chain_id=chain.id, keys=keys, requester=admin)


def open_market(system, admin):
    """Sets the default rules and allows GB; returns the two transactions' gas."""
    comp = system.compliance
    gas_rules = comp.setRuleSet(rules_tuple(DEFAULT_RULES), {"from": admin}).gas_used
    gas_j = comp.setJurisdictionAllowed(GB, True, {"from": admin}).gas_used
    return gas_rules, gas_j


def lifecycle(system, oracle, admin, borrower, lender) -> dict:
    """request, approve, fund, repay in full and claim of one loan; returns each step's receipt."""
    lm, token = system.loan_manager, system.token
    br = system.borrower_registry
    if not br.getBorrower(borrower)["status"]:
        br.register(borrower, "0x" + "ab" * 31 + f"{int(str(borrower), 16) % 256:02x}", GB, _now() + 365 * 86400,
                    {"from": admin})
        br.consent(br.consentTerms(), {"from": borrower})
    for who in (lender, borrower):
        token.mint(who, 10**12, {"from": admin})
        token.approve(lm, 2**256 - 1, {"from": who})
    principal, apr, term = 5_000 * 10**6, 1_200, 90 * 86400
    r = lm.request(principal, apr, term, 3, {"from": borrower})
    loan_id = r.return_value
    oracle.fresh_score(borrower, accounts[9])  # only a score signed after the request decides
    return {"request": r, "approve": lm.approve(loan_id, {"from": borrower}),
            "fund": lm.fund(loan_id, {"from": lender}),
            "repay_full": lm.repay(loan_id, total_due(principal, apr, term), {"from": borrower}),
            "claim": lm.claim(lender, {"from": lender})}


def main():
    gas: dict[str, int] = {}
    admin, approver = accounts[0], accounts[1]
    fixed_account = FixedAccounts()

    def fresh_borrower():
        return web3.to_checksum_address(fixed_account("borrower").address)

    def attest_pair(oracle, label):
        """first score and update (each for its own loan request) of one new borrower; returns
        (first, update)."""
        b = fresh_borrower()
        t = _now()
        oracle.open_request(b)
        first = oracle.submit(oracle.attestation(b, issued_at=t - 10), sender=accounts[9]).gas_used
        oracle.open_request(b)
        update = oracle.submit(oracle.attestation(b, issued_at=t - 5), sender=accounts[9]).gas_used
        return first, update

    # ---------------------------------------------------------------- attestations
    sys1, or1 = deploy(fixed_account, admin, approver, 1, 1)
    first, update = attest_pair(or1, "k1")
    attest_pair(or1, "warmup")  # not recorded; shows the figures do not depend on order
    gas["attest_single"] = update
    gas["attest_single_first_score"] = first
    gas["attest_single_update"] = update

    sys3, or3 = deploy(fixed_account, admin, approver, 3, 5)
    first, update = attest_pair(or3, "3of5")
    gas["attest_quorum_3of5"] = update
    gas["attest_quorum_3of5_first_score"] = first
    gas["attest_quorum_3of5_update"] = update
    gas["attest_first_3of5"] = first
    _, update4 = attest_pair(deploy(fixed_account, admin, approver, 4, 5)[1], "4of5")
    gas["attest_quorum_4of5_update"] = update4
    gas["attest_marginal_signer"] = update4 - update

    def batch(oracle, first_time):
        who = [fresh_borrower() for _ in range(20)]
        t = _now()
        for b in who:
            oracle.open_request(b)
        if not first_time:
            atts = [oracle.attestation(b, issued_at=t - 20) for b in who]
            oracle.registry.submitBatch([as_tuple(a) for a in atts], [oracle.sign(a) for a in atts],
                                        {"from": accounts[9]})
            for b in who:
                oracle.open_request(b)
        atts = [oracle.attestation(b, issued_at=t - 10) for b in who]
        tx = oracle.registry.submitBatch([as_tuple(a) for a in atts], [oracle.sign(a) for a in atts],
                                         {"from": accounts[9]})
        assert tx.return_value == 20, "batch entries were skipped"
        return tx.gas_used

    total_first, total_update = batch(or1, True), batch(or1, False)
    gas["attest_batched_per_score"] = total_update // 20
    gas["attest_batched_per_score_first_score"] = total_first // 20
    gas["attest_batched_per_score_update"] = total_update // 20
    gas["submitBatch_20_k1_update_total"] = total_update
    gas["submitBatch_20_k1_first_score_total"] = total_first
    q_first, q_update = batch(or3, True), batch(or3, False)
    gas["attest_batched_per_score_3of5_update"] = q_update // 20
    gas["attest_batched_per_score_3of5_first_score"] = q_first // 20

    def report(oracle, n):
        """submitReport of n borrowers' updates (each already has a score); returns gas used."""
        who = [fresh_borrower() for _ in range(n)]
        t = _now()
        for b in who:
            oracle.open_request(b)
        oracle.submit_report([oracle.attestation(b, issued_at=t - 20) for b in who], accounts[9])
        for b in who:
            oracle.open_request(b)
        tx = oracle.submit_report([oracle.attestation(b, issued_at=t - 10) for b in who], accounts[9])
        assert tx.return_value == n, "report entries were skipped"
        return tx.gas_used

    report_update = report(or3, 100)
    gas["report_batch_per_score_3of5"] = report_update // 100
    gas["submitReport_100_3of5_update_total"] = report_update

    # skipped entry cost inside a batch (stale entry next to good ones)
    b = fresh_borrower()
    t = _now()
    or1.open_request(b)
    or1.submit(or1.attestation(b, issued_at=t - 5), sender=accounts[9])
    or1.open_request(b)
    stale = or1.attestation(b, issued_at=t - 6)
    tx = or1.registry.submitBatch([as_tuple(stale)], [or1.sign(stale)], {"from": accounts[9]})
    assert "ScoreSkipped" in tx.events
    gas["submitBatch_1_skipped_entry_total"] = tx.gas_used

    # ---------------------------------------------------------------- signer admin (3-of-5 system)
    reg = deploy(fixed_account, admin, approver, 3, 5)[0].score_registry
    extra = fixed_account("extra-signer").address
    gas["CreditScoreRegistry.addSigner"] = reg.addSigner(extra, {"from": admin}).gas_used
    gas["CreditScoreRegistry.rotateSigner"] = reg.rotateSigner(extra, fixed_account("rotated-signer").address,
                                                               {"from": admin}).gas_used
    gas["CreditScoreRegistry.setThreshold"] = reg.setThreshold(4, {"from": admin}).gas_used
    gas["CreditScoreRegistry.removeSigner"] = reg.removeSigner(reg.signers()[0], {"from": admin}).gas_used

    # ---------------------------------------------------------------- market: lifecycle (3-of-5 scores)
    gas["ComplianceRules.setRuleSet"], gas["ComplianceRules.setJurisdictionAllowed"] = open_market(sys3, admin)

    def steps_gas(borrower, lender):
        return {k: tx.gas_used for k, tx in lifecycle(sys3, or3, admin, borrower, lender).items()}

    very_first = steps_gas(accounts[5], accounts[7])
    lc = steps_gas(accounts[6], accounts[8])  # market already has a loan
    returning = steps_gas(accounts[5], accounts[7])  # a borrower's and a lender's second loan
    gas["loan_full_lifecycle"] = sum(lc.values())
    gas["loan_full_lifecycle_first_loan_of_deployment"] = sum(very_first.values())
    for k, v in lc.items():
        gas[f"loan_full_lifecycle.{k}"] = v
    for k, v in very_first.items():
        gas[f"loan_full_lifecycle_first_loan_of_deployment.{k}"] = v
    gas["loan_full_lifecycle_returning"] = sum(returning.values())
    for k, v in returning.items():
        gas[f"loan_full_lifecycle_returning.{k}"] = v

    # ---------------------------------------------------------------- every other external function
    lm, br, mr, da = sys3.loan_manager, sys3.borrower_registry, sys3.model_registry, sys3.data_anchor
    b = accounts[5]
    gas["BorrowerRegistry.register"] = br.register(accounts[2], "0x" + "cd" * 32, GB, _now() + 10**7,
                                                   {"from": admin}).gas_used
    gas["BorrowerRegistry.consent"] = br.consent(br.consentTerms(), {"from": accounts[2]}).gas_used
    gas["BorrowerRegistry.linkAddress"] = br.linkAddress("0x" + "cd" * 32, accounts[3], {"from": admin}).gas_used
    gas["BorrowerRegistry.unlinkAddress"] = br.unlinkAddress(accounts[3], {"from": admin}).gas_used
    gas["BorrowerRegistry.update"] = br.update("0x" + "cd" * 32, GB, _now() + 10**7, {"from": admin}).gas_used
    gas["BorrowerRegistry.suspend"] = br.suspend(accounts[2], 1, {"from": admin}).gas_used
    gas["BorrowerRegistry.ban"] = br.ban(accounts[2], 2, {"from": admin}).gas_used
    gas["BorrowerRegistry.reinstate"] = br.reinstate(accounts[2], {"from": admin}).gas_used
    gas["ModelRegistry.register"] = mr.register(MODEL_ID_2, "0x" + "11" * 32, "0x" + "22" * 32, "0x" + "33" * 32,
                                                "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
                                                2, {"from": admin}).gas_used
    gas["ModelRegistry.approve"] = mr.approve(MODEL_ID_2, {"from": approver}).gas_used
    gas["ModelRegistry.revoke"] = mr.revoke(MODEL_ID_2, 4, {"from": approver}).gas_used
    gas["DataAnchor.anchor"] = da.anchor("0x" + "77" * 32, "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqab",
                                         1000, {"from": admin}).gas_used

    lender = accounts[7]
    oracle = or3
    lid = lm.request(5_000 * 10**6, 1_200, 90 * 86400, 3, {"from": b}).return_value
    gas["LoanManager.cancel(requested)"] = lm.cancel(lid, {"from": b}).gas_used
    lid = lm.request(5_000 * 10**6, 9_999, 90 * 86400, 3, {"from": b}).return_value
    gas["LoanManager.approve(rejected)"] = lm.approve(lid, {"from": b}).gas_used
    lid = lm.request(5_000 * 10**6, 1_200, 90 * 86400, 3, {"from": b}).return_value
    oracle.fresh_score(b, accounts[9])
    lm.approve(lid, {"from": b})
    lm.fund(lid, {"from": lender})
    due = total_due(5_000 * 10**6, 1_200, 90 * 86400)
    gas["LoanManager.repay(partial)"] = lm.repay(lid, due // 3, {"from": b}).gas_used
    chain.sleep(90 * 86400 + lm.gracePeriodSeconds() + 1)
    chain.mine()
    gas["LoanManager.markDefault"] = lm.markDefault(lid, {"from": accounts[9]}).gas_used
    gas["LoanManager.recover(defaulted)"] = lm.recover(lid, 10**6, {"from": b}).gas_used
    gas["LoanManager.writeOff"] = lm.writeOff(lid, {"from": lender}).gas_used
    gas["LoanManager.recover(written_off)"] = lm.recover(lid, 10**6, {"from": b}).gas_used
    gas["LoanManager.pause"] = lm.pause({"from": admin}).gas_used
    gas["LoanManager.unpause"] = lm.unpause({"from": admin}).gas_used

    # ---------------------------------------------------------------- reports
    def compiler_settings() -> str:
        from brownie._config import CONFIG

        solc = CONFIG.settings["compiler"]["solc"]
        runs = solc["optimizer"]["runs"] if solc["optimizer"]["enabled"] else "off"
        return (f"solc {solc['version']}, optimizer {runs} runs, "
                f"evm {CONFIG.settings['compiler']['evm_version']}")

    out = {
        "network": web3.provider.endpoint_uri if hasattr(web3.provider, "endpoint_uri") else str(web3.provider),
        "chain_id": chain.id,
        "compiler": compiler_settings(),
        "targets": TARGETS,
        "within_target": {k: gas[k] <= v for k, v in TARGETS.items()},
        "gas": gas,
        "code_size_bytes": code_sizes(),
        "code_size_limit": CODE_SIZE_LIMIT,
        "notes": {
            "attest_single": "update of an existing score (k=1); first score shown as attest_single_first_score",
            "attest_quorum_3of5": "update, 3 signatures of a 3-of-5 set",
            "attest_first_3of5": "3 signatures of a 3-of-5 set, the borrower's first score",
            "attest_marginal_signer": "4-of-5 update minus 3-of-5 update",
            "loan_full_lifecycle": "request+approve+fund+repay in full+claim, borrower's first loan in a market "
                                   "that already had one loan; the fresh-deployment first loan is shown separately",
            "report_batch_per_score_3of5": "submitReport of 100 score updates signed once by 3 of a 3-of-5 set, "
                                           "total / 100",
        },
    }
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "gas.json").write_text(json.dumps(out, indent=2, sort_keys=False) + "\n")
    lines = ["# Scorechain gas report", "",
             f"Measured with `brownie run scripts/bench_gas.py` on chain id {chain.id} "
             f"({compiler_settings()}). Receipt gasUsed (after refunds, "
             "including the 21,000 base cost and calldata).", "",
             "## Headline figures", "", "| key | measured | target | ok | what |", "|---|---:|---:|:-:|---|"]
    for k, target in TARGETS.items():
        lines.append(f"| `{k}` | {gas[k]:,} | {target:,} | {'yes' if gas[k] <= target else 'NO'} | "
                     f"{out['notes'][k]} |")
    lines += ["", "## Code size", "", f"| contract | deployed bytes | limit {CODE_SIZE_LIMIT:,} |",
              "|---|---:|:-:|"]
    lines += [f"| {name} | {size:,} | {'ok' if size <= CODE_SIZE_LIMIT else 'OVER'} |"
              for name, size in out["code_size_bytes"].items()]
    lines += ["", "## Where a target is missed", "",
              "Measured on the contracts of issue 11 with every new check in place: a request advances "
              "the borrower's attestation nonce, attestations carry the signer-set config digest and an "
              "extension hash, limits are kept per identity (one `identityOf` call per book access), "
              "pull payments, impairment and late-fee bookkeeping, delinquency and funding re-checks. "
              "A score is recordable only for an open loan request, so a borrower's first score is no "
              "longer a zero-to-non-zero write: the request's `advanceNonce` writes the record slot "
              "first (counted in `LoanManager.request`, not here), which is why attest_first_3of5 and "
              "the update figures are now close. Done for gas: one record slot per borrower (the model "
              "as its 16-bit registry index, both nonces folded in, no OpenZeppelin `Nonces` slot), "
              "the threshold read from the config digest's top bytes, the signer list of each "
              "configuration read from code (Solady SSTORE2 at a CREATE3 address salted by the digest: "
              "one EXTCODECOPY instead of one cold SLOAD per signer; 3-of-5 update 72,630 -> 67,775, "
              "marginal signer 7,707 -> under 6,000), ScoreRecorded carrying the record slot as one word "
              "instead of its six small fields as six words (2,450 less per recorded score: 3-of-5 "
              "update 67,775 -> 65,326, a report's score 18,305 -> 15,896), and fixed keys and "
              "addresses in this benchmark (the block times in calldata move a figure by a few gas). "
              "What the remaining gap is made of (3-of-5 update): 21,000 intrinsic, ~7,700 calldata "
              "(a 900-byte call), 9,000 for three ecrecovers, ~5,800 for the ModelRegistry call (cold "
              "account and slot), ~5,000 for the record slot, ~2,300 for the event (three topics, three words), 2,100 for the "
              "config digest, 2,600 for the signer code. Tried and measured, not built: recording "
              "without the ModelRegistry call (the model's index taken on trust, a patch of these "
              "contracts run through this benchmark): 5,802 less for one signer, 5,789 for 3-of-5, "
              "1,326 per report score. Taking it needs the index inside the signed ScoreEntry (a new "
              "EIP-712 type for the signers, the oracle, the console and the fixtures, and about 150 "
              "gas of calldata back), and a score of an unapproved or revoked model would then be "
              "recorded and close the borrower's request, where today it is refused (approval would "
              "still refuse the loan). If the savings add, the two changes together give about "
              "47,900 (one signer) and 59,700 (3-of-5): the 45,000 and 55,000 targets stay out of "
              "reach, so the check stays. Not built: the approval status mirrored into the score "
              "registry (one SLOAD instead of the call, ~3,000, at the cost of a hook from one "
              "registry into the other), signatures as one packed bytes argument instead of bytes[] "
              "(~400 per signature, a new ABI for every caller).", "",
              "Loan lifecycle (where each step's gas goes, by contract: `python scripts/gas_breakdown.py`, "
              "which traces every step and writes reports/gas_breakdown.json): 684,401 before this "
              "change, now loan_full_lifecycle for a new borrower and loan_full_lifecycle_returning "
              "for a returning borrower funded by a repeat lender. Done for gas: a loan is stored in "
              "slots by when its fields are first written (the request two, the decision one, funding "
              "one; impairment, recovery and late fees two more only when used; the deciding model as "
              "its 16-bit registry index); a person's funded loans are threaded through the loans, "
              "head in the person's book, instead of an array (two fresh slots per funding); the loan "
              "count and both totals share one slot that stays non-zero; the rule set is two slots "
              "and fixed band arrays (check() reads four slots of its own, was nine); the lender's "
              "identity is one slot (`linkedIdentity`); a lender's claimable balance and a person's "
              "book never return to zero, so a repeat lender and a returning borrower pay no fresh "
              "slot for them (a first-timer loses refunds instead: measured once, about 4,500 gas at the claim and "
              "5,000 at the last repayment). What is left for a new borrower (558,455, traced): 105,000 "
              "intrinsic for five transactions; 8 fresh slots, 176,800 (the loan's two request slots "
              "and the borrower's score record at request, the person's book and the decision slot at "
              "approval, the funding slot, the lender's claimable balance and the manager's token "
              "balance at repayment: the benchmark's market holds no tokens between loans); 68 cold "
              "SLOADs, 142,800 (14 of them the token's balances, allowance and blacklist flags); "
              "about 134,000 for calls, events, warm accesses and arithmetic. Reaching 430,000 would "
              "take 4 more fresh slots or some 60 cold reads out, and each fresh slot left holds "
              "state a feature needs (the loan's terms, its decision, its lender and repayments, a "
              "lender's pull balance), so the target stays missed.", ""]
    lines += ["", "## All measurements", "", "| key | gas |", "|---|---:|"]
    lines += [f"| `{k}` | {v:,} |" for k, v in gas.items()]
    (reports / "gas.md").write_text("\n".join(lines) + "\n")
    for k, v in gas.items():
        print(f"{k:55} {v:>10,}")

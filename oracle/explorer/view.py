"""What the explorer shows, read from public chain data only (contract views and event logs).

One `ChainView` per deployment, found from the LoanManager's address: its score registry and
compliance rules, the rules' model registry, and (optionally) a DataAnchor. Every method returns
plain dicts, so the HTML pages and the JSON API show the same values. Nothing here holds or asks
for personal data: a score is what `ScoreRecorded` published (PD, score, reason codes, model,
nonce), and reason codes are turned into texts with the published table (models/reason_codes.json)
of the schema the deciding model declares.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3

from models.serving import describe_reason_codes, unpack_reason_codes
from oracle.abi import load_abi
from oracle.adverse_action import rule_reason
from oracle.chain.codec import SCORE_RECORDED_TOPIC, _decode_recorded, _hex

LOAN_STATES = ("None", "Requested", "Approved", "Rejected", "Cancelled", "Funded", "Repaid", "Defaulted",
               "WrittenOff", "Expired")
MODEL_STATUSES = ("None", "Registered", "Approved", "Revoked")


def _published_schemas() -> dict[str, str]:
    """Feature-schema hash (hex) -> the name of the published reason table for it."""
    from models.reasons import PUBLISHED_SCHEMAS
    from models.schema import load_schema, schema_hash

    return {schema_hash(load_schema(name)): name for name in PUBLISHED_SCHEMAS}


class ChainView:
    def __init__(self, w3: Web3, loan_manager: str, *, data_anchor: str | None = None, from_block: int = 0) -> None:
        self.w3 = w3
        self.from_block = from_block

        def contract(name: str, address: str) -> Any:
            return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_abi(name))

        self.loans = contract("LoanManager", loan_manager)
        self.registry = contract("CreditScoreRegistry", self.loans.functions.scoreRegistry().call())
        self.compliance = contract("ComplianceRules", self.loans.functions.complianceRules().call())
        self.models = contract("ModelRegistry", self.compliance.functions.modelRegistry().call())
        self.anchor = contract("DataAnchor", data_anchor) if data_anchor else None
        self._schemas: dict[str, str] | None = None
        # LoanManager events whose first indexed argument is the loan id, by topic: a loan's history
        self._loan_events = {}
        for e in self.loans.abi:
            inputs = e.get("inputs", [])
            if e.get("type") == "event" and inputs and inputs[0]["name"] == "loanId" and inputs[0]["indexed"]:
                sig = f"{e['name']}({','.join(i['type'] for i in inputs)})"
                self._loan_events[bytes(Web3.keccak(text=sig))] = e["name"]

    # --- signer set, models, rules --------------------------------------------------------------
    def signer_set(self) -> dict:
        f = self.registry.functions
        return {"signers": list(f.signers().call()), "threshold": f.threshold().call(),
                "config_digest": _hex(f.configDigest().call())}

    def model_list(self) -> list[dict]:
        f = self.models.functions
        out = []
        for index in range(1, f.modelCount().call() + 1):
            model_id = f.modelIdAt(index).call()
            m = f.getModel(model_id).call()
            out.append({
                "index": index, "model_id": _hex(model_id), "metrics_hash": _hex(m[0]),
                "dataset_root": _hex(m[1]), "feature_schema_hash": _hex(m[2]), "registrar": m[3],
                "registered_at": m[4], "status": MODEL_STATUSES[m[5]], "revoke_reason": m[6],
                "approver": m[8], "approved_at": m[9], "version": m[10], "uri": m[11]})
        return out

    def rules(self) -> dict:
        f = self.compliance.functions
        names = [i["name"] for i in next(e for e in self.compliance.abi if e.get("name") == "ruleSet")
                 ["outputs"][0]["components"]]
        current = dict(zip(names, f.ruleSet().call()))
        history = [{"version": e.args.version, "block": e.blockNumber, "tx": _hex(e.transactionHash),
                    "change": "rule set"}
                   for e in self.compliance.events.ComplianceRuleSetUpdated().get_logs(from_block=self.from_block)]
        history += [{"version": e.args.version, "block": e.blockNumber, "tx": _hex(e.transactionHash),
                     "change": f"jurisdiction {bytes(e.args.jurisdiction).decode(errors='replace')} "
                               f"{'allowed' if e.args.allowed else 'disallowed'}"}
                    for e in self.compliance.events.ComplianceJurisdictionSet().get_logs(from_block=self.from_block)]
        return {"version": f.version().call(), "rules": current,
                "history": sorted(history, key=lambda h: h["version"])}

    def band(self, score: int, rules: dict | None = None) -> int | None:
        """The score band (1 = lowest) under the current rules, or None below the lowest."""
        mins = (rules or self.rules())["rules"]["bandMinScores"]
        bands = [i + 1 for i, m in enumerate(mins) if score >= m]
        return bands[-1] if bands else None

    # --- scores ---------------------------------------------------------------------------------
    def reason_texts(self, feature_schema_hash: str, packed: int) -> list[str]:
        """The texts of a score's reason codes, from the published table of the model's schema
        (codes alone for a schema without one)."""
        if self._schemas is None:
            self._schemas = _published_schemas()
        name = self._schemas.get(feature_schema_hash.lower().removeprefix("0x"))
        if name is None:
            return [f"code {c}" for c in unpack_reason_codes(packed) if c]
        return describe_reason_codes(packed, name)

    def scores(self, borrower: str | None = None) -> list[dict]:
        """Every ScoreRecorded (optionally of one borrower), oldest first."""
        topics: list[Any] = [SCORE_RECORDED_TOPIC]
        if borrower:
            topics.append("0x" + bytes.fromhex(Web3.to_checksum_address(borrower)[2:]).rjust(32, b"\0").hex())
        logs = self.w3.eth.get_logs({"address": self.registry.address, "fromBlock": self.from_block,
                                     "toBlock": "latest", "topics": topics})
        models = {m["model_id"]: m for m in self.model_list()}
        rules = self.rules()
        out = []
        for log in logs:
            e = _decode_recorded(log)
            a = e.args
            model = models.get(_hex(a.modelId), {})
            codes = [c for c in unpack_reason_codes(a.reasonCodes) if c]
            out.append({
                "borrower": a.borrower, "model_id": _hex(a.modelId), "model_status": model.get("status"),
                "pd_bps": a.pdBps, "score": a.score, "band": self.band(a.score, rules),
                "reason_codes": codes,
                "reasons": self.reason_texts(model.get("feature_schema_hash", ""), a.reasonCodes),
                "issued_at": a.issuedAt, "valid_until": a.validUntil, "nonce": a.nonce,
                "features_hash": _hex(a.featuresHash), "block": e.blockNumber,
                "tx": _hex(e.transactionHash)})
        return out

    # --- loans ----------------------------------------------------------------------------------
    def loan_count(self) -> int:
        return self.loans.functions.loanCount().call()

    def loan(self, loan_id: int) -> dict | None:
        names = [c["name"] for c in next(e for e in self.loans.abi if e.get("name") == "getLoan")
                 ["outputs"][0]["components"]]
        raw = dict(zip(names, self.loans.functions.getLoan(loan_id).call()))
        if raw["state"] == 0:
            return None
        raw["modelId"] = _hex(raw["modelId"])
        rule = rule_reason(raw["rejectReason"]) if raw["rejectReason"] else None
        return {"id": loan_id, **raw, "state_name": LOAN_STATES[raw["state"]],
                "reject_reason": rule.name if rule else None, "reject_text": rule.text if rule else None}

    def loan_list(self) -> list[dict]:
        return [x for x in (self.loan(i) for i in range(1, self.loan_count() + 1)) if x is not None]

    def loan_history(self, loan_id: int) -> list[dict]:
        """Every LoanManager event whose first indexed argument is `loanId` = loan_id, in order."""
        logs = self.w3.eth.get_logs({"address": self.loans.address, "fromBlock": self.from_block,
                                     "toBlock": "latest", "topics": [None, "0x" + loan_id.to_bytes(32, "big").hex()]})
        out = []
        for log in logs:
            name = self._loan_events.get(bytes(log["topics"][0]))
            if name is None:
                continue
            args = dict(getattr(self.loans.events, name)().process_log(log).args)
            args.pop("loanId", None)
            out.append({"event": name, "block": log["blockNumber"], "tx": _hex(log["transactionHash"]),
                        "args": {k: _hex(v) if isinstance(v, (bytes, bytearray)) else v for k, v in args.items()}})
        return out

    # --- anchors --------------------------------------------------------------------------------
    def anchors(self) -> list[dict]:
        if self.anchor is None:
            return []
        return [{"batch_id": e.args.batchId, "root": _hex(e.args.root), "provider": e.args.provider,
                 "uri": e.args.uri, "records": e.args.recordCount, "block": e.blockNumber,
                 "tx": _hex(e.transactionHash)}
                for e in self.anchor.events.BatchAnchored().get_logs(from_block=self.from_block)]


# --- charts -----------------------------------------------------------------------------------
PD_BINS_BPS = (0, 200, 500, 1_000, 2_000, 10_001)  # 0-2 %, 2-5 %, 5-10 %, 10-20 %, 20 % and up
# The transaction of each lifecycle step, by the event it emits.
STEP_EVENTS = {"ScoreRequested": "request", "LoanApproved": "approve", "LoanRejected": "approve (rejected)",
               "LoanFunded": "fund", "LoanFullyRepaid": "repay (final)", "LoanDefaulted": "mark default"}


def charts(view: ChainView) -> dict:
    """What the charts page draws, computed from the same reads as the other pages: recorded
    scores per band, PD against outcome (loans decided on a score whose outcome is known) and
    the gas of each lifecycle step (median over the transactions that took it)."""
    import statistics

    rules = view.rules()
    bands = len(rules["rules"]["bandMinScores"])
    by_band = {b: 0 for b in [None, *range(1, bands + 1)]}
    for s in view.scores():
        by_band[s["band"]] += 1
    outcome_bins = [{"from_bps": lo, "to_bps": hi, "repaid": 0, "defaulted": 0, "pd_sum_bps": 0}
                    for lo, hi in zip(PD_BINS_BPS, PD_BINS_BPS[1:])]
    gas: dict[str, list[int]] = {step: [] for step in STEP_EVENTS.values()}
    seen: set[str] = set()
    for loan in view.loan_list():
        bad = loan["state_name"] in ("Defaulted", "WrittenOff")
        if loan["scoreIssuedAt"] and (bad or loan["state_name"] == "Repaid"):
            b = next(x for x in outcome_bins if x["from_bps"] <= loan["pdBps"] < x["to_bps"])
            b["defaulted" if bad else "repaid"] += 1
            b["pd_sum_bps"] += loan["pdBps"]
        for h in view.loan_history(loan["id"]):
            step = STEP_EVENTS.get(h["event"])
            if step and h["tx"] not in seen:
                seen.add(h["tx"])
                gas[step].append(view.w3.eth.get_transaction_receipt(h["tx"])["gasUsed"])
    for b in outcome_bins:
        n = b["repaid"] + b["defaulted"]
        b["loans"] = n
        b["mean_pd"] = b.pop("pd_sum_bps") / n / 10_000 if n else None
        b["default_rate"] = b["defaulted"] / n if n else None
    return {"scores_by_band": [{"band": b, "count": c} for b, c in by_band.items()],
            "pd_vs_outcome": outcome_bins,
            "gas_by_step": [{"step": k, "transactions": len(v), "median_gas": int(statistics.median(v))}
                            for k, v in gas.items() if v]}

"""Independent re-check of attestations (`oracle verify`).

For each attestation: recompute the PD, score and reason codes from this node's stored features
and its model file; recompute the features commitment from the stored vector and salt; check the
model id is the bundle's (its manifest's SHA-256, after checking every file against it); recover every signature and check the signers are
distinct members of the signer set the attestation was signed under (its configDigest, read
from that configuration's ConfigSet event) and at least its threshold; check the Python EIP-712
digest equals the contract's `hashAttestation` (or `hashReport` for a report-signed batch); and
compare with the ScoreRecorded event carrying the same borrower and nonce on chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oracle import commitment, keys, typed_data
from oracle.evidence import search_recorded
from oracle.scoring import ModelLoadError, file_model_id
from oracle.store import UnknownBorrower
from oracle.typed_data import ScoreAttestation


def verify_attestation(ctx: Any, att: ScoreAttestation, signatures: list[bytes],
                       *, recorded_in_tx: bool | None = None,
                       report: tuple[bytes, bool] | None = None) -> dict:
    """Checks one signed score. `report`: for an entry of a report-signed batch, the report's
    EIP-712 digest (what the signatures cover, under att.configDigest) and whether it equals the
    contract's hashReport, both worked out once for the whole report (`verify_tx`)."""
    checks: dict[str, Any] = {}
    problems: list[str] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks[name] = bool(ok)
        if not ok:
            problems.append(f"{name}: {detail}" if detail else name)

    # model
    try:
        disk_id = file_model_id(ctx.model.path)
    except ModelLoadError as exc:  # a bundle file edited since the node loaded it
        disk_id = b""
        check("model_file_matches_model_id", False, str(exc))
    else:
        check("model_file_matches_model_id", disk_id == att.modelId,
              f"bundle id 0x{disk_id.hex()} != modelId 0x{att.modelId.hex()}")
    checks["model_approved_now"] = ctx.chain.is_approved(att.modelId)

    # features and recomputation
    try:
        feats = ctx.store.get_features(att.borrower)
    except UnknownBorrower as exc:
        check("features_available", False, str(exc))
        feats = None
    if feats is not None:
        recomputed = commitment.features_hash(feats.schema_hash, feats.salt, feats.vector)
        check("features_hash", recomputed == att.featuresHash,
              f"recomputed 0x{recomputed.hex()}, attested 0x{att.featuresHash.hex()}")
        if disk_id == att.modelId:
            # a zk-scored model's PD is its circuit's (models.zk.canonical); the guard asks the
            # chain once per model, not once per entry of a report
            try:
                pred = ctx.model.predict(feats.vector, circuit_scale=ctx.node.guard.circuit_scale(att.modelId))
            except ModelLoadError as exc:
                check("pd_bps", False, f"not recomputed: {exc}")
            else:
                check("pd_bps", pred.pd_bps == att.pdBps, f"recomputed {pred.pd_bps}, attested {att.pdBps}")
                check("score", pred.score == att.score, f"recomputed {pred.score}, attested {att.score}")
                check("reason_codes", pred.reason_codes_packed == att.reasonCodes,
                      f"recomputed {pred.reason_codes_packed:#010x}, attested {att.reasonCodes:#010x}")

    # digest and signatures, against the signer set the signature names
    sep = typed_data.domain_separator(ctx.chain.chain_id, ctx.chain.registry.address)
    if report is None:
        digest = typed_data.digest(att, sep)
        check("digest_matches_contract", ctx.chain.hash_attestation(att) == digest,
              "Python EIP-712 digest differs from hashAttestation")
    else:
        digest, matches = report
        check("digest_matches_contract", matches, "Python EIP-712 report digest differs from hashReport")
    config = ctx.chain.config_at(att.configDigest)
    check("signer_config_known", config is not None,
          f"no ConfigSet of this registry has digest 0x{att.configDigest.hex()}")
    registered, k = (set(config[0]), config[1]) if config else (set(), 1)
    checks["config_is_current"] = ctx.chain.config_digest() == att.configDigest
    # As the contract reads them: the first k signatures must each be valid, registered and
    # distinct; any after them are not read (reported, never counted).
    check("threshold", len(signatures) >= k, f"{len(signatures)} signatures < k={k}")
    seen = keys.check_first_k(digest, signatures, registered, k, check, "not a registered signer")
    checks["signers"] = seen
    checks["signatures_not_read"] = max(0, len(signatures) - k)

    # chain record
    # newest first in windows of ORACLE_MAX_BLOCK_RANGE blocks (public RPCs cap log ranges)
    event = None if recorded_in_tx is False else search_recorded(
        ctx.chain, att.borrower, nonce=att.nonce, max_range=ctx.settings.max_block_range)
    if recorded_in_tx is False:
        checks["on_chain"] = "skipped in this transaction"
    elif event is None:
        check("on_chain", False, f"no ScoreRecorded for {att.borrower} nonce {att.nonce}")
    else:
        a = event.args
        same = (bytes(a.modelId) == att.modelId and bytes(a.featuresHash) == att.featuresHash
                and a.pdBps == att.pdBps and a.score == att.score
                and a.reasonCodes == att.reasonCodes and a.issuedAt == att.issuedAt
                and a.validUntil == att.validUntil
                and bytes(a.extensionHash) == att.extensionHash)
        check("on_chain", same, "ScoreRecorded differs from the attestation")
        checks["recorded_tx"] = "0x" + bytes(event.transactionHash).hex()
    return {"borrower": att.borrower, "nonce": att.nonce, "ok": not problems,
            "problems": problems, "checks": checks}


def verify_file(ctx: Any, path: Path) -> dict:
    import json

    data = json.loads(path.read_text())
    att = ScoreAttestation.from_json(data["attestation"])
    sigs = [bytes.fromhex(s.removeprefix("0x")) for s in data["signatures"]]
    return verify_attestation(ctx, att, sigs)


def verify_tx(ctx: Any, tx_hash: str) -> list[dict]:
    w3 = ctx.chain.w3
    tx = w3.eth.get_transaction(tx_hash)
    receipt = w3.eth.get_transaction_receipt(tx_hash)
    fn, params = ctx.chain.registry.decode_function_input(tx["input"])
    recorded = {(e.args.borrower, int(e.args.nonce)) for e in ctx.chain.decode_recorded(receipt)}
    if fn.fn_name == "submitReport":
        config = bytes(params["signedDigest"])
        entries = [_attestation(raw, typed_data.ENTRY_FIELDS, configDigest=config)
                   for raw in params["entries"]]
        sigs = [bytes(s) for s in params["signatures"]]
        sep = typed_data.domain_separator(ctx.chain.chain_id, ctx.chain.registry.address)
        digest = typed_data.report_digest(config, entries, sep)
        report = (digest, ctx.chain.hash_report(config, entries) == digest)
        return [verify_attestation(ctx, att, sigs, report=report,
                                   recorded_in_tx=(att.borrower, att.nonce) in recorded)
                for att in entries]
    if fn.fn_name == "submit":
        pairs = [(params["att"], params["signatures"])]
    elif fn.fn_name == "submitBatch":
        pairs = list(zip(params["atts"], params["signatures"]))
    else:
        raise ValueError(f"transaction calls {fn.fn_name}, not submit/submitBatch/submitReport")
    out = []
    for raw, sigs in pairs:
        att = _attestation(raw, typed_data.ATTESTATION_FIELDS)
        out.append(verify_attestation(ctx, att, [bytes(s) for s in sigs],
                                      recorded_in_tx=(att.borrower, att.nonce) in recorded))
    return out


def _attestation(raw: Any, members: tuple[tuple[str, str], ...], **extra: Any) -> ScoreAttestation:
    fields = dict(raw) if isinstance(raw, dict) else dict(zip([n for n, _ in members], raw))
    return ScoreAttestation(**fields, **extra)

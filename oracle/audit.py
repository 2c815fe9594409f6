"""The checks of `oracle verify --disclosure`: pure functions of a disclosure, the model bundle and
the evidence gathered from the chain (`oracle.evidence`). No I/O, so they are timed apart from
RPC (bench/bench_verify.py) and can be replayed on stored evidence.

One named check each, pass or fail with a reason:

    tx_status             the transaction succeeded and called the CreditScoreRegistry given
    on_chain_record       its receipt has the ScoreRecorded of this borrower and nonce, equal to
                          the signed attestation field by field
    features_commitment   the disclosed features (validated against the bundle's schema) and salt
                          give the attested featuresHash
    model_bundle          the bundle's id (its manifest's SHA-256) is the attested modelId
    pd_bps, score, reason_codes
                          recomputed with the bundle from the disclosed features, only when those
                          are the committed ones and the bundle is the attested model
    digest                the EIP-712 digest computed here equals the contract's
    signer_config         the attestation's configDigest names a ConfigSet of this registry
    threshold, signature_<i>
                          the first k signatures (k of that configuration) recover to distinct
                          signers of it, as the contract reads them
    model_registry        ModelRegistry holds the bundle's commitments (schema hash; metrics hash
                          and data-set root where the bundle's card gives them), had approved
                          the model before the record's block, and its URI, if it records a CID
                          (ipfs://<cid>), names the CID of the bundle directory given
    anchored_batch        the disclosure's proof puts (borrower, featuresHash) in a DataAnchor
                          batch: the root computed here equals the batch's, and verifyRecord
                          agrees; given the batch's public document, its CID is the one the
                          batch URI records and its leaves rebuild the batch's root

A URI without a CID (recorded before content ids) is no failure: `info` says "no CID recorded"
(`model_cid`, `batch_cid`), as it gives the CID checked or why none was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.schema import FeatureValidationError, validate_row
from oracle import batch_doc, commitment, content_id, keys, merkle, typed_data
from oracle.disclosure import Disclosure
from oracle.evidence import Evidence
from oracle.provenance import MODEL_STATUS, metrics_hash, model_field

RECORD_FIELDS = ("modelId", "featuresHash", "pdBps", "score", "reasonCodes", "issuedAt",
                 "validUntil", "extensionHash")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def audit(ev: Evidence, disclosure: Disclosure, model: Any, card: dict | None = None, *,
          bundle_cid: str | None = None, batch_document: bytes | None = None) -> dict:
    """Every check of one recorded score; `model` is an oracle.scoring.Model, `card` the bundle's
    model_card.json (optional: the metrics and data-set commitments are checked if given),
    `bundle_cid` the CID of the bundle directory (oracle.content_id.path_cid: the caller reads
    the files), `batch_document` the anchored batch's public document (oracle.batch_doc)."""
    att = ev.attestation
    out: list[Check] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        out.append(Check(name, bool(ok), "" if ok else detail))

    check("tx_status", ev.tx_status == 1 and ev.tx_to == ev.registry,
          f"status {ev.tx_status}, to {ev.tx_to} (registry {ev.registry})")
    if ev.recorded is None:
        check("on_chain_record", False, f"the receipt has no ScoreRecorded for {att.borrower} "
                                        f"nonce {att.nonce} (skipped or reverted)")
    else:
        a = ev.recorded.args
        diff = [f for f in RECORD_FIELDS
                if _norm(getattr(a, f)) != _norm(getattr(att, f))]
        check("on_chain_record", not diff, f"ScoreRecorded differs in {', '.join(diff)}")

    # features and the model
    if disclosure.borrower != att.borrower:
        check("features_commitment", False, f"disclosure is for {disclosure.borrower}, the score "
                                            f"for {att.borrower}")
        vector = None
    else:
        vector = _vector(model, disclosure, check)
    check("model_bundle", model.model_id == att.modelId,
          f"bundle id {model.model_id_hex} != attested modelId 0x{att.modelId.hex()}")
    committed = False
    if vector is not None:
        fh = commitment.features_hash(disclosure.schema_hash, disclosure.salt, vector)
        committed = fh == att.featuresHash
        check("features_commitment", committed,
              f"recomputed 0x{fh.hex()}, attested 0x{att.featuresHash.hex()}")
    # Recomputed only from the committed features with the attested model: anything else would
    # compare a score of other inputs (or another model) with the signed one.
    if committed and model.model_id == att.modelId:
        p = model.predict(vector, circuit_scale=ev.zk_scale)  # a zk-scored model: its circuit's PD
        check("pd_bps", p.pd_bps == att.pdBps, f"recomputed {p.pd_bps}, attested {att.pdBps}")
        check("score", p.score == att.score, f"recomputed {p.score}, attested {att.score}")
        check("reason_codes", p.reason_codes_packed == att.reasonCodes,
              f"recomputed {p.reason_codes_packed:#010x}, attested {att.reasonCodes:#010x}")
    else:
        why = "not recomputed: " + ("the bundle is not the attested model" if committed else
                                    "the disclosed features are not the committed ones")
        for name in ("pd_bps", "score", "reason_codes"):
            check(name, False, why)

    # digest and signatures, against the signer set the attestation names
    sep = typed_data.domain_separator(ev.chain_id, ev.registry)
    digest = typed_data.digest(att, sep) if ev.report_entries is None else \
        typed_data.report_digest(att.configDigest, ev.report_entries, sep)
    check("digest", digest == ev.contract_digest, "the EIP-712 digest computed here differs "
                                                  "from the contract's")
    check("signer_config", ev.config is not None,
          f"no ConfigSet of this registry has digest 0x{att.configDigest.hex()}")
    # unknown configuration: no signer can be shown to be in it, so every signature fails
    signers, k = (set(ev.config[0]), ev.config[1]) if ev.config else \
        (set(), max(1, len(ev.signatures)))
    check("threshold", len(ev.signatures) >= k, f"{len(ev.signatures)} signatures < k={k}")
    seen = keys.check_first_k(digest, ev.signatures, signers, k, check)

    model_cid = _model_registry(ev, model, card, bundle_cid, check)
    batch_cid = _anchor(ev, disclosure, batch_document, check)
    return {
        "borrower": att.borrower, "nonce": att.nonce, "tx": ev.tx_hash,
        "ok": all(c.ok for c in out),
        "checks": {c.name: ("pass" if c.ok else "FAIL: " + c.detail) for c in out},
        "info": {"signers": seen, "model_approved_now": ev.model_approved_now,
                 "record_is_latest": ev.latest_nonce == att.nonce,
                 "dataset_root_checked": bool(card and card.get("training_data", {})
                                              .get("dataset_root")),
                 "anchor_batch": ev.anchor_batch[0] if ev.anchor_batch else None,
                 "anchor_provider": ev.anchor_batch[2] if ev.anchor_batch else None,
                 "model_cid": model_cid, "batch_cid": batch_cid,
                 "notes": list(ev.notes)},
    }


def _norm(v: Any) -> Any:
    return bytes(v) if isinstance(v, (bytes, bytearray)) else int(v)


def _vector(model: Any, disclosure: Disclosure, check) -> Any:
    if disclosure.schema_hash.hex() != model.schema_hash:
        check("features_commitment", False, f"disclosed features follow schema "
                                            f"0x{disclosure.schema_hash.hex()}, the bundle's is "
                                            f"0x{model.schema_hash}")
        return None
    try:
        return validate_row(model.schema, disclosure.features)
    except FeatureValidationError as exc:
        check("features_commitment", False, f"disclosed features are invalid: {exc}")
        return None


def _model_registry(ev: Evidence, model: Any, card: dict | None, bundle_cid: str | None,
                    check) -> str | None:
    r = ev.model_record  # IModelRegistry.Model, in the struct's order
    status, approved_at = int(model_field(r, "status")), int(model_field(r, "approvedAt"))
    if status == 0:
        check("model_registry", False, f"model {model.model_id_hex} is not registered")
        return None
    problems = []
    model_cid, problem = content_id.compare_uri(str(model_field(r, "uri")), bundle_cid)
    if problem:
        problems.append(f"bundle directory: {problem}")
    schema_hash = bytes(model_field(r, "featureSchemaHash")).hex()
    if schema_hash != model.schema_hash:
        problems.append(f"featureSchemaHash 0x{schema_hash} != bundle's 0x{model.schema_hash}")
    if card is not None:
        if bytes(model_field(r, "metricsHash")) != metrics_hash(card):
            problems.append("metricsHash differs from the bundle card's evaluation")
        root = card.get("training_data", {}).get("dataset_root")
        if root and bytes(model_field(r, "datasetRoot")) != bytes.fromhex(root.removeprefix("0x")):
            problems.append("datasetRoot differs from the bundle card's")
    if not approved_at or approved_at > ev.block_timestamp:
        problems.append(f"not approved before the record's block ({MODEL_STATUS[status]}, "
                        f"approvedAt {approved_at})")
    check("model_registry", not problems, "; ".join(problems))
    return model_cid


def _anchor(ev: Evidence, disclosure: Disclosure, document: bytes | None, check) -> str | None:
    proof = disclosure.anchor
    if proof is None:
        check("anchored_batch", False, "the disclosure carries no anchor proof")
        return None
    att = ev.attestation
    computed = merkle.process_proof(merkle.leaf(att.borrower, att.featuresHash), list(proof.proof))
    if computed != proof.root:
        check("anchored_batch", False, "the proof does not lead from (borrower, featuresHash) to "
                                       "the disclosed root")
        return None
    if ev.anchor_batch is None:
        check("anchored_batch", False, "; ".join(ev.notes) or "no anchored batch found")
        return None
    batch_id, root, _ = ev.anchor_batch
    problems = []
    if root != computed:
        problems.append(f"batch {batch_id}'s root 0x{root.hex()} != 0x{computed.hex()}")
    elif ev.anchor_verified_on_chain is not True:
        problems.append("DataAnchor.verifyRecord returned false")
    batch_cid = None
    if ev.anchor_uri is not None:
        doc_cid = content_id.bytes_cid(document) if document is not None else None
        batch_cid, problem = content_id.compare_uri(ev.anchor_uri, doc_cid)
        if problem:
            problems.append(f"batch document: {problem}")
        if document is not None:
            try:
                doc_root, _ = batch_doc.parse(document)
                if doc_root != root:
                    problems.append(f"the batch document's root 0x{doc_root.hex()} is not batch "
                                    f"{batch_id}'s")
            except batch_doc.BatchDocError as exc:
                problems.append(f"batch document: {exc}")
    check("anchored_batch", not problems, "; ".join(problems))
    return batch_cid


def audit_disclosure(chain: Any, disclosure: Disclosure, bundle_dir: str | Path, *, tx_hash: str | None = None,
                     data_anchor: str | None = None, from_block: int = 0, max_range: int = 2_000,
                     batch_document: bytes | None = None) -> dict:
    """`oracle verify --disclosure` as a function (the CLI and the explorer's verify action): the
    evidence read from the chain (oracle.evidence.gather) and every check of `audit`, with the
    model bundle in `bundle_dir` (its card and its directory CID read from the files there).
    Raises oracle.evidence.EvidenceError when the chain has no such record, ModelLoadError or
    ContentIdError for a bad bundle."""
    from oracle.evidence import gather
    from oracle.scoring import bundle_paths, load_model

    model = load_model(bundle_dir)
    # the directory given, not model.path: load_model reuses a model loaded from another copy
    # of the same bundle id, and the card and the CID are of the files given here
    directory, _ = bundle_paths(bundle_dir)
    card_path = directory / "model_card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else None
    bundle_cid = content_id.path_cid(directory)  # the bundle as its registered ipfs:// URI addresses
    ev = gather(chain, disclosure, tx_hash, data_anchor=data_anchor, from_block=from_block, max_range=max_range)
    report = audit(ev, disclosure, model, card, bundle_cid=bundle_cid, batch_document=batch_document)
    report["registry"] = ev.registry
    return report

"""What `oracle verify --disclosure` reads from the public chain, gathered in one place (all the
RPC I/O of an audit; `oracle.audit` then checks it without any).

Only what a public RPC answers without archive state: the transaction and its receipt, the block
it is in, current view calls (`getModel`, `isApproved`, `latestScore`, DataAnchor's `getBatch` and
`verifyRecord`, the contract's own EIP-712 digest) and logs, every log query in a bounded block
range: the signer set in force from its `ConfigSet` event (one block at a time, following each
event's `previousConfigBlockNumber`, as OCR2 does), the latest `ScoreRecorded` of the borrower
and a batch's `BatchAnchored` in windows of at most `max_range` blocks, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from web3.exceptions import TransactionNotFound

from oracle.abi import load_abi
from oracle.disclosure import Disclosure
from oracle.typed_data import ATTESTATION_FIELDS, ENTRY_FIELDS, ScoreAttestation, checksum


# IDataAnchor.Batch's fields in the struct's order (checked against the ABI by a test)
BATCH_FIELDS = ("root", "provider", "anchoredAt", "recordCount", "uri")


class EvidenceError(Exception):
    """The chain does not hold what the disclosure points to (no such transaction, no score)."""


@dataclass
class Evidence:
    chain_id: int
    registry: str
    tx_hash: str
    tx_to: str | None
    tx_status: int
    block_number: int
    block_timestamp: int
    function: str
    attestation: ScoreAttestation
    signatures: list[bytes]
    report_entries: list[ScoreAttestation] | None   # submitReport: every entry (the digest's)
    contract_digest: bytes                            # hashAttestation / hashReport on chain
    recorded: Any | None                              # this tx's ScoreRecorded(borrower, nonce)
    latest_nonce: int | None                          # latestScore(borrower).nonce now
    config: tuple[list[str], int] | None              # signer set of att.configDigest
    model_record: Any                                 # ModelRegistry.getModel(modelId)
    model_approved_now: bool
    zk_scale: int | None = None                       # ModelRegistry.zkCircuit's scale: the
                                                      # model is zk-scored (models.zk.canonical)
    anchor_batch: tuple[int, bytes, str] | None = None  # (batch id, root, provider)
    anchor_verified_on_chain: bool | None = None
    anchor_uri: str | None = None                     # the batch's URI (ipfs://<cid> of its
                                                      # public document, or older)
    notes: list[str] = field(default_factory=list)


def search_recorded(chain: Any, borrower: str, *, nonce: int | None = None,
                    from_block: int = 0, max_range: int = 2000) -> Any | None:
    """The borrower's newest ScoreRecorded (with `nonce`, if given), searched newest first in
    windows of at most `max_range` blocks (public RPCs cap eth_getLogs ranges); None if none."""
    hi = chain.head(max_age_s=0)[0]
    while hi >= from_block:
        lo = max(from_block, hi - max_range + 1)
        events = [e for e in chain.score_recorded(lo, hi, borrower)
                  if nonce is None or int(e.args.nonce) == nonce]
        if events:
            return events[-1]
        hi = lo - 1
    return None


def find_record_tx(chain: Any, borrower: str, *, from_block: int = 0,
                   max_range: int = 2000) -> str:
    """The transaction of the borrower's latest ScoreRecorded (bounded search, newest first)."""
    event = search_recorded(chain, borrower, from_block=from_block, max_range=max_range)
    if event is None:
        raise EvidenceError(f"no ScoreRecorded for {borrower} in blocks {from_block}..latest")
    return "0x" + bytes(event.transactionHash).hex()


def find_batch(anchor: Any, root: bytes, *, to_block: int, from_block: int = 0,
               max_range: int = 2000) -> int | None:
    """The id of the newest batch anchored with `root` (the root is an indexed topic), searched
    newest first in bounded windows; None if there is none."""
    event = anchor.events.BatchAnchored
    hi = to_block
    while hi >= from_block:
        lo = max(from_block, hi - max_range + 1)
        logs = event.get_logs(from_block=lo, to_block=hi, argument_filters={"root": root})
        if logs:
            return int(logs[-1]["args"]["batchId"])
        hi = lo - 1
    return None


def gather(chain: Any, disclosure: Disclosure, tx_hash: str | None = None, *,
           data_anchor: str | None = None, from_block: int = 0,
           max_range: int = 2000) -> Evidence:
    """Everything the audit of `disclosure`'s score needs from the chain.

    `tx_hash`: the recording transaction (default: the disclosure's, else the borrower's latest
    ScoreRecorded). `data_anchor`: DataAnchor's address (default: the disclosure's anchor hint).
    """
    w3 = chain.w3
    borrower = disclosure.borrower
    tx_hash = tx_hash or disclosure.tx_hash or find_record_tx(
        chain, borrower, from_block=from_block, max_range=max_range)
    try:
        tx = w3.eth.get_transaction(tx_hash)
        receipt = w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:  # other errors propagate: their text may hold the RPC URL
        raise EvidenceError(f"transaction {tx_hash} not found on this chain") from None
    registry = chain.registry
    notes: list[str] = []
    to = checksum(tx["to"]) if tx.get("to") else None
    function, att, sigs, entries = _decode_score(registry, tx["input"], borrower, receipt, chain)
    recorded = next((e for e in chain.decode_recorded(receipt)
                     if e.args.borrower == borrower and int(e.args.nonce) == att.nonce), None)
    block = w3.eth.get_block(receipt["blockNumber"])
    if entries is None:
        contract_digest = chain.hash_attestation(att)
    else:
        contract_digest = chain.hash_report(att.configDigest, entries)
    try:
        latest = int(registry.functions.latestScore(borrower).call()[6])
    except Exception:  # CreditScoreNotFound: nothing recorded (then `recorded` is None too)
        latest = None
    model_registry = chain.model_registry
    record = model_registry.functions.getModel(att.modelId).call()
    approved_now = bool(model_registry.functions.isApproved(att.modelId).call())

    ev = Evidence(
        chain_id=chain.chain_id, registry=registry.address, tx_hash=tx_hash, tx_to=to,
        tx_status=int(receipt["status"]), block_number=int(receipt["blockNumber"]),
        block_timestamp=int(block["timestamp"]), function=function, attestation=att,
        signatures=sigs, report_entries=entries, contract_digest=contract_digest,
        recorded=recorded, latest_nonce=latest, config=chain.config_at(att.configDigest),
        model_record=record, model_approved_now=approved_now, zk_scale=chain.zk_scale(att.modelId),
        notes=notes)

    proof = disclosure.anchor
    where = data_anchor or (proof.data_anchor if proof else None)
    if proof is not None and where:
        anchor = w3.eth.contract(address=to_checksum_address(where),
                                 abi=load_abi("DataAnchor", chain.settings.abi_dir))
        batch_id = proof.batch_id or find_batch(anchor, proof.root, to_block=ev.block_number,
                                                from_block=from_block, max_range=max_range)
        if batch_id is None:
            notes.append(f"no DataAnchor batch with root 0x{proof.root.hex()}")
        else:
            try:
                b = anchor.functions.getBatch(batch_id).call()
                ev.anchor_batch = (batch_id, bytes(b[0]), checksum(b[1]))
                ev.anchor_uri = str(b[BATCH_FIELDS.index("uri")])
                ev.anchor_verified_on_chain = bool(anchor.functions.verifyRecord(
                    batch_id, list(proof.proof), borrower, att.featuresHash).call())
            except Exception as exc:  # DataAnchorUnknownBatch
                notes.append(f"DataAnchor batch {batch_id}: {exc}")
    elif proof is not None:
        notes.append("no DataAnchor address (give --data-anchor)")
    return ev


def _decode_score(registry: Any, calldata: Any, borrower: str, receipt: Any, chain: Any):
    """(function, the borrower's attestation, its signatures, the report's entries or None)."""
    try:
        fn, params = registry.decode_function_input(calldata)
    except Exception as exc:
        raise EvidenceError(f"the transaction does not call the CreditScoreRegistry: {exc}") \
            from None
    recorded = {(e.args.borrower, int(e.args.nonce)) for e in chain.decode_recorded(receipt)}
    if fn.fn_name == "submitReport":
        config = bytes(params["signedDigest"])
        entries = [_attestation(raw, ENTRY_FIELDS, configDigest=config)
                   for raw in params["entries"]]
        sigs = [bytes(s) for s in params["signatures"]]
        pairs = [(e, sigs) for e in entries]
    elif fn.fn_name in ("submit", "submitBatch"):
        entries = None
        raw_pairs = [(params["att"], params["signatures"])] if fn.fn_name == "submit" else \
            list(zip(params["atts"], params["signatures"]))
        pairs = [(_attestation(a, ATTESTATION_FIELDS), [bytes(s) for s in ss])
                 for a, ss in raw_pairs]
    else:
        raise EvidenceError(f"the transaction calls {fn.fn_name}, not submit/submitBatch/"
                            "submitReport")
    mine = [(a, s) for a, s in pairs if a.borrower == borrower]
    if not mine:
        raise EvidenceError(f"the transaction carries no score for {borrower}")
    # several entries for one borrower: the one the receipt recorded, else the last
    att, sigs = next(((a, s) for a, s in mine if (a.borrower, a.nonce) in recorded), mine[-1])
    return fn.fn_name, att, sigs, entries


def _attestation(raw: Any, members: tuple[tuple[str, str], ...], **extra: Any) -> ScoreAttestation:
    fields = dict(raw) if isinstance(raw, dict) else dict(zip([n for n, _ in members], raw))
    return ScoreAttestation(**fields, **extra)

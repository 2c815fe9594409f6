"""The transaction manager: a small explicit machine (STYLE 9).

* `NonceAllocator` — one lock, seeded from the pending transaction count, re-seeded on a nonce
  error;
* `GasStrategy` — EIP-1559 fees from the latest base fee, capped; a bump of `gas_bump_percent` for
  a transaction stuck `stuck_after_blocks` blocks, never above the cap;
* `CircuitBreaker` — opens after `breaker_failures` consecutive failures, lets one attempt through
  after `breaker_cooldown_s`;
* `TxSender` — signs, writes the signed transaction to the checkpoint (`unstarted`) *before*
  broadcasting it (`inflight`), broadcasts (re-broadcasting the same bytes is idempotent, so that
  is retried), and later follows each transaction until its block is final: `confirmed` with a
  receipt, back `inflight` and re-broadcast if a reorg takes the receipt away, `finalized`.
Every step logs one JSON line naming the tx kind, account nonce and hash.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from eth_account import Account

from oracle.chain.codec import _decode_raw, _hex, encode_report, encode_submit
from oracle.chain.fees import Fees, GasStrategy
from oracle import faults
from oracle.chain import send_errors
from oracle.chain.errors import CircuitOpen, EstimateReverted, SendError
from oracle.chain.rpc import Chain, retry
from oracle.keys import Signer
from oracle.settings import Settings
from oracle.store import Store, Submission
from oracle.transmitter import check_distinct, load_transmitter
from oracle.typed_data import ScoreAttestation

log = logging.getLogger("oracle.chain")


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        with self._lock:
            if self.opened_at is None:
                return "closed"
            if time.monotonic() - self.opened_at >= self.cooldown_s:
                return "half-open"
            return "open"

    def allow(self) -> bool:
        return self.state != "open"

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self.opened_at = None

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.failures >= self.threshold:
                if self.opened_at is None:
                    log.error("circuit breaker opened", extra={"failures": self.failures})
                self.opened_at = time.monotonic()


class NonceAllocator:
    """Hands out account nonces under a lock. Seeded from the chain's pending count reconciled
    with the store: nonces of this node's own open transactions (signed and written, maybe never
    broadcast before a crash, or dropped by a reorg) right after the chain's count are taken, so
    a new transaction never gets a nonce an open one holds (gaps below them are filled)."""

    def __init__(self, fetch_pending: Callable[[], int],
                 open_nonces: Callable[[], set[int]] | None = None) -> None:
        self._fetch = fetch_pending
        self._open = open_nonces or (lambda: set())
        self._lock = threading.Lock()
        self._next: int | None = None
        self._taken: set[int] = set()

    def allocate(self) -> int:
        with self._lock:
            if self._next is None:
                self._next, self._taken = self._fetch(), self._open()
            while self._next in self._taken:
                self._next += 1
            n = self._next
            self._next += 1
            return n

    def reset(self) -> None:
        with self._lock:
            self._next = None


BALANCE_CHECK_S = 30.0  # how often resolve() reads the transmitter's balance
_GONE = object()  # TxSender._recheck: the receipt disappeared


class TxSender:
    """Signs, checkpoints, broadcasts and follows this node's transactions."""

    def __init__(self, chain: Chain, signer: Signer, store: Store, settings: Settings,
                 metrics: Any | None = None, transmitter: Signer | None = None) -> None:
        """`signer` is the attestation signing key, only to refuse it as the sender;
        `transmitter` (default: from the settings, see oracle.transmitter) sends and pays."""
        self.chain = chain
        if transmitter is None:
            transmitter = load_transmitter(settings, signer.address)
        check_distinct(transmitter.address, signer.address)
        self.transmitter = transmitter  # the account every transaction is signed and paid by
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.nonces = NonceAllocator(lambda: chain.pending_nonce(transmitter.address),
                                     store.open_nonces)
        self.gas = GasStrategy(
            cap_wei=int(settings.max_fee_gwei * 10**9),
            priority_wei=int(settings.priority_fee_gwei * 10**9),
            bump_percent=settings.gas_bump_percent,
            margin_percent=settings.gas_margin_percent,
        )
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_s)
        self._send_lock = threading.Lock()
        self._balance_at = float("-inf")

    # --- build + send ---------------------------------------------------------------------------
    def submit_batch(self, atts: list[ScoreAttestation], sigs: list[list[bytes]],
                     loan_ids: list[int]) -> str:
        """submit (one entry) or submitBatch: k signatures per entry."""
        fn = "submit" if len(atts) == 1 else "submitBatch"
        return self._submit(fn, encode_submit(atts, sigs), atts, loan_ids)

    def submit_report(self, config_digest: bytes, atts: list[ScoreAttestation], sigs: list[bytes],
                      loan_ids: list[int]) -> str:
        """submitReport: k signatures over one ScoreReport carry every entry (the chain checks k
        signatures once instead of once per entry)."""
        return self._submit("submitReport", encode_report(config_digest, atts, sigs), atts, loan_ids)

    def _submit(self, fn: str, calldata: bytes, atts: list[ScoreAttestation], loan_ids: list[int]) -> str:
        if not self.breaker.allow():
            raise CircuitOpen("circuit breaker open: not sending")
        data = "0x" + calldata.hex()
        to = self.chain.registry.address
        # the chain's own estimate (a revert here raises: nothing is signed or sent)
        gas = self.gas.gas_limit(
            self.chain.estimate_gas({"from": self.transmitter.address, "to": to, "data": data}),
            self.chain.block_gas_limit())
        with self._send_lock:
            fees = self.gas.initial(*self.chain.fee_inputs())
            nonce = self.nonces.allocate()
            tx = {
                "type": 2, "chainId": self.chain.chain_id, "nonce": nonce,
                "to": to, "data": data, "value": 0, "gas": gas,
                "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee,
            }
            try:
                return self._sign_record_send(tx, fn, loan_ids,
                                              [a.to_json() for a in atts], fees)
            except Exception:
                self.nonces.reset()  # re-seed from the chain's pending count next time
                raise

    def _sign_record_send(self, tx: dict, kind: str, loan_ids: list[int], atts_json: list[dict],
                          fees: Fees) -> str:
        signed = Account.sign_transaction(tx, self.transmitter.private_key_bytes())
        tx_hash = "0x" + bytes(signed.hash).hex()
        raw = bytes(signed.raw_transaction)
        faults.hit("after_sign")
        block, _ = self.chain.head(max_age_s=5.0)
        # write-ahead: after a crash from here on, the restart re-broadcasts these exact bytes
        self.store.add_submission(Submission(
            tx_hash=tx_hash, account_nonce=tx["nonce"], kind=kind, raw_tx=raw, loan_ids=loan_ids,
            attestations=atts_json, max_fee=fees.max_fee, status="unstarted",
            sent_block=block, sent_at=time.time(),
        ))
        log.info("tx signed", extra={"kind": kind, "nonce": tx["nonce"], "tx_hash": tx_hash,
                                     "loan_ids": loan_ids, "count": len(atts_json)})
        faults.hit("after_checkpoint")
        self.broadcast(raw, tx_hash, kind, tx["nonce"])
        faults.hit("after_broadcast")
        self.store.mark_broadcast(tx_hash)
        return tx_hash

    def broadcast(self, raw: bytes, tx_hash: str, kind: str, nonce: int) -> str:
        """Send signed bytes; re-sending identical bytes is idempotent, so transport failures
        are retried. Returns the outcome's class (oracle.chain.send_errors): `sent`, `known`,
        `nonce_used` or `underpriced` (resolve() follows up on each); any other class raises
        SendError."""
        def send() -> str:
            try:
                self.chain.w3.eth.send_raw_transaction(raw)
                return "sent"
            except Exception as exc:
                cls = send_errors.classify(exc)
                if cls in (send_errors.KNOWN, send_errors.NONCE_USED, send_errors.UNDERPRICED):
                    return cls
                raise SendError(cls, str(exc)) from exc

        try:
            outcome = retry(send, attempts=4, what="eth_sendRawTransaction",
                            retry_if=lambda e: getattr(e, "cls", None) == send_errors.TRANSIENT)
        except SendError as exc:
            self.breaker.failure()
            if self.metrics:
                self.metrics.send_errors.labels(exc.cls).inc()
            log.error("tx broadcast failed", extra={"kind": kind, "nonce": nonce,
                                                    "tx_hash": tx_hash, "error_class": exc.cls,
                                                    "error": exc.message[:300]})
            if exc.cls == send_errors.INSUFFICIENT_FUNDS:
                self.check_balance(force_warning=True)
            raise
        self.breaker.success()
        if outcome == "sent" or outcome == send_errors.KNOWN:
            log.info("tx broadcast", extra={"kind": kind, "nonce": nonce, "tx_hash": tx_hash})
        else:
            if self.metrics:
                self.metrics.send_errors.labels(outcome).inc()
            # nonce_used: a transaction with this nonce was mined (or, on Ganache, is being
            # mined); underpriced: the pool wants more: resolve() bumps it once stuck
            log.warning("tx not accepted: " + outcome, extra={"kind": kind, "nonce": nonce,
                                                               "tx_hash": tx_hash})
        return outcome

    def check_balance(self, force_warning: bool = False) -> int | None:
        """The transmitter's balance, as a metric; a warning under `low_balance_eth`."""
        try:
            wei = self.chain.balance(self.transmitter.address)
        except Exception:
            return None
        if self.metrics:
            self.metrics.balance.set(wei / 1e18)
        low = wei < int(self.settings.low_balance_eth * 10**18)
        if low or force_warning:
            log.warning("transmitter balance low", extra={
                "transmitter": self.transmitter.address, "balance_eth": wei / 1e18,
                "low_balance_eth": self.settings.low_balance_eth})
        return wei

    # --- follow ---------------------------------------------------------------------------------
    def resolve(self) -> list[tuple[Submission, Any]]:
        """Check every transaction of this node that is not final yet, once. Returns
        (submission, receipt) for those newly in a block (or in another block after a reorg).

        * confirmed: the receipt is read again until its block is final (`finalized`); gone, or
          the transaction is no longer anywhere, → back in flight, its requests `pending` again,
          the same bytes re-broadcast (a reorg dropped it, and a nonce gap would block every
          later transaction);
        * open, a receipt for any gas-bumped copy of one nonce → `confirmed` (with the receipt's
          status and block hash), the other copies `replaced`;
        * open, no copy in a block but the account nonce used by a *final* block → `dropped`
          (the nonce at the head can move back in a reorg; a final one cannot);
        * open and stuck for `stuck_after_blocks` → re-signed with bumped fees (same nonce),
          recorded, broadcast; otherwise the identical bytes re-broadcast (harmless; recovers a
          lost mempool).
        """
        if time.monotonic() - self._balance_at >= BALANCE_CHECK_S:
            self._balance_at = time.monotonic()
            self.check_balance()
        out: list[tuple[Submission, Any]] = []
        confirmed = self.store.confirmed()
        inflight = self.store.inflight()
        if not confirmed and not inflight:
            return out
        head, _ = self.chain.head(max_age_s=0.0)
        final = self.chain.final_block(head)
        reopened: set[str] = set()
        for sub in confirmed:
            got = self._recheck(sub, head, final)
            if got is None:
                continue
            if got is _GONE:
                reopened.add(sub.tx_hash)  # re-broadcast just now
            else:
                out.append((sub, got))
        inflight = [s for s in self.store.inflight() if s.tx_hash not in reopened]
        final_nonce: int | None = None
        by_nonce: dict[int, list[Submission]] = {}
        for sub in inflight:
            by_nonce.setdefault(sub.account_nonce, []).append(sub)
        for nonce, subs in sorted(by_nonce.items()):
            found = None
            for sub in subs:
                receipt = self.chain.receipt(sub.tx_hash)
                if receipt is not None:
                    found = (sub, receipt)
                    break
            if found is not None:
                faults.hit("after_receipt")
                self._confirm(*found)
                out.append(found)
                continue
            if final >= 0:
                if final_nonce is None:
                    final_nonce = self.chain.nonce_at(self.transmitter.address, final)
                if final_nonce > nonce:
                    # none of our copies is in a block, and a final block used the nonce
                    for sub in subs:
                        self.store.set_submission_status(sub.tx_hash, "dropped")
                        log.warning("tx dropped", extra={"kind": sub.kind, "nonce": nonce,
                                                         "tx_hash": sub.tx_hash})
                    continue
            newest = max(subs, key=lambda s: s.sent_at)
            if all(s.status == "unstarted" for s in subs) and self._stale(newest):
                self._cancel(newest)
                continue
            if head - newest.sent_block >= self.settings.stuck_after_blocks:
                self._bump(newest, head)
            else:
                self._rebroadcast(newest)
        return out

    def _stale(self, sub: Submission) -> bool:
        """Every entry of a transaction that was written but never broadcast (a crash between
        the two) is recorded on chain already: another node posted while this one was down."""
        atts = sub.attestations
        if not atts:
            return False
        borrowers = [a["borrower"] for a in atts]
        nonces = self.chain.nonces_at([(b, "latest") for b in borrowers])
        is_open = self.chain.scores_requested(borrowers)
        open_ = [is_open[b] for b in borrowers]
        # an entry's nonce is spent once a record carried it: the borrower's next nonce moved
        # past it (a newer request), or it is the next nonce but no request is open any more
        return all(n > int(a["nonce"]) or (n == int(a["nonce"]) and not still_open)
                   for a, n, still_open in zip(atts, nonces, open_))

    def _would_skip(self, sub: Submission) -> str | None:
        """Why the same bytes, sent again after a reorg, would not record every entry they carry,
        or None if they would (or the node cannot tell: then they go, as before). The reorg can
        have made them stale — the borrower's request replayed after the attestation's issuedAt,
        its nonce moved, a newer record landed — and then the registry only skips them (gas
        spent on a ScoreSkipped); the requests are rebuilt instead, fresh, by their leader."""
        if not sub.attestations:
            return None
        try:
            tx = _decode_raw(sub.raw_tx)
            recorded = self.chain.call_uint(self.transmitter.address, tx["to"], tx["data"],
                                            tx["gas"])
        except EstimateReverted as exc:
            return f"reverts: {exc}"
        except Exception as exc:  # noqa: BLE001 - no answer is no reason to hold the nonce back
            log.warning("could not simulate a re-broadcast; sent as it is", extra={
                "tx_hash": sub.tx_hash, "error": f"{type(exc).__name__}: {exc}"})
            return None
        if recorded < len(sub.attestations):
            return f"would record {recorded} of {len(sub.attestations)} entries"
        return None

    def _cancel(self, sub: Submission,
                message: str = "tx stale after a restart: nonce spent on a cancel",
                why: str | None = None) -> None:
        """Spend the nonce of a stale transaction (never broadcast, or taken back by a reorg) on
        a 0-value transfer to ourselves (21,000 gas) instead of a batch the registry would only
        skip: the nonce must still be used, or every later transaction waits for it."""
        decoded = _decode_raw(sub.raw_tx)
        old = Fees(decoded["maxFeePerGas"], decoded["maxPriorityFeePerGas"])
        fees = self.gas.bump(old, self.gas.initial(*self.chain.fee_inputs())) or old
        tx = {"type": 2, "chainId": decoded["chainId"], "nonce": sub.account_nonce,
              "to": self.transmitter.address, "data": "0x", "value": 0, "gas": 21_000,
              "maxFeePerGas": fees.max_fee, "maxPriorityFeePerGas": fees.priority_fee}
        log.info(message, extra={"kind": sub.kind, "nonce": sub.account_nonce,
                                 "tx_hash": sub.tx_hash, **({"why": why} if why else {})})
        if self.metrics:
            self.metrics.tx_cancelled.inc()
        with self._send_lock:
            try:
                self._sign_record_send(tx, "cancel", [], [], fees)
            except Exception:
                pass  # logged by broadcast; the cancel is in the store and re-sent next round

    def _confirm(self, sub: Submission, receipt: Any) -> None:
        status = 1 if receipt["status"] == 1 else 0
        block, block_hash = int(receipt["blockNumber"]), _hex(receipt["blockHash"]).lower()
        self.store.set_submission_status(sub.tx_hash, "confirmed", block, nonce_siblings=True,
                                         mined_hash=block_hash, receipt_status=status)
        label = "mined" if status else "reverted"
        if self.metrics:
            self.metrics.tx_mined.labels(label).inc()
        log.info("tx " + label, extra={"kind": sub.kind, "nonce": sub.account_nonce,
                                       "tx_hash": sub.tx_hash, "block": block,
                                       "gas_used": int(receipt["gasUsed"])})

    def _recheck(self, sub: Submission, head: int, final: int) -> Any | None:
        """A confirmed transaction's receipt, read again. Returns the receipt if it moved to
        another block (a reorg re-mined it), `_GONE` if it disappeared, else None."""
        receipt = self.chain.receipt(sub.tx_hash)
        if receipt is None:
            reopened = self.store.reorged_out(sub.tx_hash, head)
            if self.metrics:
                self.metrics.tx_reorged.inc()
            log.warning("tx receipt gone (reorg): back in flight", extra={
                "kind": sub.kind, "nonce": sub.account_nonce, "tx_hash": sub.tx_hash,
                "block": sub.mined_block, "requests_reopened": reopened})
            why = self._would_skip(sub)
            if why is None:
                self._rebroadcast(sub)
            else:
                self._cancel(sub, "tx a reorg took back would no longer record every entry: "
                             "nonce spent on a cancel", why=why)
            return _GONE
        block, block_hash = int(receipt["blockNumber"]), _hex(receipt["blockHash"]).lower()
        if sub.mined_hash is not None and block_hash != sub.mined_hash:
            log.warning("tx moved to another block (reorg)", extra={
                "kind": sub.kind, "nonce": sub.account_nonce, "tx_hash": sub.tx_hash,
                "block": block, "was_block": sub.mined_block})
            self.store.set_submission_status(sub.tx_hash, "confirmed", block,
                                             mined_hash=block_hash,
                                             receipt_status=1 if receipt["status"] == 1 else 0)
            return receipt
        if block <= final:
            self.store.set_submission_status(sub.tx_hash, "finalized", block,
                                             mined_hash=block_hash)
            log.info("tx finalized", extra={"kind": sub.kind, "nonce": sub.account_nonce,
                                            "tx_hash": sub.tx_hash, "block": block})
        elif sub.mined_hash is None:  # confirmed before migration 4: keep the hash from now on
            self.store.set_submission_status(sub.tx_hash, "confirmed", block,
                                             mined_hash=block_hash)
        return None

    def _rebroadcast(self, sub: Submission) -> None:
        try:
            self.broadcast(sub.raw_tx, sub.tx_hash, sub.kind, sub.account_nonce)
        except Exception:
            pass  # logged; tried again next round

    def _bump(self, sub: Submission, head: int) -> None:
        decoded = _decode_raw(sub.raw_tx)
        old = Fees(decoded["maxFeePerGas"], decoded["maxPriorityFeePerGas"])
        fees = self.gas.bump(old, self.gas.initial(*self.chain.fee_inputs()))
        if fees is None:
            log.warning("tx stuck: " + ("zero-gas chain, re-sent as is" if old.zero
                                        else "fees at the cap"),
                        extra={"kind": sub.kind, "nonce": sub.account_nonce,
                               "tx_hash": sub.tx_hash})
            self._rebroadcast(sub)
            return
        decoded["maxFeePerGas"] = fees.max_fee
        decoded["maxPriorityFeePerGas"] = fees.priority_fee
        log.info("tx gas bump", extra={"kind": sub.kind, "nonce": sub.account_nonce,
                                       "tx_hash": sub.tx_hash, "max_fee": fees.max_fee})
        with self._send_lock:
            self._sign_record_send(decoded, sub.kind, sub.loan_ids, sub.attestations, fees)

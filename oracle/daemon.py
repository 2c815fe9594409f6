"""The daemon: follows ScoreRequested, batches, k-of-n, checkpoints.

Loop (every `poll_interval_s`, until SIGTERM):

1. **scan** — from the checkpoint cursor + 1 up to ``head - confirmations`` in ranges of at most
   `max_block_range` blocks: ScoreRequested (LoanManager) become `pending` requests, keyed by
   (tx hash, log index); ScoreRecorded (CreditScoreRegistry) mark earlier requests of the same
   borrower `recorded` and keep the latest validUntil per borrower. A range whose first block's
   parent is not the stored cursor block rewinds the checkpoint to the fork point first.
   Requests, satisfactions, block hashes and the cursor move in one SQLite transaction, so a
   crash re-reads at most one range and `INSERT OR IGNORE` makes that harmless.
2. **resolve** — every transaction of this node not yet final is checked (in a block → its
   ScoreRecorded events mark requests recorded at once; receipt gone after a reorg → back in
   flight and re-broadcast; stuck → gas bump; otherwise re-broadcast the same bytes); **settle**
   — recorded requests whose record's block is final become `done`, or `pending` again if that
   block is no longer canonical.
3. **work** — pending requests are grouped by borrower (one attestation serves every pending loan
   of a borrower). Leader of a borrower's requests: node ``(loanId + attempt) mod n`` where
   ``loanId`` is the borrower's earliest pending loan and ``attempt = (head - requestBlock) //
   failover_blocks``, so the next node takes over if the leader has not posted within
   `failover_blocks` blocks, and so on round the ring. Before building, a node looks on chain
   (one eth_getLogs past its scan cursor) for a ScoreRecorded after the request and stands down if
   there is one. (No refresh of expiring scores: the registry records a score only for an open
   loan request, so no score is published for a borrower who did not ask.) Entries already
   carried by an in-flight transaction of this node are never rebuilt, and a borrower whose
   request or record a reorg took back is held for `failover_blocks` blocks by every node (the
   transaction that carried it, whichever node sent it, is being re-broadcast: rebuilding it
   elsewhere at once only ends as ScoreSkipped). The leader computes and
   signs, asks as many peers as k still needs to co-sign the batch (OracleNode.gather_report: the
   first peers asked also sign the whole batch as one ScoreReport if they co-sign every entry),
   and sends one transaction of at most as many entries as the chain's block gas limit allows:
   `submitReport` with k signatures over the report when k signers signed it whole (the chain
   checks k signatures once, not once per entry), else `submitBatch` with exactly k signatures
   per entry (also when a report would revert as a whole, e.g. after a signer-set change).
   Nothing is posted for an entry that does not reach k.

Double posting: a request is only worked while `pending`; this node's own transactions are
written to the checkpoint before broadcast and re-broadcast (never rebuilt) after a restart; and
two nodes racing on failover sign the same request-bound borrower nonce (the nonce right after
the request's block, read at the step's head once no record has followed the request), so the
chain records only one
(`submitBatch` skips the other with CreditScoreInvalidNonce).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from oracle import faults
from oracle.chain import Chain, CircuitOpen, EstimateReverted, TxSender
from oracle.node import OracleNode, Refusal
from oracle.settings import TX_BASE_GAS, Settings
from oracle.store import Store

log = logging.getLogger("oracle.daemon")


class Daemon:
    def __init__(self, *, settings: Settings, node: OracleNode, chain: Chain, sender: TxSender,
                 store: Store, metrics: Any | None = None,
                 stop: threading.Event | None = None) -> None:
        self.s = settings
        self.node = node
        self.chain = chain
        self.sender = sender
        self.store = store
        self.metrics = metrics
        self.stop = stop or threading.Event()
        self.n = max(1, len(settings.nodes))
        self.me = settings.node_index
        self.last_error: str | None = None
        self.last_step_at: float | None = None
        self._capped_to: int | None = None

    # --- loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        if self.s.faults:
            faults.arm(self.s.faults, self.chain.chain_id)  # refused off development chains
        log.info("daemon started", extra={
            "node_index": self.me, "nodes": self.n, "signer": self.node.signer.address,
            "transmitter": getattr(self.sender, "transmitter", None) and
            self.sender.transmitter.address})
        backoff = self.s.poll_interval_s
        while not self.stop.is_set():
            breaker = self.sender.breaker
            if self.metrics:
                self.metrics.breaker_open.set(1 if breaker.state == "open" else 0)
            if not breaker.allow():
                self.stop.wait(min(1.0, breaker.cooldown_s))
                continue
            try:
                self.step()
                breaker.success()
                backoff = self.s.poll_interval_s
                self.last_error = None
            except CircuitOpen:
                pass
            except Exception as exc:
                breaker.failure()
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.metrics:
                    self.metrics.loop_errors.inc()
                log.error("daemon step failed", extra={"error": self.last_error})
                backoff = min(backoff * 2, 10.0)
                self.stop.wait(backoff)
                continue
            self.stop.wait(self.s.poll_interval_s)
        log.info("daemon stopped")

    def step(self) -> None:
        t0 = time.perf_counter()
        # One fresh eth_getBlockByNumber per step: the block number here, and the clock and gas
        # limit that work() and post() read from its cache.
        head, _ = self.chain.head(max_age_s=0)
        self.scan(head)
        t1 = time.perf_counter()
        self.resolve()
        self.settle(head)
        t2 = time.perf_counter()
        if not self.stop.is_set():
            self.work(head)
        t3 = time.perf_counter()
        self.last_step_at = time.time()
        if t3 - t0 > 1.0:
            log.info("slow step", extra={"scan_ms": round((t1 - t0) * 1e3),
                                         "resolve_ms": round((t2 - t1) * 1e3),
                                         "work_ms": round((t3 - t2) * 1e3)})

    # --- 1. scan --------------------------------------------------------------------------------
    def scan(self, head: int) -> None:
        """Read [cursor+1, head-confirmations] in ranges. Each range is checked against the
        stored chain first: the parent of its first block must be the block the cursor stands on
        (else a reorg replaced it: rewind to the fork point and read again), and its last block
        must be the same before and after the eth_getLogs (else the chain moved under the read:
        try again next step). The hashes of both ends and of every block with a log are stored
        with the cursor."""
        safe = head - self.s.confirmations
        cursor = self.store.get_cursor()
        start = cursor + 1 if cursor is not None else (self.s.start_block or 0)
        while start <= safe and not self.stop.is_set():
            end = min(safe, start + self.s.max_block_range - 1)
            first = self.chain.header(start)
            if first is None:
                return  # the head went back under us; the next step sees the new chain
            known = self.store.block_hash(start - 1)
            if known is not None and first["parent_hash"] != known:
                start = self.rewind(start - 1, head) + 1
                continue
            last = first if end == start else self.chain.header(end)
            if last is None:
                return
            reqs = self.chain.score_requests(start, end)
            recs = self.chain.score_recorded(start, end)
            again = self.chain.header(end)
            ends = {start: first["hash"], end: last["hash"]}
            if (again is None or again["hash"] != last["hash"]
                    or any(e.blockHash and e.blockNumber in ends and e.blockHash != ends[e.blockNumber]
                           for e in (*reqs, *recs))):
                log.warning("chain moved during the scan; reading again", extra={
                    "from_block": start, "to_block": end})
                return
            hashes = dict(ends)
            hashes.update((e.blockNumber, e.blockHash) for e in (*reqs, *recs) if e.blockHash)
            self.store.record_events(
                [(int(e.args.loanId), e.args.borrower, e.blockNumber, e.logIndex,
                  "0x" + bytes(e.transactionHash).hex(), e.blockHash) for e in reqs],
                [_recorded_tuple(e) for e in recs],
                cursor=end, block_hashes=sorted(hashes.items()),
            )
            if reqs:
                log.info("score requests seen", extra={
                    "from_block": start, "to_block": end,
                    "loan_ids": [int(e.args.loanId) for e in reqs]})
                if self.metrics:
                    self.metrics.requests_seen.inc(len(reqs))
            if self.metrics:
                self.metrics.last_block.set(end)
            start = end + 1

    def rewind(self, mismatch: int, head: int) -> int:
        """Block `mismatch` (read before) is no longer canonical: find the newest stored block
        that still is and forget everything read after it. Returns the fork point."""
        stored = [(n, h) for n, h in self.store.block_hashes() if n <= mismatch]
        canonical = self.chain.canonical_hashes([n for n, _ in stored])
        fork = next((n for n, h in stored if canonical.get(n) == h), None)
        if fork is None:
            # deeper than every hash kept: the last final block (reorgs stop there by definition)
            fork = max(min((n for n, _ in stored), default=mismatch) - 1,
                       self.chain.final_block(head), (self.s.start_block or 0) - 1)
            log.error("reorg deeper than the stored block hashes", extra={
                "block": mismatch, "rewind_to": fork})
        counts = self.store.rewind(fork, hold_until=head + self.s.failover_blocks)
        if self.metrics:
            self.metrics.reorgs.inc()
            self.metrics.records_reopened.inc(counts["requests_reopened"])
        log.warning("reorg: rewound the scan", extra={
            "mismatch_block": mismatch, "fork_block": fork, "depth": mismatch - fork, **counts})
        return fork

    # --- 2. resolve -----------------------------------------------------------------------------
    def resolve(self) -> None:
        for sub, receipt in self.sender.resolve():
            recorded = self.chain.decode_recorded(receipt)
            skipped = self.chain.decode_skipped(receipt)
            faults.hit("before_done")
            # One transaction: the latest score per borrower, and the requests it satisfies
            # `recorded` (done once its block is final).
            self.store.record_events([], [_recorded_tuple(e) for e in recorded], cursor=None)
            if self.metrics:
                self.metrics.recorded.inc(len(recorded))
                self.metrics.skipped.inc(len(skipped))
            if receipt["status"] != 1:
                why = self.chain.revert_reason(sub.tx_hash, receipt["blockNumber"])
                reason = f"transaction {sub.tx_hash} reverted" + (f": {why}" if why else "")
                log.warning("transaction reverted", extra={"tx_hash": sub.tx_hash, "reason": why,
                                                           "kind": sub.kind})
                for a in sub.attestations:
                    self.fail(a["borrower"], reason)
            if skipped:
                log.warning("batch entries skipped", extra={
                    "tx_hash": sub.tx_hash, "nonce": sub.account_nonce,
                    "borrowers": [e.args.borrower for e in skipped]})

    def settle(self, head: int) -> None:
        """Requests whose record's block is now final: `done` if that block is still canonical,
        else `pending` again (a reorg above the scan cursor took the record, e.g. one seen in a
        receipt or by a stand-down). Block hashes under the final block are dropped, the
        cursor's kept."""
        final = self.chain.final_block(head)
        if final < 0:
            return
        due = self.store.records_to_settle(final)
        if due:
            faults.hit("before_done")
            counts = self.store.settle_records(self.chain.canonical_hashes(
                sorted({n for n, _ in due})), hold_until=head + self.s.failover_blocks)
            if counts["reopened"]:
                if self.metrics:
                    self.metrics.records_reopened.inc(counts["reopened"])
                log.warning("records gone in a reorg: requests pending again", extra=counts)
        cursor = self.store.get_cursor()
        if cursor is not None:
            self.store.prune_blocks(min(final, cursor))

    # --- 3. work --------------------------------------------------------------------------------
    def batch_size(self) -> int:
        """ORACLE_BATCH_SIZE, or fewer if the chain's blocks cannot hold that many: a transaction
        over the block gas limit is refused by the RPC or never mined (the settings check only
        the configured ORACLE_BLOCK_GAS_LIMIT; this is the chain's own)."""
        limit = self.chain.block_gas_limit()
        if not limit:
            return self.s.batch_size
        fits = max(1, (limit - TX_BASE_GAS) // self.s.gas_limit_per_attestation)
        if fits < self.s.batch_size and fits != self._capped_to:
            log.warning("batch size capped to fit the chain's block gas limit", extra={
                "batch_size": self.s.batch_size, "capped_to": fits, "block_gas_limit": limit})
        self._capped_to = fits if fits < self.s.batch_size else None
        return min(self.s.batch_size, fits)

    def work(self, head: int) -> None:
        batch_size = self.batch_size()
        inflight = self.store.inflight()
        busy = {a["borrower"] for sub in inflight for a in sub.attestations}
        held = self.store.held(head)
        if self.metrics:
            self.metrics.inflight.set(len(inflight))
        by_borrower: dict[str, list[dict]] = {}
        pending = self.store.pending_requests()
        if self.metrics:
            self.metrics.pending.set(len(pending))
        for req in pending:
            by_borrower.setdefault(req["borrower"], []).append(req)

        due: list[tuple[str, list[int], int]] = []
        mine: list[tuple[str, list[dict]]] = []
        candidates = []
        for borrower, reqs in by_borrower.items():
            if borrower in busy or borrower in held:
                continue
            first = reqs[0]
            attempt = max(0, head - first["block"]) // self.s.failover_blocks
            if (first["loan_id"] + attempt) % self.n != self.me:
                continue
            candidates.append((borrower, reqs, attempt))
            if len(candidates) >= batch_size:
                break
        # Records up to the scan cursor already marked their requests done; one eth_getLogs over
        # the blocks after it, up to this step's head, finds the rest (a failover node whose
        # leader has posted meanwhile, or a record the scan has not reached yet): stand down.
        cursor = self.store.get_cursor()
        since = cursor + 1 if cursor is not None else (self.s.start_block or 0)
        recorded = self._recorded_between(since, head) if candidates and since <= head else {}
        for borrower, reqs, attempt in candidates:
            first = reqs[0]
            later = [rec for rec in recorded.get(borrower, ())
                     if rec[:2] > (first["block"], first["log_index"])]
            if later:
                self.store.mark_recorded(borrower, *later[-1])
                if self.metrics:
                    self.metrics.stand_downs.inc()
                log.info("stands down: already recorded", extra={
                    "borrower": borrower, "loan_id": first["loan_id"], "attempt": attempt})
                continue
            mine.append((borrower, reqs))
        # The chain's own word before asking peers: a borrower with no open request would be
        # refused by every peer ("no open loan request") on every step. Its record may simply lie
        # past `head` (the next step's stand-down finds it), or the request is one this node
        # holds but the chain no longer does: a failure either way, so it backs off and is
        # dead-lettered after `dead_letter_after` instead of being retried for ever.
        is_open = self.chain.scores_requested([b for b, _ in mine]) if mine else {}
        for borrower, reqs in [m for m in mine if not is_open[m[0]]]:
            log.warning("no open request on chain; not signing", extra={
                "borrower": borrower, "loan_ids": [r["loan_id"] for r in reqs]})
            self.fail(borrower, "the chain shows no open loan request for the borrower")
        mine = [m for m in mine if is_open[m[0]]]
        # The nonce is bound to the request: the borrower's nonce right after the request's
        # block, which — no record having followed the request up to `head` — is its nonce at
        # `head`. Every node derives the same one, so two nodes racing (failover, or a restart)
        # can only ever sign the same nonce and the chain records one of them. Read at `head`,
        # not at the request's block: old state is slow on anvil and gone on a pruned node.
        bound = self.chain.nonces_at([(b, head) for b, _ in mine])
        for (borrower, reqs), nonce in zip(mine, bound):
            due.append((borrower, [r["loan_id"] for r in reqs], nonce))

        if due:
            self.post(due)

    def fail(self, borrower: str, reason: str) -> None:
        """One more failure of the borrower's pending requests: back off, or dead-letter."""
        counts = self.store.defer(borrower, reason, self.s.retry_backoff_s,
                                  self.s.dead_letter_after)
        if counts["dead"]:
            if self.metrics:
                self.metrics.dead_letters.inc(counts["dead"])
            log.error("request dead-lettered", extra={"borrower": borrower, "reason": reason,
                                                      "requests": counts["dead"]})

    def _recorded_between(self, start: int, end: int) -> dict[str, list[tuple[int, int]]]:
        out: dict[str, list[tuple[int, int]]] = {}
        for e in self.chain.score_recorded(start, end):
            out.setdefault(e.args.borrower, []).append(
                (e.blockNumber, e.logIndex, e.blockHash, "0x" + bytes(e.transactionHash).hex()))
        return out

    def post(self, due: list[tuple[str, list[int], int]]) -> str | None:
        t_start = time.perf_counter()
        now = self.chain.now()
        batch, loans = [], {}
        for borrower, loan_ids, nonce in due:
            try:
                t0 = time.perf_counter()
                signed = self.node.attest_local(borrower, now=now, nonce=nonce)
                if self.metrics:
                    self.metrics.score_latency.observe(time.perf_counter() - t0)
            except Refusal as exc:
                log.warning("cannot attest", extra={"borrower": borrower, "loan_ids": loan_ids,
                                                    "reason": str(exc)})
                if exc.unscorable:
                    self.fail(borrower, f"cannot score: {exc}")
                continue
            batch.append(signed)
            loans[signed.att.borrower] = loan_ids
        t_built = time.perf_counter()
        if len(batch) > 1:
            ready, report_sigs = self.node.gather_report(batch)
        else:
            ready, report_sigs = self.node.gather(batch), None
        t_gathered = time.perf_counter()
        _, k = self.node.signer_set()
        ready_ids = {id(s) for s in ready}
        short = [s.att.borrower for s in batch if id(s) not in ready_ids]
        if short:
            log.warning("not enough signatures; not posting", extra={
                "borrowers": short, "threshold": k,
                "loan_ids": [i for b in short for i in loans[b]]})
        if not ready:
            return None
        loan_ids = [i for s in ready for i in loans[s.att.borrower]]
        kind, tx_hash = "submitReport", None
        if report_sigs is not None:  # k signers signed the whole batch as one report: cheaper
            try:
                tx_hash = self.sender.submit_report(ready[0].att.configDigest, [s.att for s in ready],
                                                    report_sigs, loan_ids)
            except EstimateReverted as exc:
                # a report reverts as a whole (e.g. the signer set changed since it was signed);
                # the entries' own signatures go by submitBatch, which skips entry by entry
                log.info("report would revert; sending the entries' own signatures", extra={
                    "loan_ids": loan_ids, "reason": str(exc)[:300]})
        if tx_hash is None:
            kind = "submitBatch"
            try:
                tx_hash = self.sender.submit_batch([s.att for s in ready],
                                                   [s.ordered(k) for s in ready], loan_ids)
            except EstimateReverted as exc:
                # the chain says it would revert: nothing was signed or sent. A batch is tried
                # again entry by entry, so one bad entry cannot hold back the others; an entry that
                # would revert on its own counts a failure (backed off, dead-lettered after
                # `dead_letter_after`)
                log.warning("would revert; not sent", extra={"loan_ids": loan_ids,
                                                              "reason": str(exc)[:300]})
                if len(ready) == 1:
                    self.fail(ready[0].att.borrower, f"would revert: {exc}"[:500])
                    return None
                sent = None
                for s in ready:
                    try:
                        sent = self.sender.submit_batch([s.att], [s.ordered(k)],
                                                        loans[s.att.borrower])
                    except EstimateReverted as one:
                        self.fail(s.att.borrower, f"would revert: {one}"[:500])
                return sent
        if self.metrics:
            self.metrics.tx_sent.inc()
        log.info("batch posted", extra={
            "tx_hash": tx_hash, "kind": kind, "count": len(ready), "loan_ids": loan_ids,
            "nonces": [s.att.nonce for s in ready],
            "build_ms": round((t_built - t_start) * 1e3, 1),
            "gather_ms": round((t_gathered - t_built) * 1e3, 1),
            "send_ms": round((time.perf_counter() - t_gathered) * 1e3, 1)})
        return tx_hash


def _recorded_tuple(e: Any) -> tuple:
    a = e.args
    tx_hash = getattr(e, "transactionHash", None)
    return (a.borrower, e.blockNumber, e.logIndex, int(a.issuedAt), int(a.validUntil),
            int(a.nonce), getattr(e, "blockHash", None),
            "0x" + bytes(tx_hash).hex() if tx_hash is not None else None)

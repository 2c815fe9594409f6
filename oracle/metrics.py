"""Prometheus metrics of one oracle process (own registry, served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.signed = Counter("oracle_signatures_total", "Attestations signed", ["role"], registry=r)
        self.refused = Counter("oracle_cosign_refused_total", "Peer proposals refused", registry=r)
        self.peer_errors = Counter("oracle_peer_errors_total", "Peers unreachable", registry=r)
        self.requests_seen = Counter("oracle_score_requests_total", "ScoreRequested seen",
                                     registry=r)
        self.recorded = Counter("oracle_scores_recorded_total", "Scores recorded by our txs",
                                registry=r)
        self.skipped = Counter("oracle_scores_skipped_total", "Batch entries skipped", registry=r)
        self.tx_sent = Counter("oracle_tx_sent_total", "Transactions broadcast", registry=r)
        self.tx_mined = Counter("oracle_tx_mined_total", "Our transactions found in a block, by "
                                "receipt status (mined/reverted)", ["status"], registry=r)
        self.stand_downs = Counter(
            "oracle_failover_stand_downs_total",
            "Requests this node led but found already recorded on chain (stood down)", registry=r)
        self.reorgs = Counter("oracle_reorgs_total", "Scan rewinds on a parent-hash mismatch",
                              registry=r)
        self.tx_reorged = Counter("oracle_tx_reorged_total", "Our confirmed transactions whose "
                                  "receipt disappeared (back in flight, re-broadcast)", registry=r)
        self.records_reopened = Counter(
            "oracle_records_reopened_total",
            "Requests whose record was in a block a reorg replaced (pending again)", registry=r)
        self.send_errors = Counter("oracle_send_errors_total", "eth_sendRawTransaction refusals "
                                   "by class (oracle.chain.send_errors)", ["class"], registry=r)
        self.balance = Gauge("oracle_transmitter_balance_eth", "The transmitter key's balance",
                             registry=r)
        self.dead_letters = Counter("oracle_dead_letters_total", "Requests set aside after "
                                    "repeated failures (no features, schema, reverts)", registry=r)
        self.tx_cancelled = Counter("oracle_tx_cancelled_total", "Stale transactions (never "
                                    "broadcast, or taken back by a reorg and no longer recording "
                                    "every entry) whose nonce went to a 0-value cancel", registry=r)
        self.loop_errors = Counter("oracle_loop_errors_total", "Daemon loop failures", registry=r)
        self.last_block = Gauge("oracle_last_processed_block", "Checkpoint cursor", registry=r)
        self.pending = Gauge("oracle_pending_requests", "Requests not yet satisfied", registry=r)
        self.inflight = Gauge("oracle_inflight_transactions", "Transactions in flight", registry=r)
        self.breaker_open = Gauge("oracle_circuit_open", "1 when the breaker is open", registry=r)
        self.http_refused = Counter(
            "oracle_http_refused_total", "HTTP requests refused before any work, by reason "
            "(unauthenticated, forbidden, replayed, no_open_request, rate_limited, "
            "body_too_large, busy)", ["reason"], registry=r)
        self.pulls_served = Counter("oracle_pulls_served_total", "Authorised pulls answered, by "
                                    "source (cache/gathered)", ["source"], registry=r)
        self.drift_psi = Gauge("oracle_drift_psi", "PSI of the score / CSI of a feature over the "
                               "drift window against the model's training reference (warn 0.10, "
                               "alert 0.25)", ["what"], registry=r)
        self.drift_rows = Gauge("oracle_drift_window_rows", "Scores in the drift window",
                                registry=r)
        self.score_latency = Histogram(
            "oracle_score_sign_seconds", "Feature read + inference + signature", registry=r,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5))

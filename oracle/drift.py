"""Live population-stability monitoring of what this node scores (issue 13).

Every score the node computes (its own and the ones it recomputes to co-sign) is counted into the
served model's reference buckets, once per (borrower, nonce) in the window, so retries, co-signs
and a borrower pulling the same score over and over cannot tilt it, (`reference.json` `monitoring`, see `models.monitoring`) over a
sliding window of the last `window` scores. Every `every` scores, once `min_rows` are in the
window, the PSI of the score and the CSI of each feature are computed, exposed as
`oracle_drift_psi{what="score"|"feature:<name>"}`, and a change of level is logged: a warning at
0.10, an error ("alert") at 0.25. Counts are of buckets only (no feature values are kept) and
start again when the served model changes or the node restarts (`oracle drift` recomputes the same
report from the feature store at any time).
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import numpy as np

from models import monitoring

log = logging.getLogger(__name__)


class DriftMonitor:
    def __init__(self, *, window: int = 5000, min_rows: int = 500, every: int = 100,
                 metrics: Any | None = None) -> None:
        self.window, self.min_rows, self.every = window, min_rows, every
        self.metrics = metrics
        self._lock = threading.Lock()
        self._model_id: bytes | None = None
        self._spec: dict | None = None
        self._names: list[str] = []
        self._rows: deque = deque()  # (key, bucket indices) of each counted score
        self._keys: set = set()      # the keys in the window
        self._specs: list[dict] = []
        self._counts: list[np.ndarray] = []
        self._seen = 0
        self._level = "ok"
        self.last: dict | None = None

    def _reset(self, model: Any) -> None:
        self._model_id = model.model_id
        self._spec = getattr(model.bundle, "monitoring", None)
        self._names = [f["name"] for f in model.schema["features"]]
        self._rows.clear()
        self._keys.clear()
        self._seen, self._level, self.last = 0, "ok", None
        if self._spec:
            self._specs = [self._spec["score"]] + [self._spec["features"][n] for n in self._names]
            self._counts = [np.zeros(monitoring.n_buckets(s), dtype=np.int64) for s in self._specs]

    def observe(self, model: Any, vector: np.ndarray, score: int, key: Any = None) -> None:
        """Count one scored row (bucket indices only), unless `key` (the borrower and nonce) is
        already in the window."""
        with self._lock:
            if model.model_id != self._model_id:
                self._reset(model)
            if not self._spec or (key is not None and key in self._keys):
                return
            values = np.concatenate([[float(score)], np.asarray(vector, dtype=np.float64)])
            idx = tuple(int(monitoring.buckets(s, np.array([v]))[0])
                        for s, v in zip(self._specs, values))
            self._rows.append((key, idx))
            if key is not None:
                self._keys.add(key)
            for c, i in zip(self._counts, idx):
                c[i] += 1
            if len(self._rows) > self.window:
                old_key, old_idx = self._rows.popleft()
                self._keys.discard(old_key)
                for c, i in zip(self._counts, old_idx):
                    c[i] -= 1
            self._seen += 1
            due = self._seen % self.every == 0 and len(self._rows) >= self.min_rows
            report = self._report_locked() if due else None
        if report is not None:
            self._publish(report)

    def _report_locked(self) -> dict:
        values = [monitoring.psi(s["expected"], c) for s, c in zip(self._specs, self._counts)]
        feats = {n: {"psi": round(v, 4), "level": monitoring.level(v)}
                 for n, v in zip(self._names, values[1:])}
        worst = max(values)
        return {"model_id": "0x" + self._model_id.hex(), "rows": len(self._rows),
                "score": {"psi": round(values[0], 4), "level": monitoring.level(values[0])},
                "features": feats, "level": monitoring.level(worst)}

    def report(self) -> dict | None:
        """The current window's report (None before any scored row of a monitored model)."""
        with self._lock:
            if not self._spec or not self._rows:
                return None
            return self._report_locked()

    def _publish(self, report: dict) -> None:
        self.last = report
        if self.metrics:
            self.metrics.drift_rows.set(report["rows"])
            self.metrics.drift_psi.labels("score").set(report["score"]["psi"])
            for name, f in report["features"].items():
                self.metrics.drift_psi.labels(f"feature:{name}").set(f["psi"])
        if report["level"] != self._level:
            self._level = report["level"]
            shifted = {n: f["psi"] for n, f in report["features"].items() if f["level"] != "ok"}
            extra = {"level": report["level"], "rows": report["rows"],
                     "score_psi": report["score"]["psi"], "features": shifted}
            if report["level"] == "alert":
                log.error("population drift alert (PSI >= 0.25): review the model", extra=extra)
            elif report["level"] == "warn":
                log.warning("population drift (PSI >= 0.10)", extra=extra)
            else:
                log.info("population stable again (PSI < 0.10)", extra=extra)

"""One oracle node: recomputes scores from its own features and model, signs, co-signs for peers,
and gathers k signatures. I/O is injected (store, chain, peer client) so tests can drive it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

from oracle import attest, auth, keys, request_types, typed_data
from oracle.scoring import Model, ModelGuard, ModelLoadError, ModelNotApproved, ModelSchemaNotReady, Prediction
from oracle.store import Store, UnknownBorrower
from oracle.typed_data import FeaturesAttestation, ScoreAttestation

log = logging.getLogger("oracle.node")


class Refusal(Exception):
    """This node will not sign; `reasons` says why (returned to the caller as a 4xx)."""

    def __init__(self, reasons: list[str] | str, status: int = 422,
                 unscorable: bool = False) -> None:
        self.reasons = [reasons] if isinstance(reasons, str) else list(reasons)
        self.status = status
        # the borrower's own data is the problem (no features, another schema), not the node:
        # the daemon backs off this borrower and finally dead-letters the request
        self.unscorable = unscorable
        super().__init__("; ".join(self.reasons))


@dataclass
class Signed:
    att: ScoreAttestation | FeaturesAttestation
    prediction: Prediction | None
    signatures: dict[str, bytes] = field(default_factory=dict)  # signer address -> signature

    def ordered(self, k: int) -> list[bytes]:
        """Exactly k signatures (the contract rejects extras that are not registered), in signer
        address order."""
        return [self.signatures[a] for a in sorted(self.signatures, key=lambda s: int(s, 16))[:k]]

    def to_json(self, k: int | None = None) -> dict[str, Any]:
        sigs = self.ordered(k) if k else [self.signatures[a] for a in sorted(self.signatures)]
        out: dict[str, Any] = {"attestation": self.att.to_json(),
                               "signatures": ["0x" + s.hex() for s in sigs]}
        if self.prediction is not None:
            out["score_band"] = self.prediction.band
            out["reason_codes"] = list(self.prediction.reason_codes)
        return out


class OracleNode:
    def __init__(self, *, signer: keys.DigestSigner, store: Store, model: Model, guard: ModelGuard,
                 chain: Any, policy: attest.Policy, peers: list[str] | None = None,
                 peer_timeout_s: float = 5.0, signer_set_ttl_s: float = 10.0,
                 metrics: Any | None = None, drift: Any | None = None) -> None:
        self.signer = signer
        self.drift = drift  # oracle.drift.DriftMonitor: counts what this node scores
        self.store = store
        self.model = model
        self.guard = guard
        self.chain = chain
        self.policy = policy
        self.peers = peers or []
        self.peer_timeout_s = peer_timeout_s
        self.metrics = metrics
        self._separator: bytes | None = None
        self._request_separator: bytes | None = None
        self._signer_set: tuple[frozenset[str], int, bytes, float] | None = None
        self._signer_set_ttl = signer_set_ttl_s
        self._lock = threading.Lock()
        self._http = requests.Session()
        # The daemon's own pool for asking peers; pulls bring theirs (oracle.http), so a flood of
        # pulls queues there and never in front of the daemon's gathers.
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.peers)),
                                        thread_name_prefix="peer")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    # --- chain facts (cached) --------------------------------------------------------------------
    @property
    def separator(self) -> bytes:
        if self._separator is None:
            self._separator = typed_data.domain_separator(self.chain.chain_id,
                                                          self.chain.registry.address)
        return self._separator

    @property
    def request_separator(self) -> bytes:
        """The EIP-712 domain of requests to nodes (oracle.request_types), not of attestations."""
        if self._request_separator is None:
            self._request_separator = request_types.domain_separator(
                self.chain.chain_id, self.chain.registry.address)
        return self._request_separator

    def signer_set(self) -> tuple[frozenset[str], int]:
        """(registered signers, threshold k), cached for a few seconds."""
        signers, k, _ = self._config()
        return signers, k

    def config_digest(self) -> bytes:
        """The registry's signer-set config digest that this node signs under (cached as above;
        after a change, what was signed under the old one is skipped on chain and re-signed)."""
        return self._config()[2]

    def _config(self) -> tuple[frozenset[str], int, bytes]:
        with self._lock:
            cached = self._signer_set
        if cached is None or time.monotonic() - cached[3] > self._signer_set_ttl:
            signers, k, digest = self.chain.signer_config()
            cached = (frozenset(signers), k, digest, time.monotonic())
            with self._lock:
                self._signer_set = cached
        return cached[0], cached[1], cached[2]

    # --- compute ---------------------------------------------------------------------------------
    def compute(self, borrower: str, *, nonce: int | None = None,
                now: int | None = None) -> tuple[ScoreAttestation, Prediction]:
        """This node's own attestation for `borrower` (raises Refusal if it cannot make one)."""
        model, feats, pred, _, nonce = self._score(borrower, nonce)
        if now is None:
            now = self.chain.now()
        att = attest.build_attestation(
            borrower=feats.address, model_id=model.model_id,
            features_hash=feats.features_hash, pd_bps=pred.pd_bps, score=pred.score,
            reason_codes=pred.reason_codes_packed, nonce=nonce, now=now, policy=self.policy,
            config_digest=self.config_digest())
        return att, pred

    def compute_features(self, borrower: str, *, nonce: int | None = None,
                         now: int | None = None) -> tuple[FeaturesAttestation, Prediction]:
        """This node's own FeaturesAttestation for `borrower` (the signed half of a proven score):
        the commitment of the row the circuit proves, blinded by the borrower's salt. Only for a
        zk-scored model (Refusal otherwise)."""
        model, feats, pred, scale, nonce = self._score(borrower, nonce)
        if scale is None:
            raise Refusal(f"model {model.model_id_hex} is not zk-scored (ModelRegistry holds no "
                          "circuit for it): its scores are signed, not proven", status=409)
        try:
            commitment = model.features_commitment(feats.vector, feats.salt, scale, feats.address, nonce)
        except ModelLoadError as exc:
            raise Refusal(str(exc), status=503) from None
        att = attest.build_features_attestation(
            borrower=feats.address, model_id=model.model_id, commitment=commitment,
            reason_codes=pred.reason_codes_packed,
            nonce=nonce, now=self.chain.now() if now is None else now, policy=self.policy,
            config_digest=self.config_digest())
        return att, pred

    def _score(self, borrower: str, nonce: int | None):
        """(model, stored features, prediction, zk circuit scale or None, nonce) for `borrower`;
        `nonce` read from the chain unless given."""
        model = self.model  # one model for the whole computation, even if a roll-over swaps it
        try:
            feats = self.store.get_features(borrower)
        except UnknownBorrower as exc:
            raise Refusal(str(exc), status=404, unscorable=True) from None
        if feats.schema_hash != model.schema_hash:
            raise Refusal(f"features of {feats.address} were validated against schema "
                          f"{feats.schema_hash}, the model expects {model.schema_hash}; "
                          "re-import them", status=409, unscorable=True)
        try:
            self.guard.check(model.model_id)
        except ModelNotApproved as exc:
            raise Refusal(str(exc), status=409) from None
        scale = self.guard.circuit_scale(model.model_id)
        try:  # a zk-scored model's PD is its circuit's (models.zk.canonical)
            pred = model.predict(feats.vector, circuit_scale=scale)
        except ModelLoadError as exc:
            raise Refusal(str(exc), status=503) from None
        if nonce is None:
            nonce = self.chain.nonce_of(feats.address)
        if self.drift is not None:  # once per request, however often it is recomputed
            self.drift.observe(model, feats.vector, pred.score, key=(feats.address, nonce))
        return model, feats, pred, scale, nonce

    def swap_model(self, new: Model) -> None:
        """Serve `new` from now on — only if ModelRegistry approves it. Requests in flight finish
        on the model they started with. Raises ModelNotApproved (the old model stays) when:
        the registry does not approve it; the registry cannot be asked (fail closed; a SIGHUP
        must never take the node down); or its feature schema differs and stored features do not
        follow it yet (ModelSchemaNotReady: import them validated against the new model first)."""
        if new.schema_hash != self.model.schema_hash and self.store is not None:
            stale = self.store.count_not_under_schema(new.schema_hash)
            if stale:
                raise ModelSchemaNotReady(
                    f"model {new.model_id_hex} expects feature schema {new.schema_hash}; "
                    f"{stale} stored borrowers' features follow another one (import them "
                    "validated against the new model's schema, then reload)")
        self.guard.invalidate()  # ask the chain afresh: the model may have been approved just now
        try:
            self.guard.check(new.model_id)
        except ModelNotApproved:
            raise
        except Exception as exc:  # RPC down or garbage: the exception text may carry the RPC URL
            raise ModelNotApproved(f"cannot ask ModelRegistry about {new.model_id_hex} "
                                   f"({type(exc).__name__}); keeping the current model") from None
        self.model = new

    def digest_of(self, att: ScoreAttestation | FeaturesAttestation) -> bytes:
        if isinstance(att, ScoreAttestation):
            return typed_data.digest(att, self.separator)
        return typed_data.features_digest(att, self.separator)

    def sign(self, att: ScoreAttestation | FeaturesAttestation) -> bytes:
        return self.signer.sign_digest(self.digest_of(att))

    def attest_local(self, borrower: str, *, features: bool = False, **kw: Any) -> Signed:
        """This node's signed attestation for `borrower`: a ScoreAttestation, or with `features`
        a FeaturesAttestation (the signed half of a proven score)."""
        att, pred = (self.compute_features if features else self.compute)(borrower, **kw)
        signed = Signed(att, pred, {self.signer.address: self.sign(att)})
        if self.metrics:
            self.metrics.signed.labels("own").inc()
        return signed

    def cosign(self, proposed: ScoreAttestation | FeaturesAttestation, *, nonce: int | None = None,
               now: int | None = None) -> bytes:
        """Sign a peer's proposal only if this node's own recomputation agrees. `nonce`/`now`
        may be pre-read from chain by the caller (one batch for many proposals)."""
        model = self.model
        if proposed.modelId != model.model_id:
            raise Refusal(f"modelId 0x{proposed.modelId.hex()} is not this node's model "
                          f"{model.model_id_hex}", status=409)
        recompute = self.compute if isinstance(proposed, ScoreAttestation) else self.compute_features
        own, _ = recompute(proposed.borrower, nonce=nonce, now=now)
        problems = attest.disagreements(proposed, own, self.policy)
        if problems:
            if self.metrics:
                self.metrics.refused.inc()
            log.warning("co-sign refused", extra={"borrower": proposed.borrower,
                                                  "nonce": proposed.nonce, "reasons": problems})
            raise Refusal(problems, status=409)
        sig = self.sign(proposed)
        if self.metrics:
            self.metrics.signed.labels("peer").inc()
        return sig

    # --- gather k signatures ---------------------------------------------------------------------
    def gather(self, batch: list[Signed], pool: ThreadPoolExecutor | None = None) -> list[Signed]:
        """Collect k signatures per entry, asking only as many peers as are still missing: first
        the next k-1 peers in ring order, all at once (one request each for the whole batch), then
        the following ones for entries a peer refused or could not sign. Keeps valid signatures
        from registered, distinct signers; returns the entries that reached k.

        Asking every peer would cost n-1 recomputes per entry instead of k-1, and the recompute
        is the largest part of a node's CPU (profiled with py-spy under the throughput bench).
        `pool`: the threads that ask the peers (default: the daemon's)."""
        return self._gather(batch, pool, report=False)[0]

    def gather_report(self, batch: list[Signed],
                      pool: ThreadPoolExecutor | None = None) -> tuple[list[Signed], list[bytes] | None]:
        """As gather, and the first wave's peers also sign the whole batch as one ScoreReport
        (a peer does so only if it co-signs every entry). Returns (the entries that reached k,
        k report signatures in signer order over every entry of `batch`, or None if fewer than
        k signers signed the whole batch: then only submitBatch can carry it)."""
        return self._gather(batch, pool, report=True)

    def sign_report(self, atts: list[ScoreAttestation]) -> bytes:
        """This node's signature over the ScoreReport of `atts` (their configDigest is the report's)."""
        return self.signer.sign_digest(
            typed_data.report_digest(atts[0].configDigest, atts, self.separator))

    def _gather(self, batch: list[Signed], pool: ThreadPoolExecutor | None,
                report: bool) -> tuple[list[Signed], list[bytes] | None]:
        if not batch:
            return [], None
        signers, k = self.signer_set()
        if self.signer.address not in signers:
            raise Refusal(f"this node's key {self.signer.address} is not a registered signer",
                          status=503)
        atts = [s.att for s in batch]
        report_digest = None
        reports: dict[str, bytes] = {}
        features = isinstance(atts[0], FeaturesAttestation)  # a batch is of one kind
        if report and not features:
            try:
                report_digest = typed_data.report_digest(atts[0].configDigest, atts, self.separator)
                reports[self.signer.address] = self.signer.sign_digest(report_digest)
            except typed_data.AttestationError:  # entries under different config digests
                report_digest = None
        need = [s for s in batch if len(s.signatures) < k]
        queue = list(self.peers)
        while need and queue:
            missing = max(k - len(s.signatures) for s in need)
            wave, queue = queue[:missing], queue[missing:]
            body: dict[str, Any] = {"attestations": [s.att.to_json() for s in need]}
            if features:
                body["kind"] = "features"
            whole = report_digest is not None and len(need) == len(batch)
            if whole:
                body["report"] = True
            futures = [(pool or self._pool).submit(self._ask_peer, url, body) for url in wave]
            for url, fut in zip(wave, futures):
                try:
                    answer = fut.result(timeout=self.peer_timeout_s + 1)
                except Exception as exc:
                    log.warning("peer unavailable", extra={"peer": url, "error": str(exc)})
                    if self.metrics:
                        self.metrics.peer_errors.inc()
                    continue
                results = answer.get("results") if isinstance(answer, dict) else None
                if not isinstance(results, list) or len(results) != len(need):
                    log.warning("peer answered malformed", extra={"peer": url})
                    continue
                for entry, res in zip(need, results):
                    self._accept(entry, res, signers, url)
                if whole and answer.get("report_signature"):
                    self._accept_report(reports, report_digest, answer["report_signature"], signers, url)
            need = [s for s in need if len(s.signatures) < k]
        ready = [s for s in batch if len(s.signatures) >= k]
        if len(reports) < k or len(ready) < len(batch):
            return ready, None
        return ready, [reports[a] for a in sorted(reports, key=lambda s: int(s, 16))[:k]]

    def _accept_report(self, reports: dict[str, bytes], digest: bytes, raw: Any,
                       signers: frozenset[str], url: str) -> None:
        try:
            sig = bytes.fromhex(str(raw).removeprefix("0x"))
            who = keys.recover(digest, sig)
        except ValueError as exc:
            log.warning("peer sent a bad report signature", extra={"peer": url, "error": str(exc)})
            return
        if who in signers and who not in reports:
            reports[who] = sig
        else:
            log.warning("report signature from an unregistered or repeated signer",
                        extra={"peer": url, "signer": who})

    def _ask_peer(self, url: str, body: dict) -> dict:
        """POST the batch to a peer's listener, signed with this node's key (oracle.auth); its
        answer: {"results": [...], "report_signature"?: ...}."""
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = {"content-type": "application/json",
                   **auth.peer_headers(self.signer, self.request_separator, data,
                                       int(time.time()))}
        r = self._http.post(url.rstrip("/") + auth.SIGN_PATH, data=data, headers=headers,
                            timeout=self.peer_timeout_s)
        r.raise_for_status()
        return r.json()

    def _accept(self, entry: Signed, res: Any, signers: frozenset[str], url: str) -> None:
        if not isinstance(res, dict) or "signature" not in res:
            reason = res.get("error") if isinstance(res, dict) else res
            log.info("peer refused", extra={"peer": url, "borrower": entry.att.borrower,
                                            "nonce": entry.att.nonce, "reason": reason})
            return
        try:
            sig = bytes.fromhex(str(res["signature"]).removeprefix("0x"))
            who = keys.recover(self.digest_of(entry.att), sig)
        except ValueError as exc:
            log.warning("peer sent a bad signature", extra={"peer": url, "error": str(exc)})
            return
        if who not in signers:
            log.warning("peer signer not registered", extra={"peer": url, "signer": who})
            return
        entry.signatures.setdefault(who, sig)

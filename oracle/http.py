"""HTTP API of one node (FastAPI): three apps for three listeners, so that who may reach what is
decided by the network as well as by signatures.

Public listener (borrowers; body cap `public_max_body_bytes`, per-IP rate limit
`public_rate_limit`, connection cap `public_max_concurrency`):

* ``POST /v1/score`` — ``{"request": ScoreRequest, "signature", ["delegation"]}`` (see
  `oracle.auth`, `oracle.pull_client`): only the borrower, or an address the borrower delegated,
  gets the borrower's k-signed attestation ``{attestation, signatures[k], digest, score_band,
  reason_codes}``, and only while the borrower has an open loan request. 401 unsigned, badly signed
  or expired; 403 someone else's; 409 replayed, no open loan request, model not approved or schema
  mismatch; 404 no features; 413 body too large; 422 malformed; 429 rate limited; 503 fewer than
  k signatures. Results are cached per (borrower, nonce, model, signer config) for
  `pull_cache_ttl_s`, and gathered on the node's pull worker pool, never the daemon's.
  With ``"proof": true`` (a zk-scored model, a node with ``zk_circuit_dir``): a proof instead of a
  signed PD, ``{featuresAttestation, signatures[k], digest, proof, logit, pdBps, score, ...}``,
  what CreditScoreRegistry.submitProven takes (oracle.proving.pulled_proof); one proof at a time
  per node (503 while busy), 409 for a model without a circuit or a node without its directory.
* ``GET /v1/score/{borrower}`` — 401: an unsigned pull is refused.

Peer listener (`peer_max_body_bytes`): ``POST /v1/sign`` ``{"attestations": [...]}`` (at most 500),
signed by a registered signer's node key (`oracle.auth.verify_peer`); answers ``{"results":
[{"signature", "signer"} | {"error", "reasons", "status"}, ...]}`` in order. An entry is signed
only if its borrower has an open loan request and this node's own recomputation gives the
identical attestation. ``"kind": "features"``: FeaturesAttestations, each signed only if this
node's own commitment of the borrower's features is the one proposed.

Admin listener: ``GET /healthz`` (503 when the daemon loop is unhealthy), ``GET /metrics``,
``GET /drift`` (population stability of what the node scored, oracle.drift).

No answer or log line carries a score unless it is the authorised borrower's own result, nor an
RPC URL or a secret (chain errors are reported by kind only).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
import threading
from typing import Any, Literal

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from oracle import auth, logs, request_types, typed_data
from oracle.auth import AuthError, ReplayGuard
from oracle.http_limits import BodyLimit, RateLimit, ResultCache, answer
from oracle.node import OracleNode, Refusal
from oracle.settings import Settings
from oracle.typed_data import AttestationError, FeaturesAttestation, ScoreAttestation

MAX_BATCH = 500
_REFUSAL_REASON = {401: "unauthenticated", 403: "forbidden", 409: "replayed", 503: "busy"}


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attestations: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_BATCH)
    # Also sign the attestations, in this order, as one ScoreReport (only if every one is co-signed).
    report: bool = False
    # "features": FeaturesAttestations (the signed half of a proven score), never in a report
    kind: Literal["score", "features"] = "score"


def _base_app(title: str) -> FastAPI:
    app = FastAPI(title=title, version="1", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "details": errors}, status_code=422)

    return app


def _refused(exc: AuthError, metrics: Any | None) -> JSONResponse:
    if metrics is not None:
        metrics.http_refused.labels(_REFUSAL_REASON.get(exc.status, "malformed")).inc()
    return JSONResponse({"error": exc.reason}, status_code=exc.status)


def _chain_down(exc: Exception) -> JSONResponse:
    # The exception text of an RPC failure may carry the provider URL (and its key): kind only.
    return JSONResponse({"error": f"chain unavailable ({type(exc).__name__})"}, status_code=503)


class RequestDomain:
    """The requests' EIP-712 domain separator, read from the chain once (chain id, registry)."""

    def __init__(self, node: OracleNode) -> None:
        self.node = node
        self._sep: bytes | None = None

    @property
    def separator(self) -> bytes:
        if self._sep is None:
            self._sep = request_types.domain_separator(self.node.chain.chain_id,
                                                       self.node.chain.registry.address)
        return self._sep


# --- public -----------------------------------------------------------------------------------------
def create_public_app(node: OracleNode, s: Settings, *, metrics: Any | None = None,
                      pool: ThreadPoolExecutor | None = None) -> Any:
    app = _base_app("Scorechain oracle (public)")
    domain = RequestDomain(node)
    replay = ReplayGuard(s.replay_cache_size)
    cache = ResultCache()
    pool = pool or ThreadPoolExecutor(max_workers=s.pull_workers, thread_name_prefix="pull")
    app.state.pull_pool = pool

    @app.get("/v1/score/{borrower}")
    def unsigned_pull(borrower: str) -> JSONResponse:
        return _refused(AuthError("pull requests must be signed by the borrower: POST /v1/score "
                                  "with a ScoreRequest (see oracle/pull_client.py)"), metrics)

    @app.post("/v1/score")
    def pull(body: dict[str, Any]) -> JSONResponse:
        try:
            borrower, _ = auth.verify_pull(body, separator=domain.separator, now=time.time(),
                                           max_ttl_s=s.pull_request_max_ttl_s, replay=replay)
            is_open = node.chain.score_requested(borrower)
            nonce = node.chain.nonce_of(borrower)
        except AuthError as exc:
            return _refused(exc, metrics)
        except Exception as exc:  # chain reads
            return _chain_down(exc)
        if not is_open:
            if metrics is not None:
                metrics.http_refused.labels("no_open_request").inc()
            return JSONResponse({"error": "the borrower has no open loan request: the oracle "
                                          "signs only for a requested loan"}, status_code=409)
        if body.get("proof"):
            return _proof_pull(borrower, nonce)
        try:
            key = (borrower, nonce, node.model.model_id, node.config_digest())
            with cache.key_lock(key):  # concurrent pulls of one key gather once
                hit = cache.get(key, time.time())
                if hit is not None:
                    if metrics is not None:
                        metrics.pulls_served.labels("cache").inc()
                    return JSONResponse(hit)
                signed = node.attest_local(borrower, nonce=nonce)
                ready = node.gather([signed], pool=pool)
                _, k = node.signer_set()
                if not ready:
                    return JSONResponse({"error": f"only {len(signed.signatures)} of {k} "
                                                  "signatures could be gathered"}, status_code=503)
                out = signed.to_json(k)
                out["digest"] = "0x" + typed_data.digest(signed.att, node.separator).hex()
                # reused for at most half the attestation's lifetime, so what is served from the
                # cache is still fresh enough to submit
                cache.put(key, out, time.time() + min(s.pull_cache_ttl_s, s.validity_s / 2))
        except Refusal as exc:
            return JSONResponse({"error": str(exc), "reasons": exc.reasons},
                                status_code=exc.status)
        except Exception as exc:
            return _chain_down(exc)
        if metrics is not None:
            metrics.pulls_served.labels("gathered").inc()
        return JSONResponse(out)

    def _proof_pull(borrower: str, nonce: int) -> JSONResponse:
        """A proof instead of a signed PD (oracle.proving.pulled_proof). One proof at a time: a
        proof takes both cores for seconds, so a second one waiting would only delay both."""
        from oracle.proving import pulled_proof

        if s.zk_circuit_dir is None:
            return JSONResponse({"error": "this node proves no scores (no ORACLE_ZK_CIRCUIT_DIR): "
                                          "pull without proof"}, status_code=409)
        try:
            key = (borrower, nonce, node.model.model_id, node.config_digest(), "proof")
            hit = cache.get(key, time.time())
            if hit is not None:
                return JSONResponse(hit)
            if not proving.acquire(blocking=False):
                return JSONResponse({"error": "busy proving another score: retry shortly"},
                                    status_code=503)
            try:
                out = pulled_proof(node, borrower, nonce, s.zk_circuit_dir, pool)
            finally:
                proving.release()
            cache.put(key, out, time.time() + min(s.pull_cache_ttl_s, s.validity_s / 2))
        except Refusal as exc:
            return JSONResponse({"error": str(exc), "reasons": exc.reasons}, status_code=exc.status)
        except Exception as exc:
            return _chain_down(exc)
        if metrics is not None:
            metrics.pulls_served.labels("proven").inc()
        return JSONResponse(out)

    proving = threading.Semaphore(1)
    limited = RateLimit(app, s.public_rate_limit, metrics)
    return BodyLimit(limited, s.public_max_body_bytes, metrics)


# --- peer -------------------------------------------------------------------------------------------
def create_peer_app(node: OracleNode, s: Settings, *, metrics: Any | None = None) -> Any:
    app = _base_app("Scorechain oracle (peer)")

    @app.post(auth.SIGN_PATH)
    def sign(req: SignRequest) -> JSONResponse:
        if req.kind == "features" and req.report:
            return JSONResponse({"error": "features attestations are not signed as a report"},
                                status_code=422)
        kind = FeaturesAttestation if req.kind == "features" else ScoreAttestation
        parsed: list[ScoreAttestation | FeaturesAttestation | AttestationError] = []
        for raw in req.attestations:
            try:
                parsed.append(kind.from_json(raw))
            except AttestationError as exc:
                parsed.append(exc)
        borrowers = sorted({a.borrower for a in parsed if not isinstance(a, AttestationError)})
        try:  # this node's own chain reads, once for the whole batch
            nonces = node.chain.nonces_of(borrowers)
            now = node.chain.now()
            is_open = node.chain.scores_requested(borrowers)
        except Exception as exc:
            return _chain_down(exc)
        results = []
        for att in parsed:
            try:
                if isinstance(att, AttestationError):
                    raise att
                if not is_open[att.borrower]:
                    raise Refusal("the borrower has no open loan request", status=409)
                sig = node.cosign(att, nonce=nonces[att.borrower], now=now)
                results.append({"signature": "0x" + sig.hex(), "signer": node.signer.address})
            except AttestationError as exc:
                results.append({"error": f"malformed attestation: {exc}", "status": 422})
            except Refusal as exc:
                results.append({"error": str(exc), "reasons": exc.reasons, "status": exc.status})
        out: dict[str, Any] = {"results": results}
        if req.report and all("signature" in r for r in results):
            signed = [a for a in parsed if isinstance(a, ScoreAttestation)]  # all of them, here
            out["report_signature"] = "0x" + node.sign_report(signed).hex()
        return JSONResponse(out)

    return BodyLimit(PeerAuth(app, node, s, metrics), s.peer_max_body_bytes, metrics)


class PeerAuth:
    """ASGI middleware: a request to /v1/sign is served only if `oracle.auth.verify_peer` accepts
    it, before its body is parsed (an unauthenticated caller learns nothing, not even a 422).
    Sits inside BodyLimit, which has read the (capped) body already."""

    def __init__(self, app: Any, node: OracleNode, s: Settings, metrics: Any | None) -> None:
        self.app, self.node, self.s, self.metrics = app, node, s, metrics
        self.domain = RequestDomain(node)
        self.replay = ReplayGuard(s.replay_cache_size)

    def _check(self, headers: dict[str, str], body: bytes) -> None:
        signers, _ = self.node.signer_set()  # cached chain read
        auth.verify_peer(headers, body, separator=self.domain.separator, now=time.time(),
                         window_s=self.s.peer_auth_window_s, signers=signers,
                         replay=self.replay)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != auth.SIGN_PATH:
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        try:
            await anyio.to_thread.run_sync(self._check, headers, body)
        except AuthError as exc:
            if self.metrics is not None:
                self.metrics.http_refused.labels(_REFUSAL_REASON.get(exc.status, "malformed")).inc()
            return await answer(send, exc.status, {"error": exc.reason})
        except Exception as exc:  # the signer-set read
            return await answer(send, 503, {"error": f"chain unavailable ({type(exc).__name__})"})
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


# --- admin ------------------------------------------------------------------------------------------
def create_admin_app(node: OracleNode, *, metrics: Any | None = None, daemon: Any | None = None,
                     settings_public: dict | None = None) -> FastAPI:
    app = _base_app("Scorechain oracle (admin)")

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        info: dict[str, Any] = {
            "signer": node.signer.address,
            "model_id": node.model.model_id_hex,
            "schema_hash": node.model.schema_hash,
            "checkpoint_block": node.store.get_cursor(),
        }
        ok = True
        if daemon is not None:
            info["breaker"] = daemon.sender.breaker.state
            info["last_error"] = logs.redact(daemon.last_error)
            info["last_step_age_s"] = (None if daemon.last_step_at is None
                                       else round(time.time() - daemon.last_step_at, 3))
            ok = info["breaker"] != "open" and daemon.last_error is None
        if settings_public is not None:
            info["settings"] = settings_public
        info["status"] = "ok" if ok else "degraded"
        return JSONResponse(info, status_code=200 if ok else 503)

    @app.get("/drift")
    def drift() -> JSONResponse:
        """PSI / CSI of the current drift window (oracle.drift); 404 before any scored row."""
        report = node.drift.report() if node.drift is not None else None
        if report is None:
            return JSONResponse({"error": "nothing scored under the current model yet"},
                                status_code=404)
        return JSONResponse(report)

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        data = generate_latest(metrics.registry) if metrics is not None else b""
        return PlainTextResponse(data.decode(), media_type=CONTENT_TYPE_LATEST)

    return app

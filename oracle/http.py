"""HTTP API of one node (FastAPI).

* ``GET /v1/score/{borrower}`` — pull mode: this node computes, signs, gathers k-1 peer signatures
  and returns an attestation with k signatures that anyone can submit with
  ``CreditScoreRegistry.submit``. 404 unknown borrower, 409 model not approved / schema mismatch,
  422 malformed address, 503 when k signatures cannot be had.
* ``POST /v1/sign`` — peer co-signing. Body ``{"attestations": [<attestation JSON>, ...]}`` (at most
  500); answers ``{"results": [{"signature", "signer"} | {"error"}, ...]}`` in the same order. An
  entry is signed only if this node's own recomputation gives the identical attestation.
  A malformed body is a 422 for the whole request.
* ``GET /healthz`` — 200 with node facts when the daemon loop is healthy, else 503.
* ``GET /metrics`` — Prometheus text format.
"""

from __future__ import annotations

import time
from typing import Any

from eth_utils import is_hex_address
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from oracle.node import OracleNode, Refusal
from oracle.typed_data import AttestationError, ScoreAttestation

MAX_BATCH = 500


class SignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attestations: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_BATCH)


def create_app(node: OracleNode, *, metrics: Any | None = None, daemon: Any | None = None,
               settings_public: dict | None = None) -> FastAPI:
    app = FastAPI(title="Scorechain oracle", version="1", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "details": errors}, status_code=422)

    @app.get("/v1/score/{borrower}")
    def score(borrower: str) -> JSONResponse:
        if not is_hex_address(borrower):
            return JSONResponse({"error": f"not an address: {borrower!r}"}, status_code=422)
        try:
            signed = node.attest_local(borrower)
            ready = node.gather([signed])
        except Refusal as exc:
            return JSONResponse({"error": str(exc), "reasons": exc.reasons},
                                status_code=exc.status)
        _, k = node.signer_set()
        if not ready:
            return JSONResponse({"error": f"only {len(signed.signatures)} of {k} signatures "
                                          "could be gathered"}, status_code=503)
        body = signed.to_json(k)
        body["digest"] = "0x" + node_digest(node, signed.att).hex()
        return JSONResponse(body)

    @app.post("/v1/sign")
    def sign(req: SignRequest) -> JSONResponse:
        parsed: list[ScoreAttestation | AttestationError] = []
        for raw in req.attestations:
            try:
                parsed.append(ScoreAttestation.from_json(raw))
            except AttestationError as exc:
                parsed.append(exc)
        borrowers = sorted({a.borrower for a in parsed if isinstance(a, ScoreAttestation)})
        try:  # this node's own chain reads, once for the whole batch
            nonces = node.chain.nonces_of(borrowers)
            now = node.chain.now()
        except Exception as exc:
            return JSONResponse({"error": f"chain unavailable: {exc}"}, status_code=503)
        results = []
        for att in parsed:
            try:
                if isinstance(att, AttestationError):
                    raise att
                sig = node.cosign(att, nonce=nonces[att.borrower], now=now)
                results.append({"signature": "0x" + sig.hex(), "signer": node.signer.address})
            except AttestationError as exc:
                results.append({"error": f"malformed attestation: {exc}", "status": 422})
            except Refusal as exc:
                results.append({"error": str(exc), "reasons": exc.reasons, "status": exc.status})
        return JSONResponse({"results": results})

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
            info["last_error"] = daemon.last_error
            info["last_step_age_s"] = (None if daemon.last_step_at is None
                                       else round(time.time() - daemon.last_step_at, 3))
            ok = info["breaker"] != "open" and daemon.last_error is None
        if settings_public is not None:
            info["settings"] = settings_public
        info["status"] = "ok" if ok else "degraded"
        return JSONResponse(info, status_code=200 if ok else 503)

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        data = generate_latest(metrics.registry) if metrics is not None else b""
        return PlainTextResponse(data.decode(), media_type=CONTENT_TYPE_LATEST)

    return app


def node_digest(node: OracleNode, att: ScoreAttestation) -> bytes:
    from oracle import typed_data

    return typed_data.digest(att, node.separator)

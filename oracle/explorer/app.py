"""The explorer's routes: HTML pages (Jinja2 templates) and their JSON twins under /api/."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from web3 import Web3

from oracle.explorer.view import ChainView, charts

HERE = Path(__file__).resolve().parent
MAX_DISCLOSURE_BYTES = 1 << 20  # a disclosure is a few KB; a larger body is refused unread


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if ts else "—"


def create_app(view: ChainView, *, chain: Any = None, model_path: str | Path | None = None) -> FastAPI:
    """`chain` (an oracle.chain.Chain on the same registry) and `model_path` (a model bundle
    directory) enable the verify action; without them /verify says it is off."""
    app = FastAPI(title="Scorechain explorer", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["when"] = _when
    templates.env.filters["pct"] = lambda bps: f"{bps / 100:.2f} %"

    def page(request: Request, name: str, **ctx: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, name, ctx)

    def summary() -> dict:
        return {"chain_id": view.w3.eth.chain_id, "block": view.w3.eth.block_number,
                "loans": view.loan_count(), "models": len(view.model_list()), "signer_set": view.signer_set(),
                "rules_version": view.rules()["version"],
                "contracts": {"LoanManager": view.loans.address, "CreditScoreRegistry": view.registry.address,
                              "ComplianceRules": view.compliance.address, "ModelRegistry": view.models.address,
                              "DataAnchor": view.anchor.address if view.anchor else None}}

    def scores_of(borrower: str | None) -> list:
        if borrower and not Web3.is_address(borrower):
            raise HTTPException(422, f"not an address: {borrower!r}")
        return view.scores(borrower or None)

    def one_loan(loan_id: int) -> dict:
        loan = view.loan(loan_id)
        if loan is None:
            raise HTTPException(404, f"no loan {loan_id}")
        return {"loan": loan, "history": view.loan_history(loan_id), "scores": view.scores(loan["borrower"])}

    @app.get("/api/summary")
    def api_summary() -> dict:
        return summary()

    @app.get("/api/loans")
    def api_loans() -> list:
        return view.loan_list()

    @app.get("/api/loans/{loan_id}")
    def api_loan(loan_id: int) -> dict:
        return one_loan(loan_id)

    @app.get("/api/scores")
    def api_scores(borrower: str | None = None) -> list:
        return scores_of(borrower)

    @app.get("/api/models")
    def api_models() -> list:
        return view.model_list()

    @app.get("/api/rules")
    def api_rules() -> dict:
        return view.rules()

    @app.get("/api/signers")
    def api_signers() -> dict:
        return view.signer_set()

    @app.get("/api/charts")
    def api_charts() -> dict:
        return charts(view)

    @app.get("/api/anchors")
    def api_anchors() -> list:
        return view.anchors()

    @app.post("/api/verify")
    async def api_verify(request: Request) -> JSONResponse:
        """Every check of `oracle verify --disclosure` on the disclosure posted (JSON: {"disclosure":
        {...}, "tx": optional hash}). The disclosure is personal data: checked in memory, never
        stored, logged or sent on; the checks read only public chain data and the bundle."""
        from oracle import disclosure as disc
        from oracle.audit import audit_disclosure
        from oracle.evidence import EvidenceError

        if chain is None or model_path is None:
            raise HTTPException(503, "verification is off: start the explorer with a model bundle")
        if int(request.headers.get("content-length") or 0) > MAX_DISCLOSURE_BYTES:
            raise HTTPException(413, "a disclosure is at most 1 MB")
        body = await request.body()
        if len(body) > MAX_DISCLOSURE_BYTES:
            raise HTTPException(413, "a disclosure is at most 1 MB")
        try:
            data = json.loads(body)
            d = disc.Disclosure.from_json(data.get("disclosure"))
            tx = data.get("tx") or None
            if tx is not None and not (isinstance(tx, str) and tx.startswith("0x") and len(tx) == 66):
                raise disc.DisclosureError("tx must be a 32-byte transaction hash")
        except (ValueError, AttributeError) as exc:  # DisclosureError is a ValueError
            return JSONResponse({"error": f"not a disclosure: {exc}"}, status_code=422)
        try:
            report = await run_in_threadpool(
                audit_disclosure, chain, d, model_path, tx_hash=tx,
                data_anchor=view.anchor.address if view.anchor else None, from_block=view.from_block)
        except EvidenceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(report)

    @app.get("/verify", response_class=HTMLResponse)
    def verify(request: Request) -> HTMLResponse:
        return page(request, "verify.html", enabled=chain is not None and model_path is not None)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        return page(request, "index.html", s=summary())

    @app.get("/loans", response_class=HTMLResponse)
    def loans(request: Request) -> HTMLResponse:
        return page(request, "loans.html", loans=view.loan_list())

    @app.get("/loans/{loan_id}", response_class=HTMLResponse)
    def loan(request: Request, loan_id: int) -> HTMLResponse:
        return page(request, "loan.html", **one_loan(loan_id))

    @app.get("/scores", response_class=HTMLResponse)
    def scores(request: Request, borrower: str | None = None) -> HTMLResponse:
        return page(request, "scores.html", scores=scores_of(borrower), borrower=borrower)

    @app.get("/models", response_class=HTMLResponse)
    def models(request: Request) -> HTMLResponse:
        return page(request, "models.html", models=view.model_list())

    @app.get("/rules", response_class=HTMLResponse)
    def rules(request: Request) -> HTMLResponse:
        return page(request, "rules.html", r=view.rules(), signers=view.signer_set())

    @app.get("/charts", response_class=HTMLResponse)
    def charts_page(request: Request) -> HTMLResponse:
        return page(request, "charts.html", c=charts(view))

    @app.get("/anchors", response_class=HTMLResponse)
    def anchors(request: Request) -> HTMLResponse:
        return page(request, "anchors.html", anchors=view.anchors())

    return app

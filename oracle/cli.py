"""`oracle` command line (also `python -m oracle`). Run `oracle --help` / `oracle CMD --help`.

Secrets never go on the command line (it is visible to every user via `ps`): keystore passwords
come from ORACLE_KEYSTORE_PASSWORD or a file (--password-file / ORACLE_KEYSTORE_PASSWORD_FILE);
a key to import comes from a file (--key-file) or ORACLE_IMPORT_PRIVATE_KEY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from models import package_version
from oracle import keys, logs
from oracle.settings import Settings, SettingsError, load_settings


class CliError(Exception):
    pass


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    return load_settings(getattr(args, "config", None), **overrides)


def _password(args: argparse.Namespace, s: Settings) -> str:
    pw_file = getattr(args, "password_file", None) or s.keystore_password_file
    return keys.read_password(
        s.keystore_password.get_secret_value() if s.keystore_password else None, pw_file)


# --- keys ---------------------------------------------------------------------------------------
def cmd_keys_new(args: argparse.Namespace) -> int:
    s = _settings(args)
    path = Path(args.keystore or s.keystore_path or "")
    if not str(path) or str(path) == ".":
        raise CliError("give --keystore PATH (or ORACLE_KEYSTORE_PATH)")
    address = keys.create_keystore(path, _password(args, s), kdf_light=args.light_kdf)
    print(json.dumps({"address": address, "keystore": str(path)}))
    return 0


def cmd_keys_import(args: argparse.Namespace) -> int:
    s = _settings(args)
    path = Path(args.keystore or s.keystore_path or "")
    if not str(path) or str(path) == ".":
        raise CliError("give --keystore PATH (or ORACLE_KEYSTORE_PATH)")
    if args.key_file:
        text = Path(args.key_file).read_text()
    elif os.environ.get("ORACLE_IMPORT_PRIVATE_KEY"):
        text = os.environ["ORACLE_IMPORT_PRIVATE_KEY"]
    else:
        raise CliError("give --key-file FILE or set ORACLE_IMPORT_PRIVATE_KEY")
    address = keys.create_keystore(path, _password(args, s), keys.parse_private_key(text),
                                   kdf_light=args.light_kdf)
    print(json.dumps({"address": address, "keystore": str(path)}))
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    s = _settings(args)
    path = Path(args.keystore or s.keystore_path or "")
    signer = keys.load_keystore(path, _password(args, s))
    print(json.dumps({"address": signer.address}))
    return 0


# --- features -----------------------------------------------------------------------------------
def cmd_features_import(args: argparse.Namespace) -> int:
    from oracle.scoring import load_model
    from oracle.store import Store

    s = _settings(args)
    model = load_model(args.model or s.model_path)
    store = Store.open(args.store or s.store_path)
    try:
        report = store.import_csv(model.schema, args.csv)
    finally:
        store.close()
    for line, msg in report.errors:
        print(json.dumps({"line": line, "error": msg}), file=sys.stderr)
    print(json.dumps({"imported": report.imported, "rejected": len(report.errors),
                      "schema_hash": model.schema_hash}))
    return 0 if not report.errors else 2


# --- serve / score ------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from oracle.app import serve

    overrides = {}
    if args.port is not None:
        overrides["http_port"] = args.port
    if args.no_daemon:
        overrides["daemon"] = False
    s = _settings(args, **overrides)
    logs.setup(s.log_level)
    logs.register_secrets(s.secret_strings())
    return serve(s)


def cmd_explorer(args: argparse.Namespace) -> int:
    import uvicorn
    from web3 import HTTPProvider, Web3

    from oracle.chain import Chain
    from oracle.explorer.app import create_app
    from oracle.explorer.view import ChainView
    from oracle.settings import redact_url

    s = _settings(args)
    logs.setup(s.log_level)
    loan_manager = args.loan_manager or s.loan_manager_address
    if not loan_manager:
        raise CliError("the explorer needs the LoanManager's address: --loan-manager or ORACLE_LOAN_MANAGER_ADDRESS")
    w3 = Web3(HTTPProvider(s.rpc_url, request_kwargs={"timeout": s.rpc_timeout_s}))
    view = ChainView(w3, loan_manager, data_anchor=args.data_anchor, from_block=args.from_block)
    # the verify action: the registry the explorer shows, the bundle given (default: the node's)
    chain = Chain(_settings(args, registry_address=view.registry.address), w3=w3)
    app = create_app(view, chain=chain, model_path=args.model or s.model_path)
    print(f"explorer of LoanManager {view.loans.address} on {redact_url(s.rpc_url)}: "
          f"http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from oracle.app import build

    s = _settings(args)
    ctx = build(s)
    try:
        signed = ctx.node.attest_local(args.address)
        if args.gather:
            ctx.node.gather([signed])
        _, k = ctx.node.signer_set()
        out = signed.to_json(min(k, len(signed.signatures)))
        out["pd"] = signed.prediction.pd
        out["threshold"] = k
        print(json.dumps(out, indent=2))
    finally:
        ctx.close()
    return 0


def cmd_prove(args: argparse.Namespace) -> int:
    """A zero-knowledge proof of a stored borrower's score (oracle.proving)."""
    import time

    from oracle.proving import ProvingError, prove_borrower
    from oracle.scoring import load_model
    from oracle.store import Store, UnknownBorrower

    s = _settings(args)
    model = load_model(args.model or s.model_path)
    store = Store.open(args.store or s.store_path)
    try:
        features = store.get_features(args.address)
    except UnknownBorrower as exc:
        raise CliError(str(exc)) from None
    finally:
        store.close()
    out = Path(args.out) if args.out else Path(args.circuit) / "proofs" / (
        f"{features.address}-{time.strftime('%Y%m%dT%H%M%S')}")
    nonce = args.nonce
    if nonce is None:
        from oracle.chain import Chain
        try:
            nonce = Chain(s).nonce_of(features.address)
        except Exception as exc:  # its text may carry the RPC URL: the kind only
            raise CliError(f"the loan request's nonce could not be read ({type(exc).__name__}): "
                           "give --nonce or a reachable ORACLE_RPC_URL and ORACLE_REGISTRY_ADDRESS") from None
    try:
        proven = prove_borrower(model, features, Path(args.circuit), out, nonce)
    except ProvingError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps({**{k: v for k, v in proven.items() if k != "proof"},
                      "file": str(out / "proven.json")}, indent=2))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.proof:
        from oracle.proving import ProvingError, check_proof

        if not args.circuit:
            raise CliError("--proof needs --circuit DIR (the model's circuit directory)")
        try:
            if (args.borrower is None) != (args.nonce is None):
                raise CliError("--borrower and --nonce go together (the loan the proof is for)")
            loan = None if args.borrower is None else (args.borrower, args.nonce)
            report = check_proof(Path(args.circuit), Path(args.proof), args.commitment, loan)
        except ProvingError as exc:
            raise CliError(str(exc)) from None
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1
    if args.disclosure:
        return _verify_disclosure(args)
    if not args.target:
        raise CliError("give a transaction hash or attestation file, or --disclosure FILE")
    from web3.exceptions import TransactionNotFound

    from oracle.app import build
    from oracle.scoring import ModelLoadError
    from oracle.settings import redact_url
    from oracle.store import StoreError
    from oracle.verify import verify_file, verify_tx

    s = _settings(args)
    target = args.target
    if not Path(target).is_file() and not (target.startswith("0x") and len(target) == 66):
        raise CliError(f"{target!r} is neither a file nor a transaction hash")
    ctx = None
    try:
        ctx = build(s, signer=keys.Signer(b"\x01" * 32))  # verifying signs nothing: no key
        reports = [verify_file(ctx, Path(target))] if Path(target).is_file() else \
            verify_tx(ctx, target)
    except TransactionNotFound:
        raise CliError(f"transaction {target} not found on this chain") from None
    except (CliError, SettingsError, ModelLoadError, StoreError):
        raise
    except ValueError as exc:  # e.g. a transaction that is not a score submission
        raise CliError(str(exc)) from None
    except Exception as exc:  # RPC failures: their text can carry the RPC URL (provider keys)
        raise CliError(f"cannot read the chain at {redact_url(s.rpc_url)} "
                       f"({type(exc).__name__})") from None
    finally:
        if ctx is not None:
            ctx.close()
    ok = bool(reports) and all(r["ok"] for r in reports)
    print(json.dumps({"ok": ok, "attestations": reports}, indent=2))
    return 0 if ok else 1


def _verify_disclosure(args: argparse.Namespace) -> int:
    """An auditor's check from a disclosure, the public chain and the bundle: no store, no key."""
    from oracle import content_id
    from oracle import disclosure as disc
    from oracle.audit import audit_disclosure
    from oracle.chain import Chain
    from oracle.evidence import EvidenceError
    from oracle.scoring import ModelLoadError
    from oracle.settings import redact_url

    if args.target and not (args.target.startswith("0x") and len(args.target) == 66):
        raise CliError(f"{args.target!r} is not a transaction hash")
    try:
        d = disc.read(args.disclosure)
    except disc.DisclosureError as exc:
        raise CliError(str(exc)) from None
    overrides: dict[str, Any] = {}
    hint = (d.context or {}).get("registry")
    if args.registry:
        overrides["registry_address"] = args.registry
    s = _settings(args, **overrides)
    if s.registry_address is None and hint:  # the disclosure's hint, said so in the output
        s = _settings(args, registry_address=hint)
    batch_document = None
    if args.batch_doc:
        try:
            batch_document = Path(args.batch_doc).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read the batch document {args.batch_doc}: "
                           f"{exc.strerror}") from None
    chain = Chain(s)
    try:
        report = audit_disclosure(chain, d, args.model or s.model_path, tx_hash=args.target,
                                  data_anchor=args.data_anchor, from_block=args.from_block,
                                  max_range=s.max_block_range, batch_document=batch_document)
    except content_id.ContentIdError as exc:
        raise CliError(f"model bundle: {exc}") from None
    except EvidenceError as exc:
        raise CliError(str(exc)) from None
    except (CliError, SettingsError, ModelLoadError):
        raise
    except Exception as exc:  # RPC failures: their text can carry the RPC URL (provider keys)
        raise CliError(f"cannot read the chain at {redact_url(s.rpc_url)} "
                       f"({type(exc).__name__})") from None
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


# --- cid ---------------------------------------------------------------------------------------
def cmd_cid(args: argparse.Namespace) -> int:
    """The IPFS CIDv1 of each path, as `ipfs add --cid-version 1 -r` prints it (no daemon)."""
    from oracle import content_id

    try:
        out = {p: content_id.path_cid(p) for p in args.paths}
    except content_id.ContentIdError as exc:
        raise CliError(str(exc)) from None
    print(json.dumps(out, indent=2))
    return 0


# --- disclose -----------------------------------------------------------------------------------
def cmd_disclose(args: argparse.Namespace) -> int:
    """Write a borrower's disclosure (personal data: only for whom the borrower authorises)."""
    from oracle import disclosure as disc
    from oracle.scoring import load_model
    from oracle.store import Store

    s = _settings(args)
    model = load_model(args.model or s.model_path)
    try:
        if args.csv:
            d = disc.from_csv(model.schema, args.csv, args.borrower)
        else:
            store = Store.open(args.store or s.store_path)
            try:
                d = disc.from_store(store, args.borrower)
            finally:
                store.close()
        anchor = None
        if args.batch_csv:
            anchor = disc.anchor_proof(model.schema, args.batch_csv, args.borrower,
                                       batch_id=args.batch_id, data_anchor=args.data_anchor)
        context = {"registry": s.registry_address} if s.registry_address else None
        d = disc.Disclosure(d.borrower, d.schema_hash, d.salt, d.features, args.tx, anchor,
                            context)
        disc.Disclosure.from_json(d.to_json())  # what is written must read back
    except disc.DisclosureError as exc:
        raise CliError(str(exc)) from None
    disc.write(d, args.out)
    # the file holds the features; stdout says only where it went
    print(json.dumps({"borrower": d.borrower, "disclosure": str(args.out),
                      "anchor_proof": anchor is not None}))
    return 0


# --- drift --------------------------------------------------------------------------------------
def cmd_drift(args: argparse.Namespace) -> int:
    """PSI of the score and CSI of each feature of the stored borrowers, scored now by the
    served model, against the model's training reference (models.monitoring)."""
    import numpy as np

    from models import monitoring
    from oracle.scoring import load_model
    from oracle.store import Store

    s = _settings(args)
    model = load_model(args.model or s.model_path)
    spec = model.bundle.monitoring
    if not spec:
        raise CliError(f"model {model.model_id_hex} carries no reference distributions "
                       "(exported before monitoring): retrain it")
    store = Store.open(args.store or s.store_path)
    try:
        rows = [store.get_features(a) for a in store.borrowers()]
    finally:
        store.close()
    rows = [r for r in rows if r.schema_hash == model.schema_hash]
    if not rows:
        raise CliError("no stored borrower's features follow the model's schema")
    X = np.stack([r.vector for r in rows])
    scores = np.array([model.predict(x).score for x in X], dtype=np.float64)
    names = [f["name"] for f in model.schema["features"]]
    out = {"model_id": model.model_id_hex, **monitoring.report(spec, X, scores, names)}
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"model {out['model_id']}: {out['rows']} stored borrowers; level {out['level']} "
              f"(warn at {monitoring.PSI_WARN}, alert at {monitoring.PSI_ALERT})")
        print(f"  {'score':<40} PSI {out['score']['psi']:.4f}  {out['score']['level']}")
        for name, f in out["features"].items():
            print(f"  {name:<40} CSI {f['psi']:.4f}  {f['level']}")
    return 0 if out["level"] != "alert" else 3


# --- parser -------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oracle",
        description="Scorechain oracle node: scores borrowers with an approved ONNX model, signs "
                    "EIP-712 attestations, gathers k-of-n signatures and posts them on chain. "
                    "Settings: ORACLE_* environment variables and/or --config FILE "
                    "(TOML/YAML/JSON); see oracle/README.md.")
    p.add_argument("--version", action="version", version=f"oracle {package_version()}")
    p.add_argument("--config", help="config file (.toml/.yaml/.json); also ORACLE_CONFIG")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("serve", help="run the node: daemon + HTTP API until SIGTERM")
    sp.add_argument("--port", type=int, help="HTTP port (overrides ORACLE_HTTP_PORT)")
    sp.add_argument("--no-daemon", action="store_true", help="HTTP only (pull mode / peer)")
    sp.set_defaults(fn=cmd_serve)

    sp = sub.add_parser("explorer", help="serve a read-only web view of a deployment (loans, scores, "
                        "models, rules, signers, data batches) from public chain data")
    sp.add_argument("--loan-manager", help="LoanManager address (default ORACLE_LOAN_MANAGER_ADDRESS); "
                    "the other contracts are found from it")
    sp.add_argument("--data-anchor", help="DataAnchor address, to list anchored batches")
    sp.add_argument("--from-block", type=int, default=0, help="read events from this block on")
    sp.add_argument("--model", help="model bundle directory for the verify action (default "
                    "ORACLE_MODEL_PATH, the packaged default model)")
    sp.add_argument("--host", default="127.0.0.1", help="listen address (default: this machine only; "
                    "a disclosure posted to the verify action reaches whoever runs the explorer)")
    sp.add_argument("--port", type=int, default=8700)
    sp.set_defaults(fn=cmd_explorer)

    sp = sub.add_parser("score", help="score a borrower and print the signed attestation")
    sp.add_argument("address")
    sp.add_argument("--gather", action="store_true", help="also collect peer signatures")
    sp.set_defaults(fn=cmd_score)

    sp = sub.add_parser("verify", help="independently re-check a recorded score: with "
                        "--disclosure, from the borrower's disclosure, the public chain and the "
                        "model bundle alone (no store, no key); without, from this node's store")
    sp.add_argument("target", nargs="?", help="transaction hash (0x…) or attestation JSON file "
                    "(with --disclosure: the recording transaction, default the disclosure's or "
                    "the borrower's latest ScoreRecorded)")
    sp.add_argument("--disclosure", help="disclosure JSON (oracle disclose)")
    sp.add_argument("--model", help="model bundle directory (default ORACLE_MODEL_PATH)")
    sp.add_argument("--registry", help="CreditScoreRegistry address (default "
                    "ORACLE_REGISTRY_ADDRESS, then the disclosure's hint)")
    sp.add_argument("--data-anchor", help="DataAnchor address (default: the disclosure's)")
    sp.add_argument("--batch-doc", help="the anchored batch's public document (its leaf hashes, "
                    "what the batch's ipfs:// URI addresses): its CID and root are checked too")
    sp.add_argument("--from-block", type=int, default=0,
                    help="oldest block any log search looks at (searches run newest first in "
                         "windows of ORACLE_MAX_BLOCK_RANGE blocks)")
    sp.add_argument("--proof", help="a zero-knowledge proof (proof.json of oracle prove) to check "
                    "offline against --circuit's verifying key")
    sp.add_argument("--circuit", help="with --proof: the model's circuit directory")
    sp.add_argument("--commitment", help="with --proof: the attested features commitment (0x…) "
                    "the proof must be over")
    sp.add_argument("--borrower", help="with --proof and --nonce: the borrower the proof must be for")
    sp.add_argument("--nonce", type=int, help="with --proof and --borrower: the loan request's nonce")
    sp.set_defaults(fn=cmd_verify)

    sp = sub.add_parser("prove", help="a zero-knowledge proof of a stored borrower's score under "
                        "the served model's circuit (python -m models zk setup): what "
                        "CreditScoreRegistry.submitProven takes, less the k signatures")
    sp.add_argument("address")
    sp.add_argument("--circuit", required=True, help="the served model's circuit directory")
    sp.add_argument("--model", help="model bundle directory (default ORACLE_MODEL_PATH)")
    sp.add_argument("--store", help="store path (default: ORACLE_STORE_PATH)")
    sp.add_argument("--out", help="proof directory (default CIRCUIT/proofs/<borrower>-<time>)")
    sp.add_argument("--nonce", type=int, help="the loan request's nonce, a public input of the "
                    "proof (default: CreditScoreRegistry.nonces(borrower) read from ORACLE_RPC_URL)")
    sp.set_defaults(fn=cmd_prove)

    sp = sub.add_parser("drift", help="population stability report: PSI of the score and CSI "
                        "of each feature of the stored borrowers against the model's training "
                        "reference (exit 3 at the alert level, 0.25)")
    sp.add_argument("--store", help="store path (default: ORACLE_STORE_PATH)")
    sp.add_argument("--model", help="bundle directory (default: ORACLE_MODEL_PATH)")
    sp.add_argument("--json", action="store_true", help="the report as JSON")
    sp.set_defaults(fn=cmd_drift)

    sp = sub.add_parser("disclose", help="export a borrower's disclosure for an auditor: "
                        "features, salt, and optionally the recording tx and the anchor proof "
                        "(written readable by its owner only; personal data)")
    sp.add_argument("borrower")
    sp.add_argument("--out", required=True, help="file to write")
    sp.add_argument("--csv", help="the borrower's own row(s) in the data provider's CSV (with "
                    "salt); default: this node's store")
    sp.add_argument("--store", help="SQLite path (default ORACLE_STORE_PATH)")
    sp.add_argument("--model", help="model bundle whose schema applies (default ORACLE_MODEL_PATH)")
    sp.add_argument("--tx", help="the transaction that recorded the score")
    sp.add_argument("--batch-csv", help="the CSV the data provider anchored (for the proof)")
    sp.add_argument("--batch-id", type=int, help="its DataAnchor batch id (default: found by root)")
    sp.add_argument("--data-anchor", help="DataAnchor address")
    sp.set_defaults(fn=cmd_disclose)

    kp = sub.add_parser("keys", help="manage the node's encrypted keystore")
    ksub = kp.add_subparsers(dest="keys_command", required=True)
    for name, fn, help_ in (("new", cmd_keys_new, "create a new key in an encrypted keystore"),
                            ("import", cmd_keys_import, "encrypt an existing key into a keystore"),
                            ("show", cmd_keys_show, "print a keystore's address (decrypts it)")):
        sp = ksub.add_parser(name, help=help_)
        sp.add_argument("--keystore", help="keystore path (default ORACLE_KEYSTORE_PATH)")
        sp.add_argument("--password-file", help="file holding the password "
                        "(default: ORACLE_KEYSTORE_PASSWORD, then ORACLE_KEYSTORE_PASSWORD_FILE)")
        if name != "show":
            sp.add_argument("--light-kdf", action="store_true",
                            help="cheap scrypt parameters (tests only)")
        if name == "import":
            sp.add_argument("--key-file", help="file holding the hex private key "
                            "(default: ORACLE_IMPORT_PRIVATE_KEY)")
        sp.set_defaults(fn=fn)

    sp = sub.add_parser("cid", help="print the IPFS CIDv1 of files or directories (a model "
                        "bundle, a batch's public document), as `ipfs add --cid-version 1 -r` "
                        "would, without IPFS")
    sp.add_argument("paths", nargs="+")
    sp.set_defaults(fn=cmd_cid)

    fp = sub.add_parser("features", help="manage the feature store")
    fsub = fp.add_subparsers(dest="features_command", required=True)
    sp = fsub.add_parser("import", help="validate and import borrower features from a CSV "
                         "(columns: borrower, optional salt, then the schema's features)")
    sp.add_argument("csv")
    sp.add_argument("--store", help="SQLite path (default ORACLE_STORE_PATH)")
    sp.add_argument("--model", help="ONNX model whose schema applies (default ORACLE_MODEL_PATH)")
    sp.set_defaults(fn=cmd_features_import)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except (CliError, SettingsError, keys.KeyError_) as exc:
        print(f"oracle: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a clear one-line error for the operator, not a traceback
        from oracle.instance_lock import AlreadyRunning
        from oracle.node import Refusal
        from oracle.scoring import ModelLoadError
        from oracle.store import StoreError

        if isinstance(exc, (Refusal, ModelLoadError, StoreError, FileNotFoundError, AlreadyRunning)):
            print(f"oracle: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())

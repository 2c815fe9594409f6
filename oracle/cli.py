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


def cmd_verify(args: argparse.Namespace) -> int:
    from oracle.app import build
    from oracle.verify import verify_file, verify_tx

    s = _settings(args)
    ctx = build(s, signer=keys.Signer(b"\x01" * 32))  # verifying signs nothing: no key needed
    try:
        target = args.target
        if Path(target).is_file():
            reports = [verify_file(ctx, Path(target))]
        elif target.startswith("0x") and len(target) == 66:
            reports = verify_tx(ctx, target)
        else:
            raise CliError(f"{target!r} is neither a file nor a transaction hash")
    finally:
        ctx.close()
    ok = bool(reports) and all(r["ok"] for r in reports)
    print(json.dumps({"ok": ok, "attestations": reports}, indent=2))
    return 0 if ok else 1


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

    sp = sub.add_parser("score", help="score a borrower and print the signed attestation")
    sp.add_argument("address")
    sp.add_argument("--gather", action="store_true", help="also collect peer signatures")
    sp.set_defaults(fn=cmd_score)

    sp = sub.add_parser("verify", help="independently re-check an attestation: recompute the "
                        "score and the features commitment, check signatures and the chain")
    sp.add_argument("target", help="transaction hash (0x…) or attestation JSON file")
    sp.set_defaults(fn=cmd_verify)

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

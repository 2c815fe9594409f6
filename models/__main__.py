"""Command line: ``python -m models --help``."""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import secrets
import sys
import time
import warnings
from pathlib import Path

from . import package_version

DATASETS = ("gmsc", "taiwan", "german")


class CliError(Exception):
    """A bad argument value: reported as one line (exit code 2), not a traceback."""


def _names(text: str, allowed, what: str) -> list[str]:
    """A comma list checked up front (a typo must not fail after an hour of training)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise CliError(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def _json_file(path: str):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None


def _ds(name):
    from .data import load_dataset, make_splits
    ds = load_dataset(name)
    return ds, make_splits(ds.y, ds.X)


def cmd_compare(a):
    from .cv import compare, comparison_markdown
    from .families import FAMILIES
    from .train import REPORTS
    fams = _names(a.families, FAMILIES, "family") or None
    ds, sp = _ds(a.dataset)
    out = REPORTS / f"comparison_{a.dataset}.json"
    res = compare(ds, sp, out, **({"families": fams} if fams else {}))
    (REPORTS / f"comparison_{a.dataset}.md").write_text(comparison_markdown(ds, sp, res))


def cmd_ablation(a):
    from .train import REPORTS
    ds, sp = _ds(a.dataset)
    if a.study in ("domain", "blend"):  # studies paired against untuned HGB
        from . import blend_study, domain_study
        out = {"domain": domain_study, "blend": blend_study}[a.study].run(ds, sp, REPORTS)
        for name, r in out["arms"].items():
            d = r["delta_auc_vs_untuned_hgb"]
            print(f"{name}: CV AUC {r['auc_mean']:.4f}, vs untuned HGB {d['mean']:+.4f} ± "
                  f"{d['se']:.4f}")
        return
    from .ablation import run
    out = run(ds, sp, REPORTS, a.study)
    for name, r in out["arms"].items():
        print(f"{name}: CV AUC {r['auc_mean']:.4f} ± {r['auc_sd']:.4f}")
    for p in out["pairs"]:
        print(f"{p['arm']} − {p['minus']}: {p['mean']:+.4f} ± {p['se']:.4f}")


def cmd_cnas(a):
    from .cnas_search import markdown, search
    from .train import REPORTS
    if a.budget <= 0 or a.lam < 0:
        raise CliError("--budget must be positive and --lam not negative")
    ds, sp = _ds(a.dataset)
    out = search(ds, sp, rounds=a.rounds, per_round=a.per_round, lam=a.lam, top=a.top,
                 max_epochs=a.max_epochs, budget=a.budget)
    # the search without its cost term is the ablation, kept beside the real one
    stem = f"cnas_{a.dataset}" + ("_no_cost" if a.lam == 0 else "")
    (REPORTS / f"{stem}.json").write_text(json.dumps(out, indent=1) + "\n")
    (REPORTS / f"{stem}.md").write_text(markdown(out))
    print(f"reports/models/{stem}.md: {out['cost']['architectures']} architectures "
          f"in {out['cost']['seconds']:.0f} s")


def cmd_seed_table(a):
    from .seed_table import run
    from .train import REPORTS
    ds, sp = _ds(a.dataset)
    out = run(ds, sp, REPORTS, n_boot=a.n_boot)
    print(f"reports/models/seed_methods_{a.dataset}.md ({out['seconds']:.0f} s)")


def cmd_federated(a):
    logging.getLogger("alembic").setLevel(logging.WARNING)  # imported by Flower, chatty at INFO
    from .federated import audit
    if a.action == "verify":
        results = audit.verify_run(Path(a.target))
        for r in results:
            print(f"round {r['round']}: " + ("ok" if r["ok"] else "; ".join(r["problems"])))
        if not all(r["ok"] for r in results):
            raise SystemExit(1)
        return
    if a.target not in DATASETS:
        raise CliError(f"unknown data set {a.target}; choose from {', '.join(DATASETS)}")
    if a.rounds < 1:
        raise CliError("--rounds must be at least 1")
    if a.export and a.action != "run":
        raise CliError("--export is for `run`")
    _check_export_dir(a.export)
    ds, sp = _ds(a.target)
    if a.action == "report":
        from .federated.report import build
        from .train import REPORTS
        out = build(ds, sp, REPORTS.parent, rounds=a.rounds, n_boot=a.n_boot)
        print(f"reports/federated.md ({out['seconds']:.0f} s)")
        return
    if a.action == "study":
        from .federated.robustness import study
        from .train import REPORTS
        out = study(ds, sp, REPORTS, rounds=a.rounds)
        print(f"reports/models/federated_{a.target}.md ({out['seconds']:.0f} s)")
        return
    from .federated.run import run_federation
    strategy = _strategy(a)
    _check_clients(ds, sp, a.clients)
    run = run_federation(ds, sp, model=a.model, strategy=strategy, rounds=a.rounds,
                         clients=a.clients, export=Path(a.export) if a.export else None)
    out = audit.save_run(run, Path(a.out or _fed_dir(f"{a.target}-{run['federation']}")))
    print(f"{out}: {a.rounds} rounds, holdout AUC {run['holdout_auc_by_round'][-1]:.4f}; "
          f"check it with: python -m models federated verify {out}")
    if a.export:
        _print_export(run["after"], a.export)


def _check_clients(ds, sp, clients):
    from .federated.partition import partition
    try:
        partition(ds, sp, clients)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _strategy(a) -> str:
    """--rounds, --model and --strategy checked; the strategy (default by model kind)."""
    if a.rounds < 1:
        raise CliError("--rounds must be at least 1")
    strategy = a.strategy or ("xgb_bagging" if a.model == "xgb" else "fedavg")
    if (a.model == "xgb") != (strategy == "xgb_bagging"):
        raise CliError("--model xgb trains with --strategy xgb_bagging, and only it")
    return strategy


def _check_export_dir(path: str) -> None:
    if path and Path(path).exists() and any(Path(path).iterdir()):
        raise CliError(f"{path} is not empty")


def _print_export(card: dict, path: str) -> dict:
    if "gate_failure" in card:
        raise CliError(card["gate_failure"])
    print(f"{path}: bundle {card['bundle_id'][:16]}…, gates passed, parity "
          f"{card['parity_max_abs_diff']:.1e}")
    return card


def _fed_dir(name: str) -> Path:
    """A run's default directory: the checkout's build/federation/ (git-ignored), wherever the
    command is run from."""
    return _build_dir("federation", name)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc.strerror}") from None


def cmd_federated_serve(a):
    """The aggregator's role across machines (the README: "Federated training across lenders")."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from eth_utils import is_address, to_checksum_address

    from .federated import audit
    from .federated.run import serve
    from .schema import load_schema
    schema = load_schema(a.schema)
    try:
        members = json.loads(_read(a.members, "members file"))
    except json.JSONDecodeError as exc:
        raise CliError(f"{a.members} is not JSON: {exc}") from None
    if not isinstance(members, dict) or not members or not all(
            isinstance(v, str) and is_address(v) for v in members.values()):
        raise CliError(f"{a.members} must map each lender's name to its address")
    members = {str(k): to_checksum_address(v) for k, v in members.items()}
    if len(set(members.values())) != len(members):
        raise CliError(f"{a.members}: two lenders share one address (each needs its own key)")
    strategy = _strategy(a)
    certificates = tuple(_read(f, "TLS file") for f in a.tls) if a.tls else None
    if a.export and not a.holdout:
        raise CliError("--export needs --holdout CSV: parity and the fair-lending gates run on "
                       "the aggregator's validation rows")
    _check_export_dir(a.export)
    holdout, after = None, None
    if a.holdout:
        import numpy as np

        from .data import Splits, load_csv
        hold = load_csv(a.holdout, schema)
        holdout = (hold.X, hold.y)
        if a.export:
            from .federated.export import export_run
            from .train import GateFailure
            whole = Splits(train_idx=np.array([], dtype=int), holdout_idx=np.arange(len(hold.y)),
                           folds=(), description=f"the aggregator's validation rows ({a.holdout})")

            def after(run, ask):
                try:
                    return export_run(run, hold, whole, Path(a.export), ask)
                except GateFailure as exc:
                    return {"gate_failure": str(exc)}
    print(f"aggregator on {a.address}: waiting up to {a.timeout:.0f} s for "
          f"{', '.join(sorted(members))}", flush=True)
    from .federated.stats_round import StatisticsRefused
    try:
        run = serve(a.address, schema, members, a.federation, model=a.model, strategy=strategy,
                    rounds=a.rounds, round_timeout=a.timeout, certificates=certificates,
                    holdout=holdout, after=after)
    except (StatisticsRefused, TimeoutError) as exc:
        raise CliError(f"federation {a.federation} stopped: {exc}") from None
    out = audit.save_run(run, Path(a.out or _fed_dir(a.federation)))
    auc = run["holdout_auc_by_round"]
    print(f"{out}: {len(members)} lenders, {a.rounds} rounds in {run['seconds']:.0f} s"
          + (f", validation AUC {auc[-1]:.4f}" if auc else "")
          + f"; check it with: python -m models federated verify {out}")
    if a.export:
        _print_export(run["after"], a.export)


def cmd_federated_lend(a):
    """A lender's role across machines: its own rows and key, nothing else."""
    import os

    from oracle.keys import KeyError_, parse_private_key, read_password

    from .data import load_csv
    from .federated.run import lend
    from .schema import load_schema
    try:
        if a.keystore:
            from eth_account import Account
            password = read_password(os.environ.get("SCORECHAIN_LENDER_KEYSTORE_PASSWORD"),
                                     os.environ.get("SCORECHAIN_LENDER_KEYSTORE_PASSWORD_FILE"))
            try:
                key = bytes(Account.decrypt(json.loads(_read(a.keystore, "keystore")), password))
            except ValueError:
                raise CliError(f"cannot decrypt {a.keystore} with that password") from None
        elif os.environ.get("SCORECHAIN_LENDER_KEY"):
            key = parse_private_key(os.environ["SCORECHAIN_LENDER_KEY"])
        else:
            raise CliError("no key: --keystore FILE, or SCORECHAIN_LENDER_KEY in the environment")
    except KeyError_ as exc:
        raise CliError(str(exc).replace("ORACLE_KEYSTORE", "SCORECHAIN_LENDER_KEYSTORE")) from None
    schema = load_schema(a.schema)
    ds = load_csv(a.csv, schema)
    root = _read(a.root_cert, "CA file") if a.root_cert else None
    print(f"{a.name}: {len(ds.y)} rows; joining federation {a.federation} at {a.server}",
          flush=True)
    lend(a.server, a.name, key, a.federation, a.model, ds.schema, ds.X, ds.y,
         root_certificates=root)
    print(f"{a.name}: the aggregator closed the federation")


def cmd_zk(a):
    """``zk setup|prove|verify`` (models.zk)."""
    from . import zk
    target = Path(a.target)
    if a.action == "setup":
        from .data import load_csv
        ref = json.loads(_read(str(target / "reference.json"), "bundle"))
        schema = json.loads(_read(str(target / ref["schema_file"]), "bundle schema"))
        if a.calibration:
            X = load_csv(a.calibration, schema).X
        elif schema["name"] in DATASETS:
            ds, sp = _ds(schema["name"])
            X = ds.X[sp.train_idx]
        else:
            raise CliError(f"{schema['name']} is not a registered data set: give --calibration CSV")
        bundle_id = hashlib.sha256(_read(str(target / "manifest.json"), "bundle")).hexdigest()
        out = Path(a.out) if a.out else _build_dir("zk", bundle_id[:16])
        try:
            info = zk.setup(target, out, X, srs=Path(a.srs) if a.srs else None)
        except zk.NotProvable as exc:
            raise CliError(f"{target}: not provable: {exc}") from None
        print(f"{out}: circuit of {info['features']} inputs, 2^{info['logrows']} rows, vk sha256 "
              f"{info['vk_sha256']}, proving key {info['sizes']['pk.key'] / 1e6:.1f} MB"
              + (" (local SRS: tests only)" if info["srs_local_test_only"] else ""))
        return
    info = json.loads(_read(str(target / "zk.json"), "circuit directory"))
    if a.action == "verifier":
        v = zk.evm_verifier(target)
        print(f"{target / 'Halo2Verifier.sol'}: verifier of vk sha256 {v['vk_sha256']}, "
              f"{v['deployed_bytes']:,} bytes of code (limit 24,576), runtime code keccak256 "
              f"0x{v['deployed_code_keccak']}; deploy it, then ModelRegistry.setZkCircuit(modelId, "
              f"verifier, 0x{v['vk_sha256']}, {info['output_scale']}) before approval")
        return
    if a.action == "prove":
        from .schema import validate_row
        if not a.features:
            raise CliError("prove needs --features FILE (one applicant's features as JSON)")
        if not a.borrower or a.nonce is None:
            raise CliError("prove needs --borrower ADDRESS and --nonce N: the loan request the proof "
                           "is for (CreditScoreRegistry.nonces(borrower) after the request)")
        bundle = Path(info["bundle"])
        ref = json.loads((bundle / "reference.json").read_text())
        schema = json.loads((bundle / ref["schema_file"]).read_text())
        try:
            row = validate_row(schema, json.loads(_read(a.features, "features file")))
        except json.JSONDecodeError as exc:
            raise CliError(f"{a.features} is not JSON: {exc}") from None
        try:
            salt = bytes.fromhex(a.salt.removeprefix("0x")) if a.salt else secrets.token_bytes(32)
            blind = zk.blinding(salt, info["input_scale"])
        except ValueError:
            raise CliError("--salt must be 32 bytes of hex (the borrower's feature-store salt)") from None
        try:
            loan = zk.loan_binding(a.borrower, a.nonce, info["input_scale"])
        except ValueError as exc:
            raise CliError(f"--borrower/--nonce: {exc}") from None
        from . import serving  # the served row: the elderly rule's favourable age
        row = serving.favourable_row(serving.load_bundle(bundle), row)
        z = zk.features_z(bundle, row.reshape(1, -1))[0]
        out = Path(a.out) if a.out else target / "proofs" / time.strftime("%Y%m%dT%H%M%S")
        r = zk.prove(target, z, blind, loan, out)
        note = ""
        if not a.salt:  # the salt is the borrower's secret: kept beside the proof, owner-only
            (out / "salt.hex").write_text(salt.hex() + "\n")
            (out / "salt.hex").chmod(0o600)
            note = f" (a new salt, kept in {out / 'salt.hex'})"
        print(f"{out / 'proof.json'}: PD {r['pd_bps']} bps (logit {r['logit']:.6f}), features "
              f"commitment {r['featuresCommitment']}{note}, {r['proof_bytes']} bytes, "
              f"{r['prove_seconds']:.2f} s")
        return
    if not a.proof:
        raise CliError("verify needs --proof FILE")
    ok = zk.verify(target, Path(a.proof))
    values = zk.public_values(Path(a.proof), info) if ok else None
    if ok and a.commitment and a.commitment.lower() not in (values["commitment"],
                                                           values["featuresCommitment"]):
        print(f"{a.proof}: a valid proof, but over other features (commitment "
              f"{values['featuresCommitment']})")
        raise SystemExit(1)
    if not ok:
        print(f"{a.proof}: does not verify under {target / 'vk.key'}")
        raise SystemExit(1)
    print(f"{a.proof}: verified; PD {values['pd_bps']} bps as the score registry derives it "
          f"(logit {values['logit']:.6f}), features commitment {values['featuresCommitment']}")


def _build_dir(*parts: str) -> Path:
    from .train import ROOT
    return ROOT.joinpath("build", *parts)


def cmd_federate(a):
    """One federation on this machine as a consortium would run it: the lenders and the
    aggregator as separate processes talking Flower over localhost, the run saved and
    re-verified as a member would, and every round anchored in DataAnchor and checked."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # imported by Flower, chatty at INFO
    from .federated import audit
    from .federated.run import run_federation
    if a.dataset not in DATASETS:
        raise CliError(f"unknown data set {a.dataset}; choose from {', '.join(DATASETS)}")
    strategy = _strategy(a)
    _check_export_dir(a.export)
    ds, sp = _ds(a.dataset)
    _check_clients(ds, sp, a.clients)
    run = run_federation(ds, sp, model=a.model, strategy=strategy, rounds=a.rounds,
                         clients=a.clients, export=Path(a.export) if a.export else None)
    out = audit.save_run(run, Path(a.out or _fed_dir(f"{a.dataset}-{run['federation']}")))
    for i in run["institutions"]:
        print(f"  {i['name']} ({i['band']}): {i['rows']} rows, default rate "
              f"{i['default_rate']:.3f}")
    print(f"{out}: {len(run['institutions'])} lenders, {a.rounds} rounds in "
          f"{run['seconds']:.0f} s, holdout AUC {run['holdout_auc_by_round'][-1]:.4f}")
    results = audit.verify_run(out)
    bad = [r for r in results if not r["ok"]]
    print(f"verified as a member: {len(results) - len(bad)} of {len(results)} checks passed")
    if bad:
        raise SystemExit(1)
    # the chain side is the brownie project's (scripts/), which only a checkout has; the installed
    # package maps models/ from it, so its root is models/'s parent
    root = Path(__file__).resolve().parents[1]
    if not (root / "scripts" / "federation_anchor.py").exists():
        raise CliError(f"anchoring needs the Scorechain checkout's scripts/ (not under {root})")
    sys.path.insert(0, str(root))
    from scripts.federation_anchor import anchor_on_chain
    anchors, checks = anchor_on_chain(out, a.network)
    print(f"anchored in DataAnchor {anchors['data_anchor']} by {anchors['aggregator']}: "
          f"{sum(c['ok'] for c in checks)} of {len(checks)} batches (rounds and statistics) "
          "found on chain")
    if not all(c["ok"] for c in checks):
        raise SystemExit(1)
    if a.export:
        _print_export(run["after"], a.export)
        print(f"register it with SCORECHAIN_MODEL_DIR={a.export} SCORECHAIN_MODEL_FEDERATION="
              f"{out} brownie run scripts/02_register_model.py")


def cmd_train(a):
    from .families import FAMILIES
    if a.csv or a.schema:
        return cmd_train_csv(a)
    if not a.dataset:
        raise CliError("train needs a data set (gmsc, taiwan, german) or --csv FILE --schema "
                       "FILE")
    if a.family:
        return cmd_train_family(a)
    csv_only = [f"--{k.replace('_', '-')}" for k in CSV_ONLY
                if getattr(a, k) not in (None, "", False, "full")]
    if csv_only:
        raise CliError(f"{', '.join(csv_only)} only apply with --csv")
    from .select import run_training
    run_training(a.dataset, search_families=_names(_or(a.search, "hgb"), FAMILIES, "family"),
                 n_trials=_or(a.trials, 10), search_folds=_or(a.search_folds, 3),
                 version=a.version)


CSV_ONLY = ("time_column", "out", "reports", "force", "drop_invalid", "budget", "families",
            "resamplers", "folds", "n_boot")


def cmd_train_family(a):
    """``train DATASET --family F``: export that family as the bundle even when another wins."""
    import shlex

    from .families import FAMILIES
    from .select import train_family
    from .train import DEFAULT_DIR, ROOT
    fam = _names(a.family, FAMILIES, "family")
    if len(fam) != 1:
        raise CliError("--family takes one family")
    other = [f"--{k.replace('_', '-')}" for k in CSV_ONLY if k not in FAMILY_OPTS
             and getattr(a, k) not in (None, "", False, "full")]
    if other or a.search or a.trials:
        raise CliError(f"{', '.join(other) or '--search/--trials'} do not apply with --family")
    base = ROOT / "build" / "models" / f"{a.dataset}-{fam[0]}"
    out = Path(a.out) if a.out else base / "bundle"
    reports = Path(a.reports) if a.reports else base / "reports"
    for d in (out, reports):
        if d.resolve() == DEFAULT_DIR.resolve() and not a.force:
            raise CliError(f"{d} is the committed default model; pass --force to replace it")
        if d.is_dir() and any(d.iterdir()) and not a.force:
            raise CliError(f"{d} is not empty; pass --force or choose another directory")
    ds, sp = _ds(a.dataset)
    r = train_family(ds, sp, fam[0], outdir=out, reports=reports,
                     n_boot=_or(a.n_boot, 1000), version=a.version,
                     command=f"{PROG} {shlex.join(a.argv)}")
    e = r["evaluation"]
    print(json.dumps({"bundle": str(out), "bundle_id": r["card"]["bundle_id"],
                      "family": fam[0], "cv_auc_mean": r["card"]["evaluation"]["cv"]["auc_mean"],
                      "holdout_auc": e["auc"], "brier": e["brier"],
                      "parity": r["export"]["parity_max_abs_diff"]}, indent=1))


# Options of --csv that also apply to --family.
FAMILY_OPTS = ("out", "reports", "force", "n_boot")


def _or(value, default):
    return default if value is None else value


def cmd_train_csv(a):
    import shlex
    from dataclasses import replace

    from .families import FAMILIES, RESAMPLERS
    from .owncsv import BUDGETS, train_csv
    if a.dataset:
        raise CliError(f"give either a data set ({a.dataset}) or --csv, not both")
    if not (a.csv and a.schema):
        raise CliError("--csv and --schema go together (make a schema with "
                       "`python -m models schema infer`)")
    b = BUDGETS[a.budget]
    b = replace(b, **{k: v for k, v in {
        "families": None if a.families is None else tuple(_names(a.families, FAMILIES,
                                                                  "family")),
        "resamplers": None if a.resamplers is None else tuple(_names(a.resamplers, RESAMPLERS,
                                                                     "resampler")),
        "search": None if a.search is None else tuple(_names(a.search, FAMILIES, "family")),
        "trials": a.trials, "search_folds": a.search_folds, "folds": a.folds,
        "n_boot": a.n_boot}.items() if v is not None})
    if not b.families or not b.resamplers:
        raise CliError("--families and --resamplers need at least one name each")
    if b.folds < 2 or b.search_folds < 1 or b.search_folds > b.folds or b.trials < 1:
        raise CliError(f"need 2 <= --folds, 1 <= --search-folds <= --folds and --trials >= 1 "
                       f"(got {b.folds}, {b.search_folds}, {b.trials})")
    command = f"{PROG} {shlex.join(a.argv)}"
    r = train_csv(a.csv, a.schema, time_column=a.time_column, out=a.out or None,
                  reports=a.reports or None, force=a.force, drop_invalid=a.drop_invalid,
                  budget=b, version=a.version, command=command)
    print(json.dumps(r, indent=1))


def cmd_schema_infer(a):
    from .infer import file_sha256, infer, schema_name
    from .owncsv import read_csv
    out = Path(a.out) if a.out else Path(a.csv).with_suffix(".schema.json")
    if out.exists() and not a.force:
        raise CliError(f"{out} exists; pass --force to overwrite it or --out another file")
    positive = [v.strip() for v in a.positive.split(",") if v.strip()]
    if not positive:
        raise CliError("--positive needs at least one value")
    df = read_csv(a.csv, {})
    schema, warnings_ = infer(df, a.target, positive, name=a.name or schema_name(a.csv),
                              source=Path(a.csv).name)
    schema["review"]["inferred_from"] = {"file": Path(a.csv).name,
                                         "sha256": file_sha256(a.csv), "rows": int(len(df))}
    for w in warnings_:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(schema, indent=1, ensure_ascii=False) + "\n")
    print(out)


def cmd_goals(a):
    from .goals import measure
    from .train import REPORTS
    out = measure(a.bundle, a.dataset, n_boot=a.n_boot)
    path = REPORTS / "summary.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    entry = summary.setdefault(a.dataset, {})
    if entry.get("bundle_id") not in (None, out["bundle_id"]):
        raise CliError(f"summary.json describes bundle {entry['bundle_id']} for {a.dataset}, not "
                       f"{out['bundle_id']}: train it first")
    entry["paired_goals"] = out
    for stale in ("goal_auc", "goal_auc_met"):  # the absolute goals these replace
        entry.pop(stale, None)
    path.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(out, indent=1))


def cmd_reason_codes(a):
    from .reasons import TABLE_FILE, published_table, write_published_table
    if a.check:
        if json.loads(TABLE_FILE.read_text()) != published_table():
            raise SystemExit(f"{TABLE_FILE} is out of date: run python -m models reason-codes")
        print(f"{TABLE_FILE}: up to date")
        return
    print(write_published_table())


def cmd_train_default(a):
    from .train import train_default
    r = train_default(n_boot=a.n_boot)
    e = r["evaluation"]
    print(json.dumps({"model_id": r["card"]["model_id"], "auc": e["auc"], "brier": e["brier"],
                      "ks": e["ks"], "h_measure": e["h_measure"],
                      "parity": r["export"]["parity_max_abs_diff"]}, indent=1))


def cmd_export(a):
    from .train import train_and_export
    cfg = _json_file(a.config)
    out = Path(a.out) if a.out else None
    r = train_and_export(cfg, outdir=out, n_boot=a.n_boot)
    print(r["card"]["model_id"])


def cmd_evaluate(a):
    import numpy as np

    from . import metrics as M
    from .serving import is_elderly, load_bundle, served_pds
    b = load_bundle(a.bundle)
    ds, sp = _ds(b.schema["name"])
    Xh, yh = ds.X[sp.holdout_idx], ds.y[sp.holdout_idx]
    old = [i for i, x in enumerate(Xh) if is_elderly(b, x)]
    p = served_pds(b, Xh).astype(np.float64)  # as served: the elderly rule applied
    m = M.all_metrics(yh, p, n_boot=a.n_boot)
    print(json.dumps({"model_id": b.model_id, "bundle_id": b.bundle_id,
                      "elderly_rows_rescored": len(old), **{k: m[k] for k in
                      ("auc", "auc_ci95", "h_measure", "brier", "ks", "ece")}}, indent=1))


def cmd_explain(a):
    if a.study:
        from .explain import run_study
        run_study(tuple(_names(a.dataset, DATASETS, "dataset")) or ("gmsc", "taiwan"),
                  n_samples=a.samples)
        return
    import numpy as np

    from .schema import validate_row
    from .serving import contributions, load_bundle, reason_codes, score_row
    b = load_bundle(a.bundle)
    row = _json_file(a.row) if a.row else None
    if row is None:
        ds, sp = _ds(b.schema["name"])
        if not 0 <= a.index < len(sp.holdout_idx):
            raise CliError(f"--index {a.index} is outside the holdout rows "
                           f"(0 to {len(sp.holdout_idx) - 1})")
        from .schema import decode_row
        row = decode_row(b.schema, ds.X[sp.holdout_idx[a.index]])
    x = validate_row(b.schema, row)
    pd_, contrib = contributions(b, x)
    texts = json.loads((b.path / "reference.json").read_text())["reason_codes"]["text"]
    out = score_row(b, row)
    out["reasons"] = [{"code": c, "text": texts.get(str(c), "")} for c in reason_codes(b, x)
                      if c]
    out["contributions"] = {n: float(c) for n, c in zip(b.feature_names, contrib)}
    out["row"] = row
    print(json.dumps(out, indent=1, default=lambda v: v.item() if isinstance(v, np.generic)
                     else str(v)))


def cmd_manifest(a):
    from .manifest import BundleIntegrityError, check, read_files, write
    if a.check:
        try:
            print(check(read_files(a.bundle)))
        except BundleIntegrityError as exc:
            raise CliError(str(exc)) from None
        return
    print(write(a.bundle))


PROG = "python -m models"


def main(argv=None):
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(prog=PROG,
                                description="Scorechain PD models: train, evaluate, export, "
                                            "explain.")
    p.add_argument("--version", action="version", version=f"models {package_version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("train", help="compare every family x 3 resamplers on the shared folds, "
                                     "Optuna-tune, select, calibrate, export and report; a "
                                     "registered data set or --csv FILE --schema FILE")
    s.add_argument("dataset", nargs="?", choices=DATASETS)
    s.add_argument("--search", default=None, help="families to tune (comma list, '' = none; "
                                                  "default hgb)")
    s.add_argument("--trials", type=int, default=None, help="Optuna budget per tuned family "
                                                            "(default 10)")
    s.add_argument("--search-folds", type=int, default=None,
                   help="CV folds used while searching (default 3)")
    s.add_argument("--version", default="1")
    s.add_argument("--family", default="",
                   help="export this family as the bundle even if another wins the comparison "
                        "(e.g. scorecard, for its transparency); --out/--reports default to "
                        "build/models/<dataset>-<family>/")
    g = s.add_argument_group("your own CSV")
    g.add_argument("--csv", default="", help="data file (any CSV)")
    g.add_argument("--schema", default="", help="its feature schema (python -m models schema "
                                                "infer writes a draft)")
    g.add_argument("--time-column", default=None,
                   help="hold out the latest ~20%% of rows by this column (dates or numbers) "
                        "instead of a stratified random 20%%")
    g.add_argument("--out", default="", help="bundle directory (default "
                                             "build/models/<schema name>/bundle)")
    g.add_argument("--reports", default="", help="reports directory (default "
                                                 "build/models/<schema name>/reports)")
    g.add_argument("--force", action="store_true",
                   help="replace a non-empty --out/--reports (needed for models/default)")
    g.add_argument("--drop-invalid", action="store_true",
                   help="drop rows that violate the schema (counted in the card) instead of "
                        "stopping at the first column with bad rows")
    g.add_argument("--budget", choices=("full", "ci"), default="full",
                   help="full: every family x 3 resamplers, 5 folds, 10 trials; ci: logreg and "
                        "hgb, no resampling, 3 folds, 2 trials (tests); flags below override")
    g.add_argument("--families", default=None, help="families to compare (comma list)")
    g.add_argument("--resamplers", default=None, help="resamplers to compare (comma list)")
    g.add_argument("--folds", type=int, default=None, help="CV folds")
    g.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples for the AUC "
                                                            "interval")
    s.set_defaults(func=cmd_train)
    s = sub.add_parser("schema", help="feature schemas: infer a draft from a CSV")
    ssub = s.add_subparsers(dest="schema_cmd", required=True)
    s = ssub.add_parser("infer", help="write a schema draft (types, ranges, categories, missing "
                                      "policy; leakage suspects flagged) for review")
    s.add_argument("csv")
    s.add_argument("--target", required=True, help="the outcome column")
    s.add_argument("--positive", required=True,
                   help="target value(s) that mean default (comma list)")
    s.add_argument("--name", default="", help="schema name (default: from the file name)")
    s.add_argument("--out", default="", help="draft file (default: <csv>.schema.json beside "
                                             "the CSV)")
    s.add_argument("--force", action="store_true", help="overwrite an existing draft")
    s.set_defaults(func=cmd_schema_infer)
    s = sub.add_parser("goals", help="paired goals of a bundle against untuned HGB (CV "
                                     "fold-paired, holdout paired bootstrap, calibration) -> "
                                     "reports/models/summary.json")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "default"))
    s.add_argument("--n-boot", type=int, default=2000)
    s.set_defaults(func=cmd_goals)
    s = sub.add_parser("reason-codes", help="regenerate models/reason_codes.json from the "
                                            "committed schemas (--check: only compare)")
    s.add_argument("--check", action="store_true")
    s.set_defaults(func=cmd_reason_codes)
    s = sub.add_parser("compare", help="only the family x resampler comparison table")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("--families", default="")
    s.set_defaults(func=cmd_compare)
    s = sub.add_parser("ablation", help="a seed method against its ablations on the shared folds: "
                                        "dbn (pre-trained vs random init vs MLP), atriplet (each "
                                        "head alone vs on the embedding; adaptive vs uniform "
                                        "negatives), domain (derived features vs raw ones), blend "
                                        "(averages of the boosting families vs the best alone)")
    s.add_argument("study", choices=("dbn", "atriplet", "domain", "blend"))
    s.add_argument("dataset", choices=DATASETS)
    s.set_defaults(func=cmd_ablation)
    s = sub.add_parser("cnas", help="C-NAS: cost-aware search of cell networks (seed 004), top "
                                    "architectures cross-validated -> reports/models/cnas_<dataset>")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("--per-round", type=int, default=6)
    s.add_argument("--lam", type=float, default=1.0, help="cost sensitivity (0: cost ignored, "
                                                          "the ablation: cnas_<dataset>_no_cost)")
    s.add_argument("--budget", type=float, default=1200.0,
                   help="seconds after which no new architecture starts (default 1200)")
    s.add_argument("--top", type=int, default=3)
    s.add_argument("--max-epochs", type=int, default=20)
    s.set_defaults(func=cmd_cnas)
    s = sub.add_parser("seed-table", help="the seed's neural methods against untuned HGB and the "
                                          "plain MLP, CV and holdout (reports/models/"
                                          "seed_methods_<dataset>)")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("--n-boot", type=int, default=2000)
    s.set_defaults(func=cmd_seed_table)
    s = sub.add_parser("federated", help="lenders train one model without pooling rows (Flower): "
                                         "run DATASET, verify RUN_DIR, study DATASET, report "
                                         "DATASET (reports/federated.md)")
    s.add_argument("action", choices=("run", "verify", "study", "report"))
    s.add_argument("target", help="a data set (run, study, report) or a run directory (verify)")
    s.add_argument("--model", default="logistic", choices=("logistic", "xgb"))
    s.add_argument("--strategy", default="fedavg",
                   choices=("fedavg", "fedprox", "fedmedian", "fedtrimmedavg", "krum",
                            "xgb_bagging"))
    s.add_argument("--rounds", type=int, default=20)
    s.add_argument("--out", default="", help="run directory (default build/federation/...)")
    s.add_argument("--export", default="", help="also export the model as a bundle there "
                                                "(references from the lenders' answers)")
    s.add_argument("--clients", type=int, default=None,
                   help="number of lenders (default: the data set's own split)")
    s.add_argument("--n-boot", type=int, default=2000, help="report: bootstrap resamples")
    s.set_defaults(func=cmd_federated)
    s = sub.add_parser("federated-serve", help="the aggregator on its own machine: listens, waits "
                                               "for every member, runs the federation, saves it")
    s.add_argument("schema", help="the consortium's shared feature schema (a file or a data set's)")
    s.add_argument("--members", required=True,
                   help="JSON file: lender name -> the address its updates must be signed by")
    s.add_argument("--federation", required=True,
                   help="this run's id, agreed with the lenders (they sign it into every message)")
    s.add_argument("--address", default="0.0.0.0:9092")
    s.add_argument("--model", default="logistic", choices=("logistic", "xgb"))
    s.add_argument("--strategy", default="", help="default: fedavg (logistic), xgb_bagging (xgb)")
    s.add_argument("--rounds", type=int, default=20)
    s.add_argument("--timeout", type=float, default=600.0,
                   help="seconds to wait for the lenders, and for each round")
    s.add_argument("--tls", nargs=3, metavar=("CA", "CERT", "KEY"), default=None,
                   help="serve TLS with these PEM files (without it: plaintext, for a private "
                        "network only)")
    s.add_argument("--out", default="", help="run directory (default build/federation/<id>)")
    s.add_argument("--holdout", default="",
                   help="the aggregator's own validation CSV (same schema): each round is "
                        "measured on it, and --export checks parity and the gates on it")
    s.add_argument("--export", default="",
                   help="export the model there as a bundle, its references from the "
                        "lenders' answers before they leave (needs --holdout)")
    s.set_defaults(func=cmd_federated_serve)
    s = sub.add_parser("federated-lend", help="a lender on its own machine: its CSV, its key, one "
                                              "Flower client of the aggregator")
    s.add_argument("csv", help="this lender's rows (never sent: only statistics and updates are)")
    s.add_argument("--schema", required=True)
    s.add_argument("--name", required=True, help="this lender's name in the members file")
    s.add_argument("--server", required=True, help="the aggregator's HOST:PORT")
    s.add_argument("--federation", required=True)
    s.add_argument("--model", default="logistic", choices=("logistic", "xgb"))
    s.add_argument("--keystore", default="",
                   help="encrypted keystore of the lender's key (password: "
                        "SCORECHAIN_LENDER_KEYSTORE_PASSWORD or ..._PASSWORD_FILE); without it "
                        "the key is read from SCORECHAIN_LENDER_KEY")
    s.add_argument("--root-cert", default="", help="the aggregator's CA (PEM), for TLS")
    s.set_defaults(func=cmd_federated_lend)
    s = sub.add_parser("zk", help="zero-knowledge proof of a logistic bundle's score (EZKL): "
                                  "setup BUNDLE, verifier ZK_DIR (the Solidity verifier, "
                                  "compiled), prove ZK_DIR, verify ZK_DIR")
    s.add_argument("action", choices=("setup", "verifier", "prove", "verify"))
    s.add_argument("target", help="setup: a bundle directory; verifier, prove, verify: its circuit "
                                  "directory (setup's --out)")
    s.add_argument("--out", default="", help="setup: the circuit directory (default "
                                             "build/zk/<bundle id>); prove: the proof directory")
    s.add_argument("--calibration", default="",
                   help="setup: a CSV of rows (the bundle's schema) spanning the features' range; "
                        "default: the training split of the bundle's data set")
    s.add_argument("--srs", default="", help="setup: a ceremony's SRS file (default: a local, "
                                             "test-only SRS)")
    s.add_argument("--features", default="",
                   help="prove: a JSON file of one applicant's features (name -> value)")
    s.add_argument("--salt", default="",
                   help="prove: the borrower's 32-byte feature-store salt (hex), from which the "
                        "blinding inputs come (default: a new one, written beside the proof)")
    s.add_argument("--borrower", default="", help="prove: the borrower's address (a public input)")
    s.add_argument("--nonce", type=int, default=None,
                   help="prove: the loan request's nonce, CreditScoreRegistry.nonces(borrower) "
                        "(a public input)")
    s.add_argument("--proof", default="", help="verify: the proof.json to check")
    s.add_argument("--commitment", default="",
                   help="verify: the attested features commitment the proof must carry")
    s.set_defaults(func=cmd_zk)
    s = sub.add_parser("federate", help="one federation end to end: N lenders and the aggregator "
                                        "as processes over Flower, every round verified and "
                                        "anchored on a local chain")
    s.add_argument("--dataset", default="gmsc", help="split into lenders by age band (gmsc, "
                                                     "taiwan, german)")
    s.add_argument("--clients", type=int, default=3, help="number of lenders, 2 to 5")
    s.add_argument("--rounds", type=int, default=10, help="training rounds")
    s.add_argument("--model", default="logistic", choices=("logistic", "xgb"))
    s.add_argument("--strategy", default="", help="default: fedavg (logistic), xgb_bagging (xgb)")
    s.add_argument("--network", default="development",
                   help="brownie network to anchor on (default: a local anvil started for the "
                        "run, with a fresh deployment; another network uses its deployment)")
    s.add_argument("--out", default="", help="run directory (default build/federation/...)")
    s.add_argument("--export", default="", help="also export the model as a bundle there "
                                                "(references from the lenders' answers)")
    s.set_defaults(func=cmd_federate)
    s = sub.add_parser("train-default", help="retrain and re-export models/default/ from "
                                             "models/default/train_config.json")
    s.add_argument("--n-boot", type=int, default=1000)
    s.set_defaults(func=cmd_train_default)
    s = sub.add_parser("export", help="fit a JSON config on the training split, export ONNX, "
                                      "card and report")
    s.add_argument("config")
    s.add_argument("--out", default="")
    s.add_argument("--n-boot", type=int, default=1000)
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("evaluate", help="evaluate an exported bundle (ONNX only) on its holdout")
    s.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "default"))
    s.add_argument("--n-boot", type=int, default=1000)
    s.set_defaults(func=cmd_evaluate)
    s = sub.add_parser("explain", help="score + reason codes for one row, or --study for the "
                                       "LIME sampling study")
    s.add_argument("--bundle", default=str(Path(__file__).resolve().parent / "default"))
    s.add_argument("--row", default="", help="JSON file with a feature mapping")
    s.add_argument("--index", type=int, default=0, help="holdout row index if no --row")
    s.add_argument("--study", action="store_true")
    s.add_argument("--dataset", default="")
    s.add_argument("--samples", type=int, default=5000)
    s.set_defaults(func=cmd_explain)
    s = sub.add_parser("manifest", help="write a bundle's manifest.json and print its bundle id "
                                        "(the model id to register); --check only verifies it")
    s.add_argument("bundle")
    s.add_argument("--check", action="store_true", help="verify, do not write")
    s.set_defaults(func=cmd_manifest)
    a = p.parse_args(argv)
    a.argv = argv
    from .schema import FeatureValidationError, SchemaError
    errors = (CliError, FileNotFoundError, FeatureValidationError, SchemaError)
    if a.cmd in ("train", "schema"):
        from .datacheck import DataError
        from .train import GateFailure
        errors += (DataError, GateFailure)
    try:
        a.func(a)
    except errors as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

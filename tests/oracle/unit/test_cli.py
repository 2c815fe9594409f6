"""The CLI without a chain: keys and feature import."""

import csv
import json
from pathlib import Path

import pytest

from oracle.cli import main
from tests.oracle.unit.conftest import GOOD_ROW

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for k in list(os.environ):
        if k.startswith("ORACLE_"):
            monkeypatch.delenv(k)


def test_keys_new_show_and_wrong_password(tmp_path, monkeypatch, capsys):
    ks = tmp_path / "k.json"
    monkeypatch.setenv("ORACLE_KEYSTORE_PASSWORD", "pw-1")
    assert main(["keys", "new", "--keystore", str(ks), "--light-kdf"]) == 0
    address = json.loads(capsys.readouterr().out)["address"]
    assert main(["keys", "show", "--keystore", str(ks)]) == 0
    assert json.loads(capsys.readouterr().out)["address"] == address
    monkeypatch.setenv("ORACLE_KEYSTORE_PASSWORD", "pw-2")
    assert main(["keys", "show", "--keystore", str(ks)]) == 2
    err = capsys.readouterr().err
    assert "wrong password" in err and "pw-2" not in err


def test_keys_import_from_file_and_password_file(tmp_path, monkeypatch, capsys):
    key = tmp_path / "key.hex"
    key.write_text("0x" + "42" * 32 + "\n")
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    ks = tmp_path / "k.json"
    assert main(["keys", "import", "--keystore", str(ks), "--key-file", str(key),
                 "--password-file", str(pw), "--light-kdf"]) == 0
    out = capsys.readouterr().out
    from oracle.keys import public_key_of

    assert json.loads(out)["address"] == public_key_of(b"\x42" * 32)
    assert "42" * 32 not in out and "42" * 32 not in ks.read_text()


def test_keys_new_without_password_is_a_clear_error(tmp_path, capsys):
    assert main(["keys", "new", "--keystore", str(tmp_path / "k.json")]) == 2
    assert "ORACLE_KEYSTORE_PASSWORD" in capsys.readouterr().err


@pytest.mark.skipif(not (BUNDLE / "reference.json").is_file(), reason="no default model")
def test_features_import_counts_and_rejects(tmp_path, capsys):
    path = tmp_path / "f.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["borrower", *GOOD_ROW])
        w.writeheader()
        w.writerow({"borrower": "0x" + "11" * 20, **GOOD_ROW})
        w.writerow({"borrower": "0x" + "22" * 20, **GOOD_ROW, "age": "x"})
    rc = main(["features", "import", str(path), "--store", str(tmp_path / "s.db"),
               "--model", str(BUNDLE)])
    captured = capsys.readouterr()
    assert rc == 2
    assert json.loads(captured.out)["imported"] == 1
    assert json.loads(captured.err.splitlines()[0])["line"] == 3


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("serve", "score", "verify", "keys", "features"):
        assert cmd in out


def project_version() -> str:
    import tomllib

    return tomllib.loads((BUNDLE.parents[1] / "pyproject.toml").read_text())["project"]["version"]


@pytest.mark.parametrize("entry", ["oracle", "python -m oracle"])
def test_version_prints_the_component_and_the_project_version(entry):
    import subprocess
    import sys

    argv = ([str(Path(sys.executable).parent / "oracle")] if entry == "oracle"  # console script
            else [sys.executable, "-m", "oracle"])
    done = subprocess.run([*argv, "--version"], capture_output=True, text=True, timeout=120,
                          cwd=BUNDLE.parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"oracle {project_version()}\n"


@pytest.mark.parametrize("env, names", [
    ({"ORACLE_LOG_LEVEL": "LOUD"}, "ORACLE_LOG_LEVEL: unknown log level 'LOUD'"),
    ({"ORACLE_HTTP_PORT": "abc"}, "ORACLE_HTTP_PORT: "),
    ({"ORACLE_NODES": "[http://a"}, "ORACLE_NODES: not a JSON list"),
    ({"ORACLE_BATCH_SIZE": "400"}, "lower ORACLE_BATCH_SIZE"),
])
def test_serve_with_an_invalid_setting_is_a_one_line_error(env, names):
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("ORACLE_")}
    # Were the setting accepted, the node must not find a chain: a dead port, and a time limit.
    clean.update(ORACLE_RPC_URL="http://127.0.0.1:9", **env)
    done = subprocess.run([str(Path(sys.executable).parent / "oracle"), "serve"], env=clean,
                          capture_output=True, text=True, timeout=120, cwd=BUNDLE.parents[1])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("oracle: error: invalid settings: ") and names in lines[0]


def test_cid_prints_each_paths_ipfs_cid_and_refuses_a_missing_one(tmp_path, capsys):
    from oracle.content_id import bytes_cid, path_cid

    doc = tmp_path / "batch-public.json"
    doc.write_bytes(b"{}\n")
    assert main(["cid", str(BUNDLE), str(doc)]) == 0
    assert json.loads(capsys.readouterr().out) == {str(BUNDLE): path_cid(BUNDLE),
                                                  str(doc): bytes_cid(b"{}\n")}
    assert main(["cid", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _store_with_holdout_borrowers(path, n, transform=None):
    from eth_account import Account

    from models.data import load_dataset, make_splits
    from models.schema import decode_row
    from oracle.scoring import load_model
    from oracle.store import Store

    model = load_model(BUNDLE)
    ds = load_dataset("gmsc")
    sp = make_splits(ds.y, ds.X)
    store = Store.open(path)
    try:
        for i, x in enumerate(ds.X[sp.holdout_idx[:n]]):
            row = decode_row(model.schema, x)
            if transform:
                row = transform(row)
            store.put_features(model.schema, Account.create().address, row, salt=bytes([i % 256]) * 32)
    finally:
        store.close()


def test_drift_report_of_the_stored_borrowers(tmp_path, capsys):
    _store_with_holdout_borrowers(tmp_path / "ok.db", 600)
    assert main(["drift", "--store", str(tmp_path / "ok.db"), "--model", str(BUNDLE),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 600 and out["level"] == "ok"

    def poorer(row):
        if row["MonthlyIncome"] is not None:
            row["MonthlyIncome"] = row["MonthlyIncome"] / 2
        return row
    _store_with_holdout_borrowers(tmp_path / "poor.db", 600, poorer)
    assert main(["drift", "--store", str(tmp_path / "poor.db"), "--model", str(BUNDLE)]) == 3
    text = capsys.readouterr().out
    assert "level alert" in text and "MonthlyIncome" in text

"""`oracle verify --disclosure` at its edges, without a chain: bad input and an unreachable RPC are
one clear line (exit 2), and the RPC URL's secret parts never reach the output."""

from pathlib import Path

import pytest

from oracle import disclosure as disc
from oracle.cli import main
from oracle.scoring import load_model
from scripts.scorechain_testkit import audit_case
from tests.oracle.unit.conftest import GOOD_ROW

BUNDLE = Path(__file__).resolve().parents[3] / "models" / "default"


@pytest.fixture
def disclosure_file(tmp_path):
    d, _, _ = audit_case(load_model(BUNDLE), GOOD_ROW)
    path = tmp_path / "d.json"
    disc.write(d, path)
    return path


@pytest.fixture
def env(monkeypatch, tmp_path):
    for k in ("ORACLE_CONFIG", "ORACLE_MODEL_PATH", "ORACLE_STORE_PATH"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("ORACLE_REGISTRY_ADDRESS", "0x" + "ce" * 20)
    monkeypatch.setenv("ORACLE_RPC_URL", "http://auditor:hunter2@127.0.0.1:9/v3/SECRETKEY123")
    monkeypatch.setenv("ORACLE_RPC_TIMEOUT_S", "2")
    monkeypatch.setenv("ORACLE_STORE_PATH", str(tmp_path / "store.db"))


def test_an_unreachable_rpc_is_a_clear_error_without_the_url_secrets(env, disclosure_file,
                                                                    capsys):
    assert main(["verify", "--disclosure", str(disclosure_file)]) == 2
    out = capsys.readouterr()
    assert "cannot read the chain at http://127.0.0.1:9" in out.err
    text = out.out + out.err
    assert "SECRETKEY123" not in text and "hunter2" not in text


def test_a_malformed_disclosure_and_a_bad_target_are_clear_errors(env, disclosure_file, tmp_path,
                                                                 capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "scorechain-disclosure/1", "borrower": "0x12"}')
    assert main(["verify", "--disclosure", str(bad)]) == 2
    assert "borrower: not an address" in capsys.readouterr().err
    assert main(["verify", "not-a-hash", "--disclosure", str(disclosure_file)]) == 2
    assert "is not a transaction hash" in capsys.readouterr().err
    assert main(["verify", "--disclosure", str(tmp_path / "missing.json")]) == 2
    assert "cannot read a disclosure" in capsys.readouterr().err


def test_disclose_refuses_a_csv_without_salts(env, tmp_path, capsys):
    csv = tmp_path / "rows.csv"
    csv.write_text("borrower," + ",".join(GOOD_ROW) + "\n" + "0x" + "11" * 20 + ","
                   + ",".join(str(v) for v in GOOD_ROW.values()) + "\n")
    assert main(["disclose", "0x" + "11" * 20, "--csv", str(csv),
                 "--out", str(tmp_path / "d.json")]) == 2
    assert "no salt column" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()


def test_the_store_based_verify_hides_the_url_secrets_too(env, capsys):
    assert main(["verify", "0x" + "11" * 32]) == 2
    out = capsys.readouterr()
    assert "cannot read the chain at http://127.0.0.1:9" in out.err
    assert "SECRETKEY123" not in out.out + out.err and "hunter2" not in out.out + out.err


def test_a_missing_batch_document_and_a_link_inside_the_bundle_are_clear_errors(
        env, disclosure_file, tmp_path, capsys):
    import shutil

    assert main(["verify", "--disclosure", str(disclosure_file),
                 "--batch-doc", str(tmp_path / "nope.json")]) == 2
    assert "cannot read the batch document" in capsys.readouterr().err
    bundle = tmp_path / "bundle"
    shutil.copytree(BUNDLE, bundle)
    (bundle / "notes").symlink_to("/etc/hostname")  # outside the bundle: never followed
    assert main(["verify", "--disclosure", str(disclosure_file), "--model", str(bundle)]) == 2
    assert "model bundle:" in capsys.readouterr().err

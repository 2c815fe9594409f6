"""The federation's two roles as separate programs (issue 15), as they run on separate machines:
``python -m models federated-serve`` (the aggregator, no data) and ``federated-lend`` (a lender
with its own CSV and key), here as processes talking Flower over 127.0.0.1."""
import json
import os
import socket
import subprocess
import sys

import pandas as pd
from eth_account import Account

from models.data import package_data_path
from models.federated import audit
from models.schema import load_schema
from models.serving import load_bundle
from oracle.keys import create_keystore

KEYS = {"north-bank": "0x" + "a1" * 32, "south-bank": "0x" + "b2" * 32}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _models(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "models", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})


def _csvs(tmp_path) -> dict:
    schema = load_schema("taiwan")
    raw = pd.read_csv(package_data_path(schema["source"]["package"], schema["source"]["path"]),
                      **schema["source"].get("read_csv", {}))
    out = {}
    for i, name in enumerate(KEYS):
        out[name] = tmp_path / f"{name}.csv"
        raw.iloc[i * 2500:(i + 1) * 2500].to_csv(out[name], index=False)
    out["aggregator"] = tmp_path / "validation.csv"  # the aggregator's own rows, no lender's
    raw.iloc[5000:8000].to_csv(out["aggregator"], index=False)
    return out


def _tls(tmp_path) -> tuple[str, str, str]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(subject, issuer, key, signer, ca: bool):
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return b.sign(signer, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "consortium CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aggregator")])
    files = {"ca.pem": cert(ca_name, ca_name, ca_key, ca_key, True),
             "server.pem": cert(name, ca_name, key, ca_key, False)}
    for f, c in files.items():
        (tmp_path / f).write_bytes(c.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(tmp_path / "ca.pem"), str(tmp_path / "server.pem"), str(tmp_path / "server.key")


def _federation(tmp_path, lender_keys: dict, rounds: int = 2, tls: bool = False,
                export: bool = False):
    members = tmp_path / "members.json"
    members.write_text(json.dumps({n: Account.from_key(k).address for n, k in KEYS.items()}))
    csvs, port, run_dir = _csvs(tmp_path), _port(), tmp_path / "run"
    ca, crt, key = _tls(tmp_path) if tls else (None, None, None)
    server = _models("federated-serve", "taiwan", "--members", str(members), "--federation",
                     "fed-test-1", "--address", f"127.0.0.1:{port}", "--rounds", str(rounds),
                     "--timeout", "60", "--out", str(run_dir),
                     *(["--tls", ca, crt, key] if tls else []),
                     *(["--holdout", str(csvs["aggregator"]), "--export", str(tmp_path / "bundle")]
                       if export else []))
    lenders = {}
    for name, how in lender_keys.items():
        args = ["federated-lend", str(csvs[name]), "--schema", "taiwan", "--name", name,
                "--server", f"127.0.0.1:{port}", "--federation", "fed-test-1"]
        lenders[name] = _models(*args, *how.get("args", []), *(["--root-cert", ca] if tls else []),
                                env=how.get("env"))
    out = server.communicate(timeout=300)[0]
    for p in lenders.values():
        try:
            p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
    return server.returncode, out, run_dir


def test_an_aggregator_and_two_lenders_run_a_federation_as_separate_programs_over_tls(tmp_path):
    keystore = tmp_path / "south.json"
    create_keystore(keystore, "pw", bytes.fromhex(KEYS["south-bank"][2:]))
    rc, out, run_dir = _federation(tmp_path, {
        "north-bank": {"env": {"SCORECHAIN_LENDER_KEY": KEYS["north-bank"]}},
        "south-bank": {"args": ["--keystore", str(keystore)],
                       "env": {"SCORECHAIN_LENDER_KEYSTORE_PASSWORD": "pw"}}}, tls=True,
        export=True)
    assert rc == 0, out
    assert all(r["ok"] for r in audit.verify_run(run_dir))
    doc = json.loads((run_dir / "run.json").read_text())
    assert [i["rows"] for i in doc["institutions"]] == [2500, 2500]
    assert len(doc["records"]) == 2 and {"moments", "sketch", "monitoring_counts"} <= set(
        doc["statistics"])
    assert len(doc["holdout_auc_by_round"]) == 2  # measured on the aggregator's own rows
    # the bundle, its references from the lenders' answers, loads as the oracle loads it
    bundle = load_bundle(tmp_path / "bundle")
    ref = json.loads((tmp_path / "bundle" / "reference.json").read_text())
    assert ref["gates"]["passed"] and "lenders' statistics" in ref["monitoring"]["computed_from"]
    assert sum(ref["reference_rows"]["rows_per_lender"]) == ref["reference_rows"]["rows"]
    assert f"bundle {bundle.bundle_id[:16]}…, gates passed" in out


def test_a_lender_signing_with_another_key_stops_the_federation_with_the_reason(tmp_path):
    rc, out, run_dir = _federation(tmp_path, {
        "north-bank": {"env": {"SCORECHAIN_LENDER_KEY": KEYS["north-bank"]}},
        "south-bank": {"env": {"SCORECHAIN_LENDER_KEY": "0x" + "c3" * 32}}})
    assert rc == 2
    assert "south-bank's answer is not signed by its key" in out
    assert "Traceback" not in out and not (run_dir / "run.json").exists()


def test_a_members_file_giving_two_lenders_one_address_is_refused(tmp_path):
    """One key behind two names would count one institution twice."""
    members = tmp_path / "members.json"
    address = Account.from_key(KEYS["north-bank"]).address
    members.write_text(json.dumps({"north-bank": address, "north-bank-2": address}))
    p = _models("federated-serve", "taiwan", "--members", str(members), "--federation", "f",
                "--address", f"127.0.0.1:{_port()}", "--timeout", "5")
    out = p.communicate(timeout=120)[0]
    assert p.returncode == 2 and "two lenders share one address" in out, out

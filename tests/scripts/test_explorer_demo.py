"""`make explorer` (scripts/explorer_demo.py): a saved anvil chain, loaded into a new anvil, served by
the explorer with every block, receipt and log of the original; a missing save is a clear error."""

import json
import socket
import subprocess
import sys
import time

import requests
from brownie import web3

from tests.oracle.integration.test_explorer import deployment  # noqa: F401  (module fixture)

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_saved_chain_is_served_with_its_history(deployment, tmp_path):  # noqa: F811
    system = deployment["system"]
    state = web3.provider.make_request("anvil_dumpState", [])["result"]
    saved = tmp_path / "chain-state.json"
    saved.write_text(json.dumps({"chain_id": web3.eth.chain_id, "addresses": system.addresses(), "state": state}))
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scripts.explorer_demo", "--state", str(saved), "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                summary = requests.get(f"http://127.0.0.1:{port}/api/summary", timeout=2).json()
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert summary["loans"] == system.loan_manager.loanCount() == 2
        history = requests.get(f"http://127.0.0.1:{port}/api/loans/{deployment['repaid']}", timeout=5).json()
        assert [h["event"] for h in history["history"]][-1] == "LoanFullyRepaid"  # logs came with the state
    finally:
        proc.terminate()
        proc.wait(20)


def test_without_a_saved_chain_it_says_run_the_demo_first(tmp_path):
    r = subprocess.run([sys.executable, "-m", "scripts.explorer_demo", "--state", str(tmp_path / "none.json")],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "run `make demo` first" in r.stderr

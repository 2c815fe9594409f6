"""`brownie console` on Ganache, driven with piped input as a user would type it: the helpers in
scripts/console.py deploy, onboard a borrower, score it through the in-process 2-of-3 oracle and
walk its loan to repaid."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SESSION = """\
from scripts.console import *
s = deploy()
b = new_borrower(s, seed=3)
loan = request(s, b, 1000)
att = score(s, b)
explain(att)
approve(s, loan)
fund(s, loan)
repay(s, loan)
show(s, loan)
"""


@pytest.mark.slow
def test_console_session_on_ganache_walks_a_loan_to_repaid():
    # ganache-alt: Ganache 7.9.2 on port 8555, so it runs beside the test session's own chain.
    done = subprocess.run([str(ROOT / ".venv/bin/brownie"), "console", "--network", "ganache-alt"],
                          input=SESSION, cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)  # brownie colours its console output
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in out and "Error: " not in out, out[-3000:]
    assert "deployed; model 0x" in out
    assert "loan 1 requested (ScoreRequested emitted)" in out
    assert "recorded for 0x" in out
    assert "reason 1: " in out
    assert "loan 1: approved" in out
    assert "loan 1 repaid in full" in out
    assert "loan 1: Repaid, principal 1,000.00" in out

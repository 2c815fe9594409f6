"""Every command-line tool beside the oracle, models and demo ones answers --version (issue 17),
from any directory, before doing any work (no chain, no data)."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ["scripts/explorer_demo.py", "scripts/gas_breakdown.py", "bench/bench_models.py",
         "bench/bench_oracle.py", "bench/bench_verify.py", "bench/reliability.py",
         "bench/run_all.py"]


@pytest.mark.parametrize("tool", TOOLS)
def test_the_tool_prints_its_name_and_the_project_version(tool, tmp_path):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = subprocess.run([sys.executable, str(ROOT / tool), "--version"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{Path(tool).stem} {version}\n"

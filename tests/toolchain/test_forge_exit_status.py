"""CI's Foundry step must fail when forge fails: scripts/toolchain/forge.sh passes forge's exit
status on (the npm wrapper, node_modules/.bin/forge, exits 0 after a failed compile or test)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSING = "function test_ok() public pure { require(1 + 1 == 2, 'math'); }"
FAILING = "function test_broken() public pure { require(1 + 1 == 3, 'math'); }"
NOT_SOLIDITY = "function test_x() public { uint x = ; }"


def _forge_test(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "T.t.sol").write_text(
        f"// SPDX-License-Identifier: MIT\npragma solidity 0.8.24;\ncontract T {{ {body} }}\n")
    (tmp_path / "foundry.toml").write_text(
        f'[profile.default]\nsrc = "test"\ntest = "test"\nout = "out"\ncache_path = "cache"\n'
        f'solc = "{ROOT / ".solcx" / "solc-v0.8.24"}"\noffline = true\nevm_version = "shanghai"\n')
    return subprocess.run(["bash", str(ROOT / "scripts/toolchain/forge.sh"), "test", "--root", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("body,ok", [(PASSING, True), (FAILING, False), (NOT_SOLIDITY, False)],
                         ids=["passing", "failing-test", "compile-error"])
def test_forge_wrapper_passes_the_exit_status_on(tmp_path, body, ok):
    done = _forge_test(tmp_path, body)
    assert (done.returncode == 0) is ok, done.stdout[-2000:] + done.stderr[-2000:]

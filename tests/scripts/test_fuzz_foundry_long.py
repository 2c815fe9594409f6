"""scripts/toolchain/fuzz_foundry_long.py: the long Foundry profile in seeded shards; what it
reads from forge's output and how shards add up (forge itself runs in `make fuzz-foundry-long`)."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "fuzz_foundry_long", Path(__file__).resolve().parents[2] / "scripts/toolchain/fuzz_foundry_long.py")
long = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(long)

FORGE_OUT = """Ran 2 tests for tests/foundry/LoanLifecycle.invariants.t.sol:LoanLifecycleInvariants
[PASS] invariant_accountingHolds() (runs: 2500, calls: 1280000, reverts: 0)
[FAIL: a ghost total differs] invariant_loansFollowTheLifecycle() (runs: 2500, calls: 1279488, reverts: 1)
Suite result: FAILED. 1 passed; 1 failed; 0 skipped
"""


def test_each_invariants_result_is_read_from_forges_output_failures_included():
    found = {name: (status, int(runs), int(calls), int(reverts))
             for status, name, runs, calls, reverts in long.RESULT.findall(FORGE_OUT)}
    assert found == {"invariant_accountingHolds": ("PASS", 2500, 1280000, 0),
                     "invariant_loansFollowTheLifecycle": ("FAIL", 2500, 1279488, 1)}


def test_shards_add_up_per_invariant_and_name_the_shards_that_failed():
    record = {"shards": {
        "0/8": {"shard": 0, "invariants": {"invariant_a": {"passed": True, "runs": 2500,
                                                           "calls": 1_280_000}}},
        "5/8": {"shard": 5, "invariants": {"invariant_a": {"passed": False, "runs": 2500,
                                                           "calls": 1_000_000}}}}}
    assert long.summary(record) == {"invariant_a": {"calls": 2_280_000, "runs": 5000,
                                                    "failed_shards": [5]}}


@pytest.mark.parametrize("args", [["--of", "7"], ["--shard", "8"], ["--shard", "-1"]])
def test_a_split_that_does_not_divide_the_runs_or_a_shard_out_of_range_is_refused(args, capsys):
    with pytest.raises(SystemExit) as exc:
        long.main(args)
    assert exc.value.code == 2

"""Benchmarks record the load they measured (bench/common.py LoadProbe), not a sentence about who
shared the machine, and the reports render those measured figures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_oracle  # noqa: E402
import run_all  # noqa: E402
from common import LoadProbe, describe_load  # noqa: E402

FAKE_LOAD = {"cpu_count": 2, "load_average_before": [1.5, 1.2, 1.0],
             "load_average_after": [2.25, 1.4, 1.1], "wall_seconds": 120.0,
             "cpu_seconds_self": 10.5, "cpu_seconds_children": 80.25, "own_cores_busy": 0.76,
             "machine_cores_busy": 1.62, "others_cores_busy": 0.86}


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_load_probe_measures_own_and_child_cpu_time_against_wall_time():
    probe = LoadProbe()
    _burn(0.3)
    subprocess.run([sys.executable, "-c", "import time\nend = time.process_time() + 0.3\n"
                    "while time.process_time() < end: pass"], check=True)
    load = probe.stop()
    assert load["cpu_count"] == os.cpu_count()
    assert len(load["load_average_before"]) == len(load["load_average_after"]) == 3
    assert load["cpu_seconds_self"] >= 0.25 and load["cpu_seconds_children"] >= 0.25
    assert load["wall_seconds"] >= 0.5
    assert 0 < load["own_cores_busy"] <= load["cpu_count"] + 0.1
    if Path("/proc/stat").exists():
        assert load["machine_cores_busy"] is not None and load["others_cores_busy"] >= 0


def test_describe_load_renders_the_measured_figures():
    text = describe_load(FAKE_LOAD)
    assert text == ("Load measured over 120.0 s on 2 cores: load average (1/5/15 min) [1.5, 1.2, 1.0] "
                    "at start, [2.25, 1.4, 1.1] at end; this run used 90.75 CPU-s (itself 10.5, its "
                    "finished child processes 80.25), 0.76 cores on average; the whole machine was "
                    "1.62 cores busy, so other jobs took about 0.86.")
    no_proc = dict(FAKE_LOAD, machine_cores_busy=None, others_cores_busy=None)
    assert "whole machine" not in describe_load(no_proc)
    assert describe_load(None) == "Load: not recorded."


def _fake_doc() -> dict:
    step = {"name": "models", "rc": 0, "seconds": 54.6, "log": "build/bench/logs/models.log",
            "finished_at": "2026-01-01T00:00:00Z", "load": FAKE_LOAD,
            "load_average_before": FAKE_LOAD["load_average_before"],
            "load_average_after": FAKE_LOAD["load_average_after"]}
    merged = {"name": "gas", "rc": 0, "seconds": 9.5, "log": "build/bench/logs/gas.log",
              "merged": True, "load_average_before": [1.0, 1.0, 1.0],
              "load_average_after": [1.1, 1.0, 1.0]}  # recorded before loads were measured
    return {"command": "python bench/run_all.py --only models", "finished_at": "2026-01-01T00:00:00Z",
            "duration_seconds": 60, "quick": True, "network": "development",
            "machine": {"cpu_count": 2, "cpu_model": "Fake CPU", "mem_total_gib": 4, "python": "3.11",
                        "load_average": [1.5, 1.2, 1.0]},
            "machine_after": {"load_average": [2.25, 1.4, 1.1]}, "load": FAKE_LOAD,
            "steps": [merged, step], "results": {"headline": [], "scaling": {}, "raw": {}}}


def test_benchmarks_markdown_shows_the_measured_load_not_a_sentence_about_sharing(tmp_path):
    path = tmp_path / "benchmarks.md"
    run_all.write_markdown(_fake_doc(), path)
    md = path.read_text()
    assert describe_load(FAKE_LOAD) in md
    assert "shared" not in md and "2-core" not in md
    row = next(line for line in md.splitlines() if line.startswith("| models |"))
    assert "| 90.75 | 0.76 | 1.62 | 0.86 |" in row
    gas = next(line for line in md.splitlines() if line.startswith("| gas |"))
    assert "| — | — | — | — |" in gas


def test_oracle_bench_record_carries_the_measured_load_and_no_fixed_note(tmp_path):
    out = tmp_path / "oracle_bench.json"
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own handler
    try:
        assert bench_oracle.main(["--skip-chain", "--score-sign-iterations", "0",
                                  "--out", str(out)]) == 0
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    record = json.loads(out.read_text())
    assert "note" not in record
    assert set(record["load"]) >= {"cpu_count", "load_average_before", "load_average_after",
                                   "wall_seconds", "cpu_seconds_self", "cpu_seconds_children",
                                   "own_cores_busy", "machine_cores_busy", "others_cores_busy"}


@pytest.mark.parametrize("name", ["bench_oracle.py", "run_all.py", "reliability.py", "common.py"])
def test_no_bench_file_asserts_who_shared_the_machine(name):
    text = (BENCH / name).read_text().lower()
    assert "shared with other" not in text and "the machine is shared" not in text
    assert "loaded 2-core" not in text

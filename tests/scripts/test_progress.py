"""Long steps print progress: scripts/progress.py's heartbeat and child-line relay, and model v2's
training in the demo (scripts/05_model_update.py) wired to them."""

import importlib
import sys
import time

import pytest

from scripts.progress import Heartbeat, run_with_progress

update = importlib.import_module("scripts.05_model_update")


def test_heartbeat_prints_elapsed_time_while_the_block_runs_then_done():
    lines = []
    with Heartbeat("slow step", every=0.05, emit=lines.append):
        time.sleep(0.3)
    assert lines[0] == "slow step: started"
    beats = [line for line in lines if line.endswith("s elapsed")]
    assert len(beats) >= 2 and all(b.startswith("slow step: ") for b in beats)
    assert lines[-1] == "slow step: done in 0 s"
    time.sleep(0.12)
    assert len(lines) == len(beats) + 2  # the heartbeat stopped with the block


def test_heartbeat_says_when_the_step_failed():
    lines = []
    with pytest.raises(ValueError), Heartbeat("slow step", every=10, emit=lines.append):
        raise ValueError("boom")
    assert lines == ["slow step: started", "slow step: failed after 0 s"]


def test_run_with_progress_relays_the_childs_lines_as_they_come(tmp_path):
    lines = []
    child = ("import sys, time\nprint('fold 1/5', flush=True)\ntime.sleep(0.3)\n"
             "print('fold 2/5', file=sys.stderr)\nsys.exit(3)")
    rc, tail = run_with_progress([sys.executable, "-c", child], "training", every=0.05,
                                 emit=lines.append, log_path=tmp_path / "train.log")
    assert rc == 3 and tail == ["fold 1/5", "fold 2/5"]
    relayed = [line for line in lines if "fold" in line]
    assert relayed == ["training: fold 1/5", "training: fold 2/5"]
    between = lines[lines.index(relayed[0]):lines.index(relayed[1])]
    assert any(line.endswith("s elapsed") for line in between)  # heartbeats while it was silent
    assert (tmp_path / "train.log").read_text() == "fold 1/5\nfold 2/5\n"


def test_run_with_progress_kills_a_child_that_outlives_its_timeout():
    lines = []
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="no result after"):
        run_with_progress([sys.executable, "-c", "import time; time.sleep(30)"], "stuck",
                          timeout=0.5, every=10, emit=lines.append)
    assert time.monotonic() - t0 < 10
    assert lines[-1].startswith("stuck: failed after")


FAKE_TRAINER = """
import pathlib, sys, time
out = pathlib.Path(sys.argv[1])
for fold in range(1, 4):
    print(f"fake fold {fold}/3", flush=True)
    time.sleep(0.1)
(out / "reference.json").write_text("{}")
(out / "manifest.json").write_text("{}")  # a bundle of this era carries its manifest
"""


def test_training_model_v2_prints_progress_and_then_reuses_the_export(tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.setattr(update, "PROGRESS_EVERY_S", 0.05)
    monkeypatch.setattr(update, "export_command",
                        lambda config, out: [sys.executable, "-c", FAKE_TRAINER, str(out)])
    out_dir = tmp_path / "gmsc-v2"
    assert update.train_second_version(out_dir) == out_dir
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "training model v2: started"
    assert "training model v2: fake fold 2/3" in printed
    assert any(p.startswith("training model v2: ") and p.endswith("s elapsed") for p in printed)
    assert printed[-1].startswith("training model v2: done in")
    assert (tmp_path / "gmsc-v2-train.log").read_text().count("fake fold") == 3

    update.train_second_version(out_dir)  # same recipe: the export is reused, and it says so
    assert capsys.readouterr().out == f"model v2: reusing the earlier export in {out_dir}\n"


def test_a_failed_training_reports_the_trainers_last_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(update, "export_command", lambda config, out: [
        sys.executable, "-c", "import sys; print('bad config: no family'); sys.exit(2)"])
    with pytest.raises(RuntimeError, match="training model v2 failed:\nbad config: no family"):
        update.train_second_version(tmp_path / "gmsc-v2")

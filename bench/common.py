"""Shared helpers for bench/run_all.py and bench/reliability.py: subprocess steps with timing,
machine facts, brownie invocation, JUnit XML parsing."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "bench"
VENV_BIN = Path(sys.executable).parent


def brownie_cmd(*args: str) -> list[str]:
    exe = VENV_BIN / "brownie"
    return [str(exe) if exe.exists() else "brownie", *args]


def child_env(**extra: str) -> dict:
    """The environment for a step: the venv and the npm chains on PATH, the solc shim, the
    repository root on PYTHONPATH (the oracle nodes and `scripts` import from it)."""
    env = dict(os.environ)
    paths = [str(ROOT / "node_modules" / ".bin"), str(VENV_BIN)]
    env["PATH"] = os.pathsep.join(paths + [env.get("PATH", "")])
    if (ROOT / ".solcx").is_dir():
        env.setdefault("SOLCX_BINARY_PATH", str(ROOT / ".solcx"))
    py = [str(ROOT)]
    if env.get("PYTHONPATH"):
        py.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(py)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_step(name: str, cmd: list[str], log_dir: Path, timeout: float, **env) -> dict:
    """Run one command, output to <log_dir>/<name>.log; returns {name, cmd, rc, seconds, log}."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    shown = " ".join(cmd)
    print(f"--- {name}: {shown}", flush=True)
    t0 = time.time()
    with open(log, "w") as fh:
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(**env), stdout=fh,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            rc = "timeout"
        except BaseException:  # Ctrl-C or SIGTERM (see install_sigterm): take the step down too
            _stop_group(proc)
            raise
    seconds = round(time.time() - t0, 1)
    print(f"--- {name}: rc={rc} in {seconds} s (log {log.relative_to(ROOT)})", flush=True)
    return {"name": name, "cmd": shown, "rc": rc, "seconds": seconds,
            "log": str(log.relative_to(ROOT))}


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the step's process group (it runs in its own session), then SIGKILL if needed."""
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
    except ProcessLookupError:
        pass


def install_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the running step's process group is stopped."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))


def _machine_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat (Linux)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class LoadProbe:
    """The load measured over an interval (`start()` ... `stop()`): load averages before and after,
    the core count, the CPU time this process and its finished children used against wall time,
    and, where /proc/stat exists, how busy the whole machine was. The difference between the
    machine's busy cores and this run's own is what other jobs took while it was measured."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> "LoadProbe":
        self._wall = time.monotonic()
        self._times = os.times()
        self._ticks = _machine_cpu_ticks()
        self._load = os.getloadavg()
        return self

    def stop(self) -> dict:
        wall = time.monotonic() - self._wall
        t, t0 = os.times(), self._times
        own = (t.user - t0.user) + (t.system - t0.system)
        children = (t.children_user - t0.children_user) + (t.children_system - t0.children_system)
        cores = os.cpu_count() or 1
        out = {
            "cpu_count": cores,
            "load_average_before": [round(x, 2) for x in self._load],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "wall_seconds": round(wall, 2),
            "cpu_seconds_self": round(own, 2),
            "cpu_seconds_children": round(children, 2),
            "own_cores_busy": round((own + children) / wall, 2) if wall > 0 else None,
            "machine_cores_busy": None,
            "others_cores_busy": None,
        }
        ticks = _machine_cpu_ticks()
        if ticks and self._ticks and ticks[1] > self._ticks[1]:
            busy = (ticks[0] - self._ticks[0]) / (ticks[1] - self._ticks[1]) * cores
            out["machine_cores_busy"] = round(busy, 2)
            if out["own_cores_busy"] is not None:
                out["others_cores_busy"] = round(max(0.0, busy - out["own_cores_busy"]), 2)
        return out


def describe_load(load: dict | None) -> str:
    """One sentence for a report from a `LoadProbe.stop()` record (measured figures only)."""
    if not load:
        return "Load: not recorded."
    text = (f"Load measured over {load['wall_seconds']:,} s on {load['cpu_count']} cores: load average "
            f"(1/5/15 min) {load['load_average_before']} at start, {load['load_average_after']} at end; "
            f"this run used {load['cpu_seconds_self'] + load['cpu_seconds_children']:,.2f} CPU-s "
            f"(itself {load['cpu_seconds_self']:,}, its finished child processes "
            f"{load['cpu_seconds_children']:,}), {load['own_cores_busy']} cores on average")
    if load.get("machine_cores_busy") is not None:
        text += (f"; the whole machine was {load['machine_cores_busy']} cores busy, so other jobs took "
                 f"about {load['others_cores_busy']}")
    return text + "."


def machine_facts() -> dict:
    facts = {"cpu_count": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
             "python": platform.python_version(), "platform": platform.platform(),
             "machine": platform.machine()}
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    facts["mem_total_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    facts["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    anvil = ROOT / "node_modules" / ".bin" / "anvil"
    if anvil.exists():
        try:
            out = subprocess.run([str(anvil), "--version"], capture_output=True, text=True,
                                 timeout=20).stdout.splitlines()
            facts["anvil"] = out[0] if out else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    return facts


def load_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def junit_cases(path: Path) -> list[dict]:
    """[{file, name, function, param, outcome, seconds, message}] from a pytest JUnit XML."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return []
    out = []
    for case in tree.iter("testcase"):
        name = case.get("name", "")
        fn, _, param = name.partition("[")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (el.get("message") or "")[:300]
                break
        out.append({"file": case.get("file") or case.get("classname", ""), "name": name,
                    "function": fn, "param": param[:-1] if param else "", "outcome": outcome,
                    "seconds": round(float(case.get("time", 0) or 0), 2), "message": message})
    return out


def hypothesis_examples(log_path: Path) -> dict[str, int]:
    """Passing examples per test from `--hypothesis-show-statistics` output in a step log."""
    out: dict[str, int] = {}
    current = None
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        s = line.strip()
        if "::" in s and s.endswith(":") and not s.startswith("-"):
            current = s[:-1].split("::")[-1]
            continue
        if current and "passing examples" in s:
            try:
                n = int(s.lstrip("- ").split()[0])
            except ValueError:
                continue
            out[current] = out.get(current, 0) + n
    return out


def write_report(doc: dict, out: Path, write_markdown) -> None:
    """`out`.json (the document) and `out`.md (rendered by `write_markdown(doc, path)`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1, default=str) + "\n")
    write_markdown(doc, out.with_suffix(".md"))
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")

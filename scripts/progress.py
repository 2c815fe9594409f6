"""Progress for long steps: a heartbeat that prints the elapsed time while a step runs, and a
subprocess runner that also relays the child's own lines.

    with Heartbeat("training model v2", every=15):      # "training model v2: 15 s elapsed" ...
        slow_call()                                      # "training model v2: done in 92 s"

    rc, tail = run_with_progress(cmd, "training model v2", timeout=1800)
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable


def _print(line: str) -> None:
    print(line, flush=True)


class Heartbeat:
    """Prints `<what>: N s elapsed` every `every` seconds from a daemon thread while the block
    runs, then `<what>: done in N s` (or `failed after N s`). `say(msg)` prints `<what>: msg`."""

    def __init__(self, what: str, every: float = 15.0,
                 emit: Callable[[str], None] = _print) -> None:
        self.what, self.every, self.emit = what, every, emit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def say(self, message: str) -> None:
        self.emit(f"{self.what}: {message}")

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self.say(f"{self.elapsed():.0f} s elapsed")

    def __enter__(self) -> "Heartbeat":
        self._t0 = time.monotonic()
        self.say("started")
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.what}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.say(f"{'failed after' if exc_type else 'done in'} {self.elapsed():.0f} s")


def run_with_progress(cmd: list[str], what: str, *, cwd: Path | None = None,
                      timeout: float = 1800, every: float = 15.0,
                      emit: Callable[[str], None] = _print,
                      log_path: Path | None = None) -> tuple[int, list[str]]:
    """Run `cmd` (stdout and stderr merged) under a Heartbeat; each line the child writes is
    relayed as `<what>: <line>` (and appended to `log_path` if given). Returns the exit code and
    the last 80 lines. Kills the child and raises TimeoutError after `timeout` seconds."""
    tail: deque[str] = deque(maxlen=80)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log = open(log_path, "w") if log_path else None
    try:
        with Heartbeat(what, every=every, emit=emit) as beat:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)

            def pump() -> None:
                for raw in proc.stdout:
                    line = raw.rstrip()
                    if log:
                        log.write(raw)
                    if line:
                        tail.append(line)
                        beat.say(line[:200])

            reader = threading.Thread(target=pump, daemon=True)
            reader.start()
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                raise TimeoutError(f"{what}: no result after {timeout:.0f} s") from None
            finally:
                reader.join(timeout=5)
                if not reader.is_alive():
                    proc.stdout.close()
    finally:
        if log:
            log.close()
    return rc, list(tail)

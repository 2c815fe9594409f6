"""One node per store and key: `oracle serve` holds an exclusive lock beside each for its lifetime.

Two nodes on one store would both take the same requests and allocate the same account nonces
from it; two on one key would race each other's transactions. The lock is an flock(2) on
`<file>.lock` (created owner-only, holding the pid for the operator): the kernel drops it when the
process ends, however it ends, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(RuntimeError):
    """Another process holds the lock of a store or keystore this node would use."""


class InstanceLock:
    def __init__(self) -> None:
        self._fds: list[int] = []

    def acquire(self, *paths: str | Path | None) -> "InstanceLock":
        """Lock `<path>.lock` for each path given (None and ":memory:" are skipped); raises
        AlreadyRunning, holding nothing, if any is taken."""
        try:
            for path in paths:
                if path is None or str(path) == ":memory:":
                    continue
                lock = Path(str(path) + ".lock")
                lock.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise AlreadyRunning(f"another oracle node (pid {holder}) is using {path}; "
                                         "one node per store and key") from None
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                self._fds.append(fd)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)  # closing the descriptor drops its flock
        self._fds.clear()

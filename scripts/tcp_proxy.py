"""A cuttable TCP proxy: 127.0.0.1:port -> 127.0.0.1:target_port. Put in front of the chain's RPC
endpoint, `cut()` makes the endpoint 'go away' for the oracle nodes (every connection dropped, new
ones refused) until `restore()`; the caller keeps talking to the chain directly.

Used by scripts.oracle_testbed (RPC-outage fault tests, bench/reliability.py's outage part).
"""

from __future__ import annotations

import socket
import threading
import time


class TcpProxy:
    """127.0.0.1:listen_port -> target_port. `cut()` drops every connection and refuses new ones
    until `restore()`: the RPC endpoint 'goes away'."""

    def __init__(self, target_port: int, listen_port: int) -> None:
        self.target_port = target_port
        self.port = listen_port
        self._up = threading.Event()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "TcpProxy":
        self._up.set()
        self._open()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()
        return self

    def _open(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.2)
        self._listener = s

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            if not self._up.is_set() or self._listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self._up.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self._conns.clear()

    def restore(self) -> None:
        self._open()
        self._up.set()

    def stop(self) -> None:
        self._stop.set()
        self.cut()
        if self._thread:
            self._thread.join(timeout=2)

"""Cross-process wake-ups for backends with no notification channel of their own (SQLite).

Each waiting worker binds a Unix datagram socket in a directory named after the
database; a producer sends one byte to every socket there after it writes work.
A lost datagram costs nothing but latency: waiters still time out and poll.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import tempfile


class Wakeup:
    def __init__(self, key: str) -> None:
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        self.directory = os.path.join(tempfile.gettempdir(), f"quantq-wake-{digest}")
        self._sock: socket.socket | None = None
        self._path: str | None = None
        self._sender: socket.socket | None = None

    def listen(self) -> None:
        """Bind this process's socket (once), and drain wake-ups that arrived while busy."""
        if self._sock is None:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            self._path = os.path.join(self.directory, f"{os.getpid()}-{os.urandom(4).hex()}.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(self._path)
            sock.setblocking(False)
            self._sock = sock
        self._drain()

    def _drain(self) -> None:
        assert self._sock is not None
        try:
            while self._sock.recv(64):
                pass
        except (BlockingIOError, OSError):
            pass

    def wait(self, timeout: float) -> None:
        if self._sock is None:
            self.listen()
        assert self._sock is not None
        ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if ready:
            self._drain()

    def notify(self) -> None:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                self._sender.sendto(b"1", path)
            except BlockingIOError:
                pass  # its buffer is full of wake-ups already
            except (ConnectionRefusedError, FileNotFoundError):
                _unlink(path)  # a waiter that died without closing
            except OSError:
                pass

    def close(self) -> None:
        for sock in (self._sock, self._sender):
            if sock is not None:
                sock.close()
        self._sock = self._sender = None
        if self._path is not None:
            _unlink(self._path)
            self._path = None


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass

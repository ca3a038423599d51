"""A per-process cache of validated bars, keyed by the identity of the file they came from.

A warm worker reads the same symbols' files again and again (a screening reads 500 of them
per job).  Decoding and validating them once per process and reusing the arrays while the file
is unchanged turns a ~0.2 s read into a few ``stat`` calls.

Safety rests on three rules:

* The key is the file's identity — device, inode, size, modification and change times in ns.
  The store replaces files by rename (a new inode) and any in-place write changes the size or
  the times, so a changed file never matches its old entry.
* Each file is ``stat``-ed *before* it is read: a file replaced between the two is cached under
  the identity it had before, so the next read misses and reads it again — the cache can be
  one read behind, never ahead, and never serves bytes for an identity they did not have.
* Cached arrays are private copies, validated on the way in and read-only, so no caller can
  change what the next caller gets.

The cache is bounded (bytes of array data, least recently used out first) and thread-safe.
Only local stores are cached; any other store is read as it is.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from quantq.finance.schema import Bars

ENV_VAR = "QUANTQ_BARS_CACHE_MB"
DEFAULT_MB = 256


class FileIdentity(NamedTuple):
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_COLUMNS = ("ts", "open", "high", "low", "close", "volume")


def _copy(bars: Bars) -> Bars:
    """Private read-only copies of a (validated) ``bars``' arrays."""
    arrays = {}
    for name in _COLUMNS:
        a = np.array(getattr(bars, name), copy=True)
        a.flags.writeable = False
        arrays[name] = a
    return Bars.trusted(daily=bars.daily, **arrays)


def _nbytes(bars: Bars) -> int:
    return sum(getattr(bars, n).nbytes for n in _COLUMNS)


def default_max_bytes() -> int:
    raw = os.environ.get(ENV_VAR, "").strip()
    try:
        mb = int(raw) if raw else DEFAULT_MB
    except ValueError:
        raise ValueError(f"{ENV_VAR} must be a whole number of megabytes, got {raw!r}") from None
    if mb < 0:
        raise ValueError(f"{ENV_VAR} must be >= 0, got {mb}")
    return mb * 1024 * 1024


class BarsCache:
    """Validated :class:`Bars` of local files, keyed by path and :class:`FileIdentity`."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)
        if self.max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._entries: OrderedDict[str, tuple[FileIdentity, Bars, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, path: str, identity: FileIdentity) -> Bars | None:
        """The bars cached for ``path`` if they were read from a file with this ``identity``."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry[0] != identity:
                self.misses += 1
                return None
            self._entries.move_to_end(path)
            self.hits += 1
            return entry[1]

    def put(self, path: str, identity: FileIdentity, bars: Bars) -> Bars:
        """Keep a private copy of ``bars`` (already validated) for ``path``; returns the copy."""
        size = _nbytes(bars)
        if size > self.max_bytes:
            return bars  # too large to keep: serve it once, uncached
        kept = _copy(bars)
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._bytes -= old[2]
            self._entries[path] = (identity, kept, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, _, freed) = self._entries.popitem(last=False)
                self._bytes -= freed
        return kept

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

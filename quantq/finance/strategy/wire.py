"""The sandbox's message format: a JSON header plus raw arrays, length-prefixed. Never pickle.

Frame: ``<Q`` payload length, then ``<I`` header length, the UTF-8 JSON header, and the
arrays' bytes back to back as the header's ``arrays`` list describes them.
"""

from __future__ import annotations

import json
import os
import struct
from typing import IO, Any

import numpy as np

# Only plain numeric dtypes cross the boundary (object arrays would need pickle).
DTYPES = frozenset({"float64", "int64", "int32", "int8", "bool"})
MAX_MESSAGE_BYTES = 2 * 1024**3
# The runner's answer to a run or probe: these bytes, with the spare's request pipe attached
# (SCM_RIGHTS); the worker then writes the request frame to that pipe itself.
READY = b"QQREADY\n"


class WireError(ValueError):
    """A message that is malformed, too large or uses a dtype outside ``DTYPES``."""


def encode_parts(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> list[bytes | memoryview]:
    """A message as buffers to write back to back: the prefix and header, then each array's own
    memory (no copy of the arrays)."""
    specs, blobs, offset = [], [], 0
    for name, arr in (arrays or {}).items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype.name not in DTYPES:
            raise WireError(f"array {name!r} has dtype {arr.dtype}; allowed: {sorted(DTYPES)}")
        specs.append({"name": name, "dtype": arr.dtype.name, "shape": list(arr.shape), "offset": offset})
        blobs.append(memoryview(arr.reshape(-1)).cast("B"))
        offset += arr.nbytes
    head = json.dumps({**header, "arrays": specs}, allow_nan=False, separators=(",", ":")).encode()
    payload_len = 4 + len(head) + offset
    return [struct.pack("<QI", payload_len, len(head)) + head, *blobs]


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> bytes:
    return b"".join(encode_parts(header, arrays))


def write_message(stream: IO[bytes], header: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write a message to a (buffered) stream without joining it into one bytes object first."""
    for part in encode_parts(header, arrays):
        stream.write(part)
    stream.flush()


def decode(payload: bytes | bytearray | memoryview, *, arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header and arrays of a message (length prefix removed); arrays are read-only views of ``payload``."""
    if len(payload) < 4:
        raise WireError("message too short")
    (head_len,) = struct.unpack_from("<I", payload, 0)
    try:
        header = json.loads(bytes(payload[4 : 4 + head_len]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"bad message header: {exc}") from None
    if not isinstance(header, dict):
        raise WireError("message header is not an object")
    base = 4 + head_len
    specs = header.pop("arrays", [])
    if not arrays:
        return header, {}
    out = {}
    for spec in specs:
        if spec.get("dtype") not in DTYPES:
            raise WireError(f"dtype {spec.get('dtype')!r} is not allowed")
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"])) if spec["shape"] else 1
        start = base + int(spec["offset"])
        if start + count * dtype.itemsize > len(payload):
            raise WireError(f"array {spec['name']!r} runs past the end of the message")
        arr = np.frombuffer(payload, dtype=dtype, count=count, offset=start).reshape(spec["shape"])
        arr.flags.writeable = False
        out[spec["name"]] = arr
    return header, out


def _read_into(stream: IO[bytes], view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise EOFError("stream closed mid-message")
        got += n


def read_exact(stream: IO[bytes], n: int) -> bytearray:
    buf = bytearray(n)
    _read_into(stream, memoryview(buf))
    return buf


def read_frame(stream: IO[bytes], limit: int = MAX_MESSAGE_BYTES) -> bytearray:
    """One whole frame, length prefix included (to forward it unchanged), read straight into
    one buffer: no intermediate chunks are left behind in the reader's memory."""
    head = bytearray(8)
    view = memoryview(head)
    n = stream.readinto(view)  # type: ignore[attr-defined]
    if not n:
        raise EOFError("stream closed")
    if n < 8:
        _read_into(stream, view[n:])
    (size,) = struct.unpack("<Q", head)
    if size > limit:
        raise WireError(f"message of {size} bytes exceeds the limit of {limit}")
    frame = bytearray(8 + size)
    frame[:8] = head
    _read_into(stream, memoryview(frame)[8:])
    return frame


def read_message(stream: IO[bytes], limit: int = MAX_MESSAGE_BYTES) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    return decode(memoryview(read_frame(stream, limit))[8:])


PIPE_BYTES = 1 << 20  # the default /proc/sys/fs/pipe-max-size


def widen_pipe(fd: int, size: int = PIPE_BYTES) -> None:
    """Grow a pipe's kernel buffer (64 KB by default) so that a frame of several MB crosses in
    a few writes instead of a hundred writer/reader switches; best effort (Linux only)."""
    import fcntl

    op = getattr(fcntl, "F_SETPIPE_SZ", None)
    if op is None:
        return
    try:
        fcntl.fcntl(fd, op, size)
    except OSError:
        pass  # over the per-user pipe budget: the default size still works


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]

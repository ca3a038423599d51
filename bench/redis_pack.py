"""What packing one job's enqueue costs, warm and on a cold CPU, redis-py's way and hiredis's.

    .venv/bin/python bench/redis_pack.py [--cold 200]

The enqueue round trip of a single job (its queue's ``SADD`` and the ``enqueue`` script) is
packed the way ``quantq.backends.redis._pack`` does it (``hiredis.pack_command`` per command,
one write) and the way redis-py's ``Connection.pack_commands`` does.  "Cold" times one packing
after 64 MB of memory has been walked and 5 ms slept, as an idle worker's first step after a
wait meets its caches: on a shared 2-core VM that, not the warm cost, is what a job's latency
pays.  No server is needed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis

from quantq import envelope
from quantq.backends.redis import _pack
from quantq.backends.redis_keys import enqueue_argv

SCRATCH = bytearray(64 << 20)


def evict() -> None:
    for i in range(0, len(SCRATCH), 64):
        SCRATCH[i] = 1


def timed(fn: Callable[[], Any], runs: int, cold: bool) -> float:
    out = []
    for _ in range(runs):
        if cold:
            evict()
            time.sleep(0.005)
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return statistics.median(out) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", type=int, default=200, help="cold samples per packer")
    args = parser.parse_args()
    conn = redis.Connection()  # packs without connecting
    job = envelope.parse_submission({"task": "quantq.noop"})
    argv, _ = enqueue_argv([job])
    commands = [("SADD", "quantq:queues", "default"),
                ("EVALSHA", "0" * 40, 1, "quantq:{default}:ready", "quantq:{default}:", "default", "quantq:events", *argv)]
    assert _pack(conn, commands) == [b"".join(conn.pack_commands(commands))]
    packers = {"redis-py Connection.pack_commands": lambda: conn.pack_commands(commands),
               "hiredis.pack_command, one write (quantq)": lambda: _pack(conn, commands)}
    print(f"{'one job enqueue, packed by':44} {'warm us':>8} {'cold us':>8}")
    for _ in range(2):  # alternating: the machine drifts
        for label, fn in packers.items():
            print(f"{label:44} {timed(fn, 5000, False):8.1f} {timed(fn, args.cold, True):8.1f}")


if __name__ == "__main__":
    main()

"""`quantq worker --bridge seed001` serves seed 001's Redis protocol, driven with raw commands."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.acceptance import helpers as h
from tests.services import service_url

pytestmark = pytest.mark.acceptance


@pytest.fixture
def redis_db12() -> str:
    base = service_url("redis").rsplit("/", 1)[0]
    return f"{base}/12?prefix=qqcli-{uuid.uuid4().hex[:8]}"


def test_worker_bridge_flag_serves_strategy_queue(redis_db12: str) -> None:
    import redis

    raw = redis.Redis.from_url(redis_db12.split("?")[0], decode_responses=True)
    task_id = f"cli-{uuid.uuid4().hex[:8]}"
    worker = h.start_worker(redis_db12, "--concurrency", "1", "--bridge", "seed001", warmups=True)
    try:
        bad_json = "{not json"
        raw.lpush("strategy_queue", bad_json)
        code = "import os\ndef my_strategy(df):\n    return os.listdir('/')\n"
        raw.lpush("strategy_queue", json.dumps({"task_id": task_id, "task_type": "backtest",
                                                "args": {"strategy_code": code, "symbols": ["MSFT"],
                                                         "start_date": "2010-01-01T00:00:00", "end_date": "2010-12-31T00:00:00"}}))
        key = f"task_result:{task_id}"
        result = h.wait_for(lambda: (v := raw.get(key)) and json.loads(v)["status"] == "error" and json.loads(v),
                            timeout=60, what="seed 001's error result")
        assert "Security validation failed" in result["data"]["error"]
        assert result["updated_at"] and 0 < raw.ttl(key)
        prefix = redis_db12.split("prefix=")[1]
        dead = h.wait_for(lambda: [json.loads(x) for x in raw.lrange(f"{prefix}:bridge:seed001:dead", 0, -1)],
                          timeout=10, what="the bad item in the dead-letter list")
        assert dead[0]["raw"] == bad_json and "JSON" in dead[0]["reason"]
        assert worker.poll() is None
    finally:
        h.stop(worker)
        raw.delete(f"task_result:{task_id}")
        raw.close()

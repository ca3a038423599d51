"""The store on the S3 protocol: pyarrow's S3 filesystem against a local moto server (no network)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from quantq.finance.data.importers import ImportOptions, import_file
from quantq.finance.data.store import MarketStore
from quantq.finance.schema import Ticks

from .conftest import SAMPLES, daily_bars, require


@pytest.fixture
def s3_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, object]]:
    require("moto")
    boto3 = require("boto3")
    from moto.server import ThreadedMotoServer

    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")  # type: ignore[attr-defined]
        client.create_bucket(Bucket="quantq-test")
        yield f"s3://quantq-test/store?endpoint_override={host}:{port}&scheme=http&region=us-east-1", client
    finally:
        server.stop()


def _keys(client: object) -> dict[str, str]:
    listed = client.list_objects_v2(Bucket="quantq-test")  # type: ignore[attr-defined]
    return {o["Key"]: o["ETag"] for o in listed.get("Contents", [])}


def test_s3_store_roundtrip(s3_url: tuple[str, object]) -> None:
    url, client = s3_url
    store = MarketStore.open(url)
    assert not store.files.local
    store.write_bars("A", daily_bars(7))
    store.write_bars("B", daily_bars(5, seed=3))
    store.set_meta("A", exchange="XNYS")
    ts = np.array(["2024-03-08T20:00", "2024-03-11T13:30"], dtype="datetime64[ns]")
    store.write_ticks("T", Ticks(ts, [1.0, 2.0], [1, 2], ["N", "D"], [0, 1]))
    other = MarketStore.open(url, create=False)  # e.g. a worker on another machine
    assert [(s.symbol, s.bar_size, s.rows) for s in other.list()] == [("A", "1d", 7), ("B", "1d", 5), ("T", "tick", 2)]
    assert np.array_equal(other.read_bars_many()["B"].close, daily_bars(5, seed=3).close)
    assert list(other.read_ticks("T").venue) == ["N", "D"] and other.get_meta("A").exchange == "XNYS"
    assert not [k for k in _keys(client) if "/." in k]  # no staged objects left behind


def test_s3_rejected_and_failed_imports_leave_bucket_unchanged(s3_url: tuple[str, object], tmp_path) -> None:
    url, client = s3_url
    store = MarketStore.open(url)
    store.write_bars("MSFT", daily_bars(3, start="2019-01-02"))
    before = _keys(client)
    bad = tmp_path / "MSFT_bad.csv"
    bad.write_text("date,open,high,low,close,volume\n2020-01-02,10,11,9,10,5\n2020-01-02,10,11,9,10,5\n")
    assert import_file(store, bad).status == "rejected"
    with pytest.raises(KeyboardInterrupt):

        def cancel(pct: float, msg: str) -> None:
            if pct > 95:  # during the commit, after some objects were staged
                raise KeyboardInterrupt

        import_file(store, SAMPLES / "SP500_20stocks_adjclose_daily.csv", ImportOptions(kind="closes"), progress=cancel)
    assert _keys(client) == before
    report = import_file(store, SAMPLES / "MSFT_daily.csv", ImportOptions(bar_mode="replace"))
    assert report.status == "imported" and len(MarketStore.open(url).read_bars("MSFT")) == 7983

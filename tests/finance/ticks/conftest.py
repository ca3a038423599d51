from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # exchange_calendars 4.13 on pandas 3 warns from inside its own schedule code; not ours to fix
    for item in items:
        if "finance/ticks" in str(item.path):
            item.add_marker(pytest.mark.filterwarnings("ignore:Series.values returning an ndarray"))

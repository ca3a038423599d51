"""The strategy, backtest and screening modules are pure: only the tasks module touches the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FINANCE = Path(__file__).resolve().parents[3] / "quantq" / "finance"
PURE = [*sorted((FINANCE / "strategy").glob("*.py")), *sorted((FINANCE / "backtest").glob("*.py")), FINANCE / "screening.py"]
CORE = ("quantq.tasks", "quantq.context", "quantq.app", "quantq.worker", "quantq.backends", "quantq.jobs", "quantq.envelope", "quantq.errors", "quantq.cli")


def imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or "")
    return found


def core_imports(path: Path) -> list[str]:
    return [n for n in imports(path) if n == "quantq" or n.startswith(CORE)]


@pytest.mark.parametrize("path", PURE, ids=lambda p: p.name)
def test_pure_modules_do_not_import_the_core(path: Path) -> None:
    assert core_imports(path) == []


def test_the_check_sees_a_core_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from quantq.tasks import task\nimport quantq.context\n")
    assert core_imports(bad) == ["quantq.tasks", "quantq.context"]


def test_no_pickle_anywhere_in_the_strategy_path() -> None:
    for path in PURE + [FINANCE / "tasks" / "strategy.py"]:
        assert not {"pickle", "cloudpickle", "dill", "marshal", "shelve"} & {n.split(".")[0] for n in imports(path)}, path
    assert "pickle" in imports_of_sample()


def imports_of_sample() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "s.py"
        sample.write_text("import pickle\n")
        return imports(sample)

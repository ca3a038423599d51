"""The engine never depends on the finance layer: checked, not just intended."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "quantq"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_nothing_in_the_core_imports_the_finance_layer() -> None:
    core = [p for p in PACKAGE.rglob("*.py") if "finance" not in p.relative_to(PACKAGE).parts]
    assert len(core) > 20
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(m for m in imported_modules(p) if m.startswith("quantq.finance"))
        for p in core
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_would_catch_a_finance_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from quantq.finance import tasks\nimport quantq.finance.data\n")
    assert {"quantq.finance", "quantq.finance.data"} <= imported_modules(sample)

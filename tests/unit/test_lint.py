"""The tree passes its own linter (`make lint`): kept clean by the suite, not by memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_tree_passes_ruff() -> None:
    found = ruff("quantq", "tests", "bench")
    assert found.returncode == 0, found.stdout[-4000:]


def test_ruff_would_catch_a_finding(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\n")  # unused import
    found = ruff(str(sample))
    if "No module named ruff" in found.stderr:
        pytest.fail("ruff is not installed in this environment (it is in requirements.lock)")
    assert found.returncode == 1 and "F401" in found.stdout

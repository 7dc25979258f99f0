"""The package's type hints are accepted by a checker (mypy --strict), as py.typed promises."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_strict() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "redigo_py"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_py_typed_is_shipped() -> None:
    assert os.path.exists(os.path.join(ROOT, "redigo_py", "py.typed"))

"""A bounded run of each fuzz harness (fuzz/), so that CI fuzzes on every change.

Each target runs as a subprocess of ``fuzz/run.py`` for ``FUZZ_SMOKE_SECONDS``
(default 25 s; the three together take about a minute, as the first
stops at once on a known bug), from the committed
seeds only (a scratch directory per run, so results do not depend on what
earlier runs found), and must find nothing. ``make fuzz`` runs the same
targets for longer. Skipped when atheris is not installed (it is part of the
``dev`` extra).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

pytest.importorskip("atheris", reason="atheris (the fuzzing engine) is not installed")

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "fuzz" / "run.py"
SECONDS = int(os.environ.get("FUZZ_SMOKE_SECONDS", "25"))

TARGETS: List[object] = [
    pytest.param("reader", id="reader"),
    pytest.param("reader3", id="reader3"),
    pytest.param("roundtrip", id="roundtrip"),
]


@pytest.mark.timeout(SECONDS + 120)
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_finds_nothing(target: str, tmp_path: Path) -> None:
    """libFuzzer exits 0 and run.py reports ``ok`` only if no input broke an invariant."""
    proc = subprocess.run(
        [sys.executable, str(RUN), "--seconds", str(SECONDS), "--run-dir", str(tmp_path), target],
        capture_output=True, text=True, timeout=SECONDS + 100, cwd=ROOT,
    )
    summary = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr[-3000:]}"
    assert summary and summary[-1].startswith(f"{target}: ") and summary[-1].endswith(", ok"), proc.stdout
    executions = int(summary[-1].split()[1])
    assert executions > 0, proc.stdout  # the harness really ran

"""Run the fuzz harnesses for a fixed time each; exit non-zero if any found something.

    .venv/bin/python fuzz/run.py --seconds 600                 # every target
    .venv/bin/python fuzz/run.py --seconds 30 roundtrip         # one target

Targets:

- ``reader``: fuzz_reader.py (limits, chunking, dead-after-error, and the
  fast paths against the general parser);
- ``reader3``: fuzz_reader.py again, on ``Reader(protocol=3)`` (RESP3's
  maps, sets, doubles, attributes, pushes...), from RESP3 seeds;
- ``roundtrip``: fuzz_roundtrip.py.

Each target starts from its committed seeds (fuzz/corpus/<seeds>/, never
written to) plus what earlier runs found (fuzz/corpus-run/<target>/, git
ignored). A finding is written to fuzz/corpus-run/artifacts/ as
``crash-*`` / ``timeout-*`` / ``oom-*``; replay it with
``python fuzz/fuzz_reader.py -artifact_prefix=/tmp/ fuzz/corpus-run/artifacts/crash-...``
(without the prefix, libFuzzer writes the replayed crash again into the
current directory). An input
that takes longer than ``--input-timeout`` seconds is a finding too: a
parser that goes quadratic on hostile input is a hang in production.

Prints one summary line per target (``target: N executions in S s, ok``);
the pytest smoke test (tests/test_fuzz_smoke.py) and ``make fuzz`` both
call this script.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
RUN_DIR = os.path.join(HERE, "corpus-run")

# target -> (harness file, seed directory under fuzz/corpus, extra environment)
TARGETS: Dict[str, Tuple[str, str, Dict[str, str]]] = {
    "reader": ("fuzz_reader.py", "reader", {}),
    "reader3": ("fuzz_reader.py", "reader3", {"REDIGO_FUZZ_PROTOCOL": "3"}),
    "roundtrip": ("fuzz_roundtrip.py", "roundtrip", {}),
}

_DONE = re.compile(rb"Done (\d+) runs in (\d+) second")
_UNITS = re.compile(rb"stat::number_of_executed_units: *(\d+)")
_ARTIFACT = re.compile(rb"Test unit written to (\S+)")


@dataclass
class Result:
    """What one target's run did."""

    target: str
    executions: int
    seconds: float
    returncode: int
    artifact: Optional[str]
    log: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.artifact is None

    def summary(self) -> str:
        verdict = "ok" if self.ok else f"FOUND (rc={self.returncode}, {self.artifact or 'see ' + self.log})"
        return f"{self.target}: {self.executions} executions in {self.seconds:.0f} s, {verdict}"


def run_target(target: str, seconds: int, input_timeout: int, python: str,
               run_dir: str = RUN_DIR) -> Result:
    """Run one target under libFuzzer for ``seconds``; its output goes to <run_dir>/<target>.log."""
    harness, seeds, extra_env = TARGETS[target]
    work = os.path.join(run_dir, target)
    artifacts = os.path.join(run_dir, "artifacts") + os.sep
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    log = os.path.join(run_dir, f"{target}.log")
    command = [
        python, os.path.join(HERE, harness),
        f"-max_total_time={seconds}",
        f"-timeout={input_timeout}",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}",
        work, os.path.join(HERE, "corpus", seeds),
    ]
    env = dict(os.environ, **extra_env)
    start = time.monotonic()
    with open(log, "wb") as out:
        # The deadline is the fuzzer's own; the subprocess timeout only guards against a wedged run.
        proc = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                              timeout=seconds + input_timeout + 120)
    elapsed = time.monotonic() - start
    with open(log, "rb") as f:
        text = f.read()
    counted = _DONE.search(text) or _UNITS.search(text)  # the second also after a finding
    executions = int(counted.group(1)) if counted else 0
    artifact = _ARTIFACT.search(text)
    return Result(target, executions, elapsed, proc.returncode,
                  artifact.group(1).decode() if artifact else None, log)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET",
                        help=f"targets to run, of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--seconds", type=int, default=60, help="fuzzing time per target")
    parser.add_argument("--input-timeout", type=int, default=10,
                        help="seconds one input may take before it counts as a hang")
    parser.add_argument("--python", default=sys.executable, help="interpreter with atheris installed")
    parser.add_argument("--run-dir", default=RUN_DIR,
                        help="where found inputs, findings and logs go (default: fuzz/corpus-run)")
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    failed = False
    for target in args.targets or list(TARGETS):
        result = run_target(target, args.seconds, args.input_timeout, args.python, args.run_dir)
        print(result.summary(), flush=True)
        if not result.ok:
            failed = True
            with open(result.log, "rb") as f:
                tail = f.read()[-3000:].decode("utf-8", "replace")
            print(tail, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

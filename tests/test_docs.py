"""The documentation cannot rot: the site builds with warnings as errors, and
every Python example in it runs against a real server and prints what the
page says it prints.

The pages show Python code only through ``literalinclude`` of
``docs/examples/NAME.py``; the output a page shows is ``docs/examples/NAME.out``,
included the same way. So the files tested here are, byte for byte, what a
reader sees. A guard test fails if a page grows an inline Python block that
would escape this.

Examples that need more than one server say so by reading an environment
variable: REDIS_CLUSTER_ADDR (a throwaway 3-master cluster, started once for
the module and emptied before each example) or SENTINEL_ADDRS (a master, a
replica and a sentinel, started for that one example, since it may fail the
master over).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

import redigo_py as redis
from harness.server import RedisCluster, RedisServer, command

from harness.sentinel import SentinelDeployment

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))
# The examples use this database of the session's server, emptied before each one.
DATABASE = 12

# Runs one example as __main__ after putting in-process fakes in place of
# exporters whose real clients would talk to a cloud service (the
# Stackdriver exporter needs Google credentials and network).
_RUNNER = r'''
import runpy, sys, types

def _fake_stackdriver():
    from opencensus.trace import base_exporter

    class Options:
        def __init__(self, project_id="", metric_prefix="", **kwargs):
            self.project_id, self.metric_prefix = project_id, metric_prefix

    class StatsExporter:
        def __init__(self, options):
            self.options, self.exported = options, []
        def export_metrics(self, metrics):
            self.exported.extend(metrics)

    def new_stats_exporter(options=None, interval=None):
        return StatsExporter(options)

    class StackdriverExporter(base_exporter.Exporter):
        def __init__(self, client=None, project_id=None, transport=None):
            self.project_id, self.spans = project_id, []
        def export(self, span_datas):
            self.spans.extend(span_datas)
        def emit(self, span_datas):
            self.export(span_datas)

    ext = types.ModuleType("opencensus.ext")
    ext.__path__ = []
    sd = types.ModuleType("opencensus.ext.stackdriver")
    sd.__path__ = []
    stats = types.ModuleType("opencensus.ext.stackdriver.stats_exporter")
    stats.Options, stats.new_stats_exporter = Options, new_stats_exporter
    trace = types.ModuleType("opencensus.ext.stackdriver.trace_exporter")
    trace.StackdriverExporter = StackdriverExporter
    sd.stats_exporter, sd.trace_exporter, ext.stackdriver = stats, trace, sd
    sys.modules.update({"opencensus.ext": ext, "opencensus.ext.stackdriver": sd,
                        "opencensus.ext.stackdriver.stats_exporter": stats,
                        "opencensus.ext.stackdriver.trace_exporter": trace})

_fake_stackdriver()
path = sys.argv[1]
sys.argv = [path]
runpy.run_path(path, run_name="__main__")
'''


def test_sphinx_build_has_no_warnings(tmp_path: Path) -> None:
    """``sphinx-build -W``: autodoc of every public module, every include, every link target."""
    pytest.importorskip("sphinx", reason="sphinx is not installed (pip install -e '.[dev]')")
    pytest.importorskip("myst_parser", reason="myst-parser is not installed (pip install -e '.[dev]')")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "html" / "porting.html").exists()


def _pages() -> Iterator[Path]:
    for path in sorted(DOCS.rglob("*")):
        if path.suffix in (".md", ".rst") and "_build" not in path.parts:
            yield path


_INLINE_PYTHON = re.compile(
    r"^\s*(```+|:::+)\s*(\{(code|code-block|sourcecode|code-cell)\}\s*)?(python3?|py|pycon|ipython)\b"
    r"|^\s*\.\.\s+(code-block|code|sourcecode)::\s*(python3?|py|pycon)\b"
    r"|^\s*\.\.\s+(doctest|testcode)::"
    r"|^\s*>>>\s", re.M)


def test_pages_show_python_only_through_examples() -> None:
    """Python on a page must come from docs/examples (which the tests run), never inline."""
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0).strip()}"
                 for p in _pages() for m in _INLINE_PYTHON.finditer(p.read_text(encoding="utf-8"))]
    assert not offenders, "inline Python blocks escape the tests:\n" + "\n".join(offenders)


def test_every_example_is_shown_on_a_page() -> None:
    """An example no page includes is dead weight, and a page that includes a missing one fails the build."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in _pages())
    missing = [e.name for e in EXAMPLES if f"examples/{e.name}" not in text]
    assert not missing, f"examples not included by any page: {missing}"


@pytest.fixture(scope="module")
def docs_cluster() -> Iterator[RedisCluster]:
    """A 3-master cluster without replicas (quick to start) for the scale-out examples."""
    with RedisCluster(masters=3, replicas=0) as rc:
        yield rc


@pytest.fixture
def example_env(server: RedisServer, request: pytest.FixtureRequest) -> Iterator[dict]:
    """REDIS_URL (database 12, emptied) and REDIS_ADDR of the session's server; and
    REDIS_CLUSTER_ADDR or SENTINEL_ADDRS/SENTINEL_MASTER for the examples that read them."""
    c = redis.dial("tcp", server.address, database=DATABASE)
    c.do("FLUSHDB")
    c.close()
    env = dict(os.environ)
    env.update(REDIS_URL=f"{server.url}/{DATABASE}", REDIS_ADDR=server.address,
               HEALTH_CHECK_PERIOD="0.05", PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    source = request.node.callspec.params["example"].read_text(encoding="utf-8")
    if "REDIS_CLUSTER_ADDR" in source:
        rc: RedisCluster = request.getfixturevalue("docs_cluster")
        for address in rc.master_addresses():
            command(address, "FLUSHALL")
        env["REDIS_CLUSTER_ADDR"] = rc.addresses[0]
    if "SENTINEL_ADDRS" not in source:
        yield env
        return
    deployment = SentinelDeployment(sentinels=1, down_after_ms=1000, failover_timeout_ms=3000).start()
    try:
        env.update(SENTINEL_ADDRS=",".join(deployment.sentinel_addresses),
                   SENTINEL_MASTER=deployment.master_name)
        yield env
    finally:
        deployment.stop()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_example_runs_and_prints_what_the_docs_show(example: Path, example_env: dict) -> None:
    source = example.read_text(encoding="utf-8")
    if "redis.Pool" in source and not hasattr(redis, "Pool"):
        pytest.skip("redigo_py does not export Pool at the package root yet (API.md says it must)")
    proc = subprocess.run([sys.executable, "-c", _RUNNER, str(example)], env=example_env,
                          capture_output=True, text=True, timeout=60, cwd=str(ROOT))
    assert proc.returncode == 0, f"{example.name} failed:\n{proc.stdout}\n{proc.stderr}"
    expected = example.with_suffix(".out")
    if expected.exists():
        assert proc.stdout == expected.read_text(encoding="utf-8"), (
            f"{example.name} printed:\n{proc.stdout}\nbut {expected.name} (shown in the docs) says:\n"
            f"{expected.read_text(encoding='utf-8')}")

# Two commands for a fresh clone: `make test` and `make demo`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=

.PHONY: test demo bench install clean fuzz test-stackdriver

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m harness demo

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py

# The Stackdriver exporters' tests, in a venv of their own: the [stackdriver]
# extra needs protobuf < 4.25 and [dev]'s OpenTelemetry exporters >= 5. A plain
# PyPI venv, as a user's; the variable is what docs/observability.md tells a
# traced program to set (tests/test_exporters.py also runs the demo and the
# examples without it, as a user does).
SD_VENV ?= .venv-stackdriver
SD_PY := $(SD_VENV)/bin/python
SD_STAMP := $(SD_VENV)/.installed

$(SD_STAMP): setup.cfg setup.py pyproject.toml
	test -x $(SD_PY) || python3 -m venv $(SD_VENV)
	$(SD_PY) -m pip install -q -e '.[stackdriver,prometheus]' pytest pytest-timeout
	touch $(SD_STAMP)

test-stackdriver: $(SD_STAMP)
	PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python $(SD_PY) -m pytest -q -p no:cacheprovider \
	  tests/test_exporters.py -k 'stackdriver or example or demo'

fuzz: $(STAMP)
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(VENV) $(SD_VENV) build *.egg-info .pytest_cache .hypothesis fuzz/corpus-run

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
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m redigo_py demo

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py

# The Stackdriver exporters need a C++ protobuf build of the 4.21 line, which
# PyPI does not ship for Python 3.11 (see setup.cfg): Debian's
# python3-protobuf in a --system-site-packages venv of Debian's python3.
# Where that cannot be had, the leg says so and passes; make test then skips
# the Stackdriver cases the same way.
SD_PY := /usr/bin/python3
SD_VENV ?= .venv-stackdriver
test-stackdriver:
	@if ! $(SD_PY) -c 'from google.protobuf.internal import api_implementation as a; assert a.Type() == "cpp"' 2>/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    timeout 600 apt-get install -y -q python3-protobuf >/dev/null 2>&1 || \
	    { timeout 600 apt-get update -q >/dev/null 2>&1 && \
	      timeout 600 apt-get install -y -q python3-protobuf >/dev/null 2>&1; } || true; \
	  fi; \
	fi
	@if $(SD_PY) -c 'from google.protobuf.internal import api_implementation as a; assert a.Type() == "cpp"' 2>/dev/null; then \
	  test -x $(SD_VENV)/bin/python || $(SD_PY) -m venv --system-site-packages $(SD_VENV); \
	  $(SD_VENV)/bin/python -m pip install -q -e '.[stackdriver]' pytest pytest-timeout hypothesis \
	    opencensus-ext-prometheus==0.2.1 'prometheus_client>=0.26' && \
	  $(SD_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_exporters.py -k 'stackdriver or example or demo'; \
	else \
	  echo "test-stackdriver: skipped, no C++ protobuf build for $(SD_PY) (apt-get install python3-protobuf)"; \
	fi

fuzz: $(STAMP)
	$(PY) fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(VENV) $(SD_VENV) build *.egg-info .pytest_cache .hypothesis fuzz/corpus-run

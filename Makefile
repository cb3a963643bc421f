# The two commands (API.md): `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# `make test` on two pytest-xdist workers (tests/conftest.py: which tests go together);
# PYTEST_WORKERS=0 runs it in this one process.
PYTEST_WORKERS ?= 2

.PHONY: run test bench install clean stack stack-down compose-test

# The AsyncAPI parser (a test dependency, Node: tools/asyncapi's lockfile) when npm is here;
# without it, its test skips (and fails under PP_REQUIRE_INTEGRATION).
$(STAMP): pyproject.toml tools/asyncapi/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	if command -v npm >/dev/null; then \
	  npm ci --ignore-scripts --no-audit --no-fund --prefix tools/asyncapi >/dev/null; fi
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m shared.embedded $(if $(DEMO),--demo,)

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Every benchmark in bench/, each beside its baseline (README "Benchmarks").
bench: $(STAMP)
	$(PY) -m bench

# The local stack: every service as separate gunicorn and worker processes on this
# machine's RabbitMQ and PostgreSQL, behind nginx on 8080 (deploy/stack.py).
stack: $(STAMP)
	$(PY) deploy/stack.py up

stack-down:
	$(PY) deploy/stack.py down

# docker-compose.yml end to end (deploy/compose/test.sh): a Docker engine (started if none
# runs), the base images (local stand-ins when no registry answers), build, up, the journey
# through the compose's nginx on 18080, and down, always.
compose-test: $(STAMP)
	deploy/compose/test.sh

clean:
	rm -rf $(VENV) var .pytest_cache tests/artifacts

# Two entry points: `make up` starts the platform, `make test` runs the tests.
# Each installs what it needs on a fresh Debian 12 machine (as root) and is safe to run again.
SHELL := /bin/bash
VENV := .venv
PYTHON := $(VENV)/bin/python
export PAAS_DATA_DIR ?= $(CURDIR)/var
# The PostgreSQL that `unit-postgres` runs the unit and API tests on; scripts/install-postgres starts it and makes
# the role and database (pytest-django creates and drops test_paas next to it).
TEST_DATABASE_URL ?= postgres://paas:paas@127.0.0.1:5432/paas

.PHONY: up test cluster cluster-stop system postgres redis browser venv stack lint unit unit-postgres e2e bench bench-scale bench-deploy bench-router bench-placement clean

up: system venv stack
	@ln -sf $(CURDIR)/$(VENV)/bin/paas /usr/local/bin/paas
	$(VENV)/bin/paas up

# A cluster to try on this machine: PostgreSQL, Redis and a second Docker engine (host `two`); the README gives the
# commands that run the controller, the builder and the two agents. `make cluster-stop` stops the second engine.
cluster: system postgres redis venv stack
	@ln -sf $(CURDIR)/$(VENV)/bin/paas /usr/local/bin/paas
	@$(PYTHON) scripts/second-engine start

cluster-stop: venv
	@$(PYTHON) scripts/second-engine stop

# Lint, the whole suite on SQLite, then the unit and API tests again on PostgreSQL; stops at the first failure.
test: system postgres redis browser venv stack lint
	$(VENV)/bin/pytest -ra
	@$(MAKE) --no-print-directory unit-postgres

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: venv browser
	$(VENV)/bin/pytest -ra -m "not e2e"

postgres:
	@scripts/install-postgres

redis:
	@scripts/install-redis

browser:
	@scripts/install-browser

unit-postgres: venv postgres browser
	DATABASE_URL='$(TEST_DATABASE_URL)' $(VENV)/bin/pytest -ra -m "not e2e"

e2e: system venv stack
	$(VENV)/bin/pytest -ra -m e2e

system:
	@scripts/install-system

venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml scripts/router-requirements.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	@echo "==> Installing paas and its dependencies into $(VENV)"
	@$(VENV)/bin/pip install --upgrade pip > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(VENV)/bin/pip install -e '.[test]' >> $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log; exit 1; }
	@$(VENV)/bin/pip install --no-deps --require-hashes -r scripts/router-requirements.txt >> $(VENV)/pip.log 2>&1 \
		|| { cat $(VENV)/pip.log; exit 1; }
	@touch $@

stack: venv
	@$(PYTHON) manage.py stack_build

clean:
	rm -rf $(VENV) build *.egg-info

bench: venv
	$(PYTHON) bench/reconcile_pass.py

bench-scale: venv stack
	$(PYTHON) bench/scale.py

bench-placement: venv
	$(PYTHON) bench/placement.py

bench-deploy: venv stack
	$(PYTHON) bench/deploy.py

# Installs wrk (the load generator) when it is missing.
bench-router: venv stack
	@command -v wrk >/dev/null || { echo "==> Installing wrk"; apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	$(PYTHON) bench/router.py

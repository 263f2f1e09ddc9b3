# Everything bootstraps .venv from pyproject.toml, pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INSTALL_LOG := $(VENV)/install.log
PYTEST_ARGS ?=

.PHONY: demo test drill bench lint clean-venv schema

# pip's and setuptools' own output goes to INSTALL_LOG, shown only when installing fails.
$(STAMP): pyproject.toml constraints.txt
	@echo "Installing dependencies into $(VENV): about a minute, only the first time" \
		"(and after a change to pyproject.toml or constraints.txt)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --upgrade pip \
		&& $(BIN)/python -m pip install -c constraints.txt -e '.[test]'; } >$(INSTALL_LOG) 2>&1 \
		|| { cat $(INSTALL_LOG); echo "Installing the dependencies failed: pip's output is above" \
			"and in $(INSTALL_LOG)."; exit 1; }
	@touch $(STAMP)
	@echo "Dependencies installed."

demo: $(STAMP)
	$(BIN)/python -m app.demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

# The long versions of the sender's drills (kill -9, database restart, slow receivers),
# printing what they measured; the suite runs short versions of the same tests.
# PostgreSQL variants need MAILPOOLS_TEST_POSTGRES_URL, as for make test.
drill: $(STAMP)
	$(BIN)/python -m pytest -p no:xdist -s --drill -m drill --timeout=3600 tests

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check app screens widgets data tests bench
	$(BIN)/ruff format --check app screens widgets data tests bench
	$(BIN)/mypy

clean-venv:
	rm -rf $(VENV)

# Until the first release the schema is one migration, regenerated from data/models.py.
schema: $(STAMP)
	rm -f data/migrations/versions/0001_initial_schema.py /tmp/mailpools-schema.db
	$(BIN)/python -c "from alembic import command; from data.db import alembic_config; command.revision(alembic_config('sqlite:////tmp/mailpools-schema.db'), message='initial schema', autogenerate=True, rev_id='0001')"
	rm -f /tmp/mailpools-schema.db

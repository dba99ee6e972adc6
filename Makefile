# Stateful Engagement Backend — developer entry points.
#   make run    fresh checkout -> venv, deps, migrate, seed, dev server on 127.0.0.1:$(PORT)
#   make test   the whole test suite (DATABASE_URL picks the database; SQLite by default)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test fuzz client-check bench soak chaos test-pgbouncer install install-dev migrate lint typecheck format check clean requirements

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Pins with hashes, compiled from the short requirements*.in files (make requirements).
$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements-test.txt requirements-tools.txt $(VENV)/.installed
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

.env:
	cp .env.example .env

migrate: install .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable

# The production server (granian) with auto-reload, not runserver: runserver
# has a listen backlog of 10 and one thread per connection, so a burst of
# parallel clients gets connection resets. See docs/OPERATIONS.md. Beside it,
# one task worker and the scheduler (bin/dev).
run: migrate
	$(BIN)/python manage.py seed_catalog
	PY_BIN=$(abspath $(BIN)) BIND=127.0.0.1 PORT=$(PORT) WEB_CONCURRENCY=1 \
	  WEB_THREADS=$${WEB_THREADS:-4} WEB_RELOAD=1 WEB_LOG_LEVEL=info bin/dev

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Reads on a real streaming standby: a throwaway pg_basebackup copy of the
# PostgreSQL cluster DATABASE_URL names, the replica tests, then the copy is
# removed (also run by .ci/run). Needs a replication entry in pg_hba.conf.
.PHONY: test-replica
test-replica: install-dev
	$(BIN)/python scripts/replica/run.py $(PYTEST_ARGS)

# Schemathesis against the running production server and its own OpenAPI schema.
fuzz: install-dev
	bash scripts/fuzz.sh

# The TypeScript types generated from the OpenAPI schema (openapi-typescript, pinned in
# clients/typescript/package-lock.json) and a small client type-checked against them with
# tsc --noEmit: a schema change that breaks clients fails here (also run by .ci/run).
client-check: install-dev
	DJANGO_SETTINGS_MODULE=config.test_settings $(BIN)/python manage.py spectacular \
	  --validate --fail-on-warn --format openapi-json --file clients/typescript/openapi.json
	cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run --silent generate && npm run --silent check

# Load test on PostgreSQL (not in CI): needs wrk and pgbench; see docs/PERFORMANCE.md.
bench: install-dev
	$(BIN)/python scripts/bench/run.py $(BENCH_ARGS)

# Ten minutes of mixed traffic at ~70% of capacity (not in CI).
soak: install-dev
	$(BIN)/python scripts/bench/soak.py $(SOAK_ARGS)

# lint-imports: the import-linter contracts of pyproject.toml (the floors, docs/ARCHITECTURE.md).
lint: install-dev typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy with the django-stubs and djangorestframework-stubs plugins ([tool.mypy] in
# pyproject.toml): every app and its tests; strict for engagement.rules, services, selectors.
typecheck: install-dev
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: install-dev
	DJANGO_SETTINGS_MODULE=config.test_settings $(BIN)/python manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=config.test_settings $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache .mypy_cache .hypothesis .test-db.sqlite3*

# Fault tests against the production server on PostgreSQL (also run by .ci/run).
chaos: install-dev
	$(BIN)/python -m pytest scripts/chaos --confcutdir=scripts/chaos -p no:django -p no:cacheprovider -o addopts="" -q \
	  --ignore=scripts/chaos/test_pgbouncer.py

# The service through PgBouncer in transaction pooling (Debian's pgbouncer, started on a free
# port by scripts/pgbouncer.py; also run by .ci/run): the live tests (session state, release
# lock, a mixed burst with replays, faults behind PgBouncer), then the stress mix through it.
# About two minutes. See docs/SCALING.md, "PgBouncer".
test-pgbouncer: install-dev
	$(BIN)/python -m pytest scripts/chaos/test_pgbouncer.py --confcutdir=scripts/chaos -p no:django -p no:cacheprovider -o addopts="" -q
	$(BIN)/python scripts/stress/run.py --database postgres --pgbouncer 4 --workers 3 --rounds 2 --seconds 20 $(STRESS_ARGS)

# Recompile the pinned, hashed requirements from the .in files. Pins move only
# when asked: UPGRADE="--upgrade-package django" (or --upgrade for all).
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 $(UPGRADE)
requirements: install-dev
	$(UV_COMPILE) requirements.in -o requirements.txt
	$(UV_COMPILE) requirements-test.in -o requirements-test.txt
	$(UV_COMPILE) requirements-tools.in -o requirements-tools.txt

# Every kind of write at once on the same users, against the production server:
# PostgreSQL (3 workers), then a shorter run on SQLite; about a minute (also run by .ci/run).
.PHONY: stress
stress: install-dev
	$(BIN)/python scripts/stress/run.py --database postgres --workers 3 --rounds 4 --seconds 30 $(STRESS_ARGS)
	$(BIN)/python scripts/stress/run.py --database sqlite --workers 2 --rounds 2 --seconds 8 $(STRESS_ARGS)

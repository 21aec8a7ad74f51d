# fieldops — the two set-up commands are `make run` and `make test`; each installs what it needs.
.PHONY: run test test-quick test-sqlite test-pg lint fmt bench bench-faults bench-security migration seed clean run-cluster

VENV := .venv/bin
PYTEST := $(VENV)/python -m pytest

run:
	@scripts/bootstrap.sh runtime
	@$(VENV)/fieldops run

# PostgreSQL cluster mode: a local server under var/pg, N API processes, M workers (FIELDOPS_API_PROCESSES/_WORKER_PROCESSES)
run-cluster:
	@scripts/run_cluster.sh

test:
	@scripts/bootstrap.sh dev
	@echo "==> tests on SQLite"
	@$(PYTEST) tests
	@echo "==> tests on PostgreSQL 15"
	@FIELDOPS_TEST_DB=postgresql $(PYTEST) tests -m "not sqlite_only and not nodb"

# Quick loop: SQLite only, skipping the slow property tests and browser tests.
test-quick:
	@scripts/bootstrap.sh dev
	@$(PYTEST) tests -m "not slow" -x

test-sqlite:
	@scripts/bootstrap.sh dev
	@$(PYTEST) tests

test-pg:
	@scripts/bootstrap.sh dev
	@FIELDOPS_TEST_DB=postgresql $(PYTEST) tests

lint:
	@scripts/bootstrap.sh dev
	$(VENV)/ruff check src tests migrations scripts bench
	$(VENV)/mypy
	$(VENV)/lint-imports
	scripts/check_api_types.sh
	@! grep -l "://" requirements*.lock frontend/package-lock.json || (echo "a lock file contains download addresses; run 'npm run clean-lock' in frontend/" && false)
	cd frontend && npm run -s check

fmt:
	$(VENV)/ruff check --fix src tests bench
	$(VENV)/ruff format src tests bench

bench:
	@scripts/bootstrap.sh dev
	$(VENV)/python -m bench.run

# Fault injection at full size (10,000 events, worker kills, PostgreSQL restarts, 50-way races): docs/benchmarks.md
bench-faults:
	@scripts/bootstrap.sh dev
	$(VENV)/python -m bench.run faults

# Nightly-size security run: Schemathesis with more examples per operation and role, then the timing section.
bench-security:
	@scripts/bootstrap.sh dev
	FIELDOPS_FUZZ_EXAMPLES=12 $(PYTEST) tests/security/test_schemathesis.py -s
	$(VENV)/python -m bench.run security

migration:
	scripts/regen_initial_migration.sh

seed:
	$(VENV)/fieldops seed

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

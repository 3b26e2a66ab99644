# Set-up and the two jobs of README.md. Everything the project needs is installed from the
# package registries by these targets; nothing is assumed to be on the machine but Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench models web-assets clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,cluster]"
	touch $(STAMP)

models: $(STAMP)
	$(BIN)/etiquette models fetch

# Front-end files the pages serve but the repo does not hold (ECharts for the report charts):
# `npm pack` of the pinned release from the npm registry, the file verified by its sha256
# (etiquette/service/web_assets.py), into the git-ignored service/static/vendor/.
web-assets: $(STAMP)
	$(BIN)/python -m etiquette.service.web_assets

# The main job: the live pipeline on a demo site whose windows replay recordings_sample/ at
# real time into the supervision service started in the same process (SQLite under out/). It
# prints the workbench URL and a demo admin with a new random password; Ctrl-C stops it.
demo: models web-assets
	$(BIN)/etiquette run --config recordings_sample/site.yaml

# Debian packages the tests use: PostgreSQL (the service tests start their own cluster),
# Chromium (browser tests), PulseAudio + PortAudio (a microphone without hardware for the live
# capture tests), FFmpeg (a network camera served on 127.0.0.1) and a Chinese font (the browser
# tests measure where the pages' Chinese text falls; without one it is drawn as boxes).
SYSTEM_PACKAGES := postgresql chromium pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins ffmpeg fonts-wqy-microhei
system-deps:
	@if dpkg-query -W -f='$${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null | grep -vq 'install ok installed' \
		|| [ $$(dpkg-query -W -f='$${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null | wc -l) -ne $(words $(SYSTEM_PACKAGES)) ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
	else \
		echo "system packages installed: $(SYSTEM_PACKAGES)"; \
	fi

# The linters the project configures (pyproject.toml): ruff, mypy (strict) and import-linter,
# which keeps the arrows of README's "Architecture" from ever existing.
lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts recordings_sample
	$(BIN)/mypy
	$(BIN)/lint-imports

# The linters, then the whole test suite (real model, real audio, real PostgreSQL and browser).
test: lint models web-assets system-deps
	$(BIN)/python -m pytest -q tests

# The whole benchmark: accuracy, speed and memory of batch (benchmarks/results.*), the
# recogniser against raw faster-whisper (recogniser_results.*), the acoustic check
# (acoustic_check_results.*), the live pipeline with 1-40 windows (live_results.*) and the
# presence detector (presence_results.*). What each optimisation bought: optimisations.md.
# The held-out set's tune half (heldout_tune_results.*); its test half is run by hand, once,
# when tuning is over (python -m benchmarks.heldout --half test), and results.md quotes both.
bench: models
	$(BIN)/python -m benchmarks.heldout --half tune
	$(BIN)/python -m benchmarks.run
	$(BIN)/python -m benchmarks.recogniser --beam-size 1 --beam-size 5 --repeat 3
	$(BIN)/python -m benchmarks.acoustic_check
	$(BIN)/python -m benchmarks.live
	$(BIN)/python -m benchmarks.presence

clean:
	rm -rf $(VENV) out

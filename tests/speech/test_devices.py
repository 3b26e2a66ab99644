"""Naming and listing microphones: a site.yaml's device names, and `etiquette devices`, which
lists PortAudio's inputs and the PulseAudio sources a "pulse:<source>" device can record."""

from __future__ import annotations

import json
from collections.abc import Callable

from typer.testing import CliRunner

from etiquette.speech.devices import parse_device

from factories.microphone import PipeSource


def test_device_names() -> None:
    assert parse_device("pulse:win1").portaudio == "pulse"
    assert parse_device("pulse:win1").pulse_source == "win1"
    assert parse_device("pulse").pulse_source is None
    assert parse_device("3").portaudio == 3
    assert parse_device("USB Audio").portaudio == "USB Audio"


def test_devices_command_lists_the_pulse_device_and_its_sources(
        pipe_source: Callable[..., PipeSource]) -> None:
    from etiquette.cli import app

    source = pipe_source()
    result = CliRunner().invoke(app, ["devices", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    names = [d["name"] for d in listing["audio"]]
    assert "pulse" in names
    pulse = listing["audio"][names.index("pulse")]
    assert pulse["channels"] > 0 and pulse["hostapi"] == "ALSA"
    assert source.device in listing["pulse_sources"]
    table = CliRunner().invoke(app, ["devices"])
    assert table.exit_code == 0, table.output
    assert "pulse" in table.output and source.device in table.output and "音频输入" in table.output

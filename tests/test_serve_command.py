"""`etiquette serve` gives its service the speech side's practice checker (the service itself
never imports it); `python -m etiquette.service serve` runs the service alone, without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from etiquette.cli import app as etiquette_app
from etiquette.practice import PracticeRecogniser
from etiquette.service.cli import app as service_app


def served_app(monkeypatch: pytest.MonkeyPatch, command: typer.Typer, data_dir: Path) -> Any:
    """The app `serve` hands to uvicorn (which is not started)."""
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    result = CliRunner().invoke(command, ["serve", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return served[0]


def test_etiquette_serve_injects_the_practice_checker(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("ETIQUETTE_PRACTICE_THREADS", "3")
    monkeypatch.setenv("ETIQUETTE_PRACTICE_MAX_S", "12")
    checker = served_app(monkeypatch, etiquette_app, tmp_path).state.practice
    assert isinstance(checker, PracticeRecogniser)
    # The service's practice settings hold: its threads, one worker, its longest recording.
    assert (checker.recogniser.cpu_threads, checker.recogniser.num_workers) == (3, 1)
    assert checker.max_s == 12.0


def test_the_service_alone_has_no_checker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert served_app(monkeypatch, service_app, tmp_path).state.practice is None

"""`etiquette report` refuses what it cannot report on, in Chinese, with exit 2 and without
creating anything: a mistyped data directory must not print an empty month as if it were one."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from etiquette.cli import app


def report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["report", *args], env={"ETIQUETTE_DATA_DIR": None,
                                                             "ETIQUETTE_DATABASE_URL": None})
    return result.exit_code, result.stderr


def test_a_data_directory_that_does_not_exist_is_refused_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    code, err = report("--month", "2026-11", "--data-dir", str(missing))
    assert code == 2 and "数据目录不存在" in err and str(missing) in err
    assert not missing.exists()


def test_a_database_that_does_not_exist_is_refused_and_not_created(tmp_path: Path) -> None:
    code, err = report("--data-dir", str(tmp_path))  # the directory is there, no database in it
    assert code == 2 and "数据库不存在" in err
    file = tmp_path / "other.db"
    code, err = report("--database-url", f"sqlite:///{file}")
    assert code == 2 and "数据库不存在" in err and str(file) in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--month", "2026-13", "月份有误"), ("--quarter", "2026-Q5", "期间有误"),
    ("--year", "26", "期间有误")])
def test_a_bad_period_is_answered_in_chinese(tmp_path: Path, option: str, value: str,
                                              says: str) -> None:
    code, err = report(option, value, "--data-dir", str(tmp_path / "none"))
    assert code == 2 and says in err and value in err
    assert not (tmp_path / "none").exists()

"""The command line tells what is wrong with a rules or site file in Chinese, as the rule editor
does: the line, the rule and the field by their names, and what is allowed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from etiquette.cli import app
from etiquette.core.rules import DEFAULT_RULES


def test_rules_check_names_the_problem_in_chinese(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(DEFAULT_RULES.read_text(encoding="utf-8").replace(
        "{name: 推诿搪塞, severity: major", "{name: 推诿搪塞, severity: huge"), encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "check", str(bad)])
    assert result.exit_code == 2
    assert "规则文件有误" in result.stderr and "「推诿搪塞」" in result.stderr
    assert "严重程度" in result.stderr and "应为以下之一" in result.stderr
    assert "Input should be" not in result.stderr

    missing = CliRunner().invoke(app, ["rules", "check", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "无法读取规则文件" in missing.stderr


def test_a_bad_site_file_is_named_in_chinese(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("windows: 3\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(site)])
    assert result.exit_code == 2 and "站点配置有误" in result.stderr
    assert "center：缺少此项（必填）" in result.stderr and "windows：应为列表" in result.stderr
    assert "Field required" not in result.stderr

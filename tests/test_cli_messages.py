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


def run_site(tmp_path: Path, text: str, env: dict[str, str | None] | None = None) -> str:
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--config", str(site)], env=env)
    assert result.exit_code == 2, result.output
    return result.stderr


def test_the_site_files_own_checks_are_said_in_chinese(tmp_path: Path) -> None:
    err = run_site(tmp_path, "center: {code: c}\nwindows:\n"
                             "  - {id: w1, audio: {file: nope.wav}}\n")
    assert "站点配置有误" in err and "no such file" not in err
    assert "第 3 行" in err and f"文件不存在：{tmp_path / 'nope.wav'}" in err

    err = run_site(tmp_path, "center: {code: c}\nwindows:\n"
                             "  - {id: w2, audio: {device: 1, channels: {staff: 0, citizen: 0}}}\n"
                             "  - {id: w3}\n"
                             "supervision: {url: 'http://x'}\n")
    assert "staff 和 citizen 不能是同一声道（0）" in err
    assert "窗口至少要有 audio（麦克风或录音）或 camera（摄像头）之一" in err
    assert "写了 url 就须写 api_key 或 api_key_env" in err
    assert "Value error" not in err and "needs" not in err

    err = run_site(tmp_path, "center: {code: c}\nwindows:\n  - {id: w1, audio: {device: 1}}\n"
                             "supervision: {url: 'http://127.0.0.1:9', api_key_env: NO_SUCH_KEY}\n",
                   env={"NO_SUCH_KEY": None})
    assert "环境变量 NO_SUCH_KEY 未设置" in err and "is not set" not in err


def test_the_rule_files_a_site_names_are_said_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "presence.yaml").write_text(
        "version: x\nservice_hours: {periods: [{start: '12:00', end: '09:00'}]}\n",
        encoding="utf-8")
    err = run_site(tmp_path, "center: {code: c}\npresence: {rules: presence.yaml}\n"
                             "windows:\n  - {id: w1, camera: {source: 0}}\n")
    assert "在岗规则文件有误" in err and "开始时间 12:00 应早于结束时间 09:00" in err
    assert str(tmp_path / "presence.yaml") in err and "must be before" not in err
    err = run_site(tmp_path, "center: {code: c}\nrules: nope.yaml\n"
                             "windows:\n  - {id: w1, audio: {device: 1}}\n")
    assert "无法读取规则文件" in err and "cannot read" not in err


def test_presence_rules_and_pauses_of_batch_are_said_in_chinese(tmp_path: Path) -> None:
    rules = tmp_path / "presence.yaml"
    rules.write_text("version: x\nservice_hours: {timezone: Mars/Base, periods: "
                     "[{start: '09:00', end: '12:00'}]}\n", encoding="utf-8")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"")
    result = CliRunner().invoke(app, ["batch", str(video), "--presence-rules", str(rules)])
    assert result.exit_code == 2
    assert "在岗规则文件有误" in result.stderr and "未知的时区 'Mars/Base'" in result.stderr
    assert "unknown time zone" not in result.stderr

    pauses = tmp_path / "pauses.yaml"
    pauses.write_text("- {window: w1, status: 度假, start: '2024-03-01 09:00', "
                      "end: '2024-03-01 08:00'}\n- {window: w1, status: 度假, "
                      "start: '2024-03-01 09:00', end: '2024-03-01 10:00'}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["batch", str(video), "--pauses", str(pauses)])
    assert result.exit_code == 2
    assert "去向牌记录有误" in result.stderr and "第 1 行" in result.stderr
    assert "开始时间 2024-03-01 09:00:00 应早于结束时间 2024-03-01 08:00:00" in result.stderr
    assert "度假 不是在岗规则中定义的去向牌状态" in result.stderr
    assert "is not a declared-pause" not in result.stderr

    result = CliRunner().invoke(app, ["batch", str(video), "--roi", "0,0 1,1"])
    assert result.exit_code == 2 and "--roi 无效：座位区域应为至少 3 个点" in result.stderr


def test_model_errors_are_said_in_chinese(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["models", "fetch", "whisper-huge"])
    assert result.exit_code == 2
    assert "未知的模型 whisper-huge" in result.stderr and "whisper-base" in result.stderr
    result = CliRunner().invoke(app, ["models", "fetch", "--models-dir", str(tmp_path)])
    assert result.exit_code == 2 and "找不到模型清单" in result.stderr


def test_a_bad_composed_rule_is_said_in_chinese(tmp_path: Path) -> None:
    checks = tmp_path / "checks.yaml"
    checks.write_text("version: t\ncomposed:\n  - id: A-1\n    name: 未致歉\n"
                      "    kind: missing_apology\n    when:\n      all:\n"
                      "        - {keyword: [办不了]}\n        - {regex: '不符合(条件'}\n",
                      encoding="utf-8")
    result = CliRunner().invoke(app, ["batch", str(tmp_path), "--checks", str(checks)])
    assert result.exit_code == 2 and "检查规则文件有误" in result.stderr
    assert "第 8 行 · 组合规则 A-1「未致歉」 › 条件 › 全部成立 › 第 1 项：keyword 不是可用的算子" \
        in result.stderr
    assert "第 9 行" in result.stderr and "不是有效的正则表达式" in result.stderr
    assert "is not an operator" not in result.stderr

"""`etiquette run` as an operator meets it: the demo site into its embedded service, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from factories import ROOT, SAMPLES
from service.conftest import free_port

pytestmark = pytest.mark.slow


def demo_site(tmp_path: Path, windows: list[str]) -> Path:
    """recordings_sample/site.yaml with free ports, data under tmp_path, some of its windows."""
    site = yaml.safe_load((SAMPLES / "site.yaml").read_text(encoding="utf-8"))
    site["data_dir"] = str(tmp_path / "live")
    site["supervision"]["embedded"].update(port=free_port(), data_dir=str(tmp_path / "service"))
    site["control"]["port"] = free_port()
    site["presence"]["rules"] = str(SAMPLES / site["presence"]["rules"])
    kept = []
    for w in site["windows"]:
        if w["id"] in windows:
            for part, key in (("audio", "file"), ("camera", "source")):
                if part in w:
                    w[part][key] = str(SAMPLES / w[part][key])
            kept.append(w)
    site["windows"] = kept
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    return path


class Run:
    """`etiquette run` in a process of its own, its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "etiquette.cli", "run", *args],
                                     stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        assert self.proc.stderr is not None
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no {pattern!r} in:\n{''.join(self.lines[-40:])}")

    def finish(self, timeout_s: float) -> int:
        _, rest = self.proc.communicate(timeout=timeout_s)
        self.lines += (rest or "").splitlines(keepends=True)
        return self.proc.returncode


def test_the_demo_reaches_its_workbench_and_sigterm_flushes_what_was_heard(tmp_path):
    run = Run("--config", str(demo_site(tmp_path, ["window02_rude", "window06_counter"])))
    try:
        url = run.wait_for(r"审核工作台：(http://\S+)/", 120).group(1)
        password = run.wait_for(r"演示管理员：demo-admin\s+密码：(\S+)", 5).group(1)
        run.wait_for(r"2 windows running", 120)
        # 不知道 is said 6.5 s into the recording; a newcomer sees it in the workbench.
        run.wait_for(r"window02_rude: forbidden_phrase F1-", 60)
        # The counter video: the seat is empty from 12 s; 20 s allowed (presence_demo.yaml).
        run.wait_for(r"window06_counter: off post since 12.0 s", 60)
        assert {"F1-1", "P-off-post"} <= workbench_rules(url, password, {"F1-1", "P-off-post"})
        run.proc.send_signal(signal.SIGTERM)
        code = run.finish(120)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    log = "".join(run.lines)
    assert code == 0, log[-3000:]
    assert "stopping: finishing what was heard" in log and "已停止" in log
    journal = [yaml.safe_load(line) for line in
               (tmp_path / "live" / "incidents.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"F1-1", "F1-2", "P-off-post"} <= {r.get("rule_id") for r in journal}
    # No false missing farewell from stopping in the middle of a service.
    assert "missing_farewell" not in {r["kind"] for r in journal}
    assert list((tmp_path / "live" / "outbox" / "pending").glob("*")) == []


def workbench_rules(url: str, password: str, wanted: set[str], timeout_s: float = 30) -> set[str]:
    """The rules of the incidents the demo admin sees in the workbench's API, once `wanted`
    are there (or the time is up)."""
    deadline = time.time() + timeout_s
    seen: set[str] = set()
    with httpx.Client(base_url=url, timeout=10) as c:
        assert c.post("/api/v1/auth/login", json={"username": "demo-admin",
                                                   "password": password}).status_code == 200
        while time.time() < deadline and not wanted <= seen:
            seen = {r["rule_id"] for r in c.get("/api/v1/incidents").json()["data"]}
            time.sleep(0.3)
    return seen


def run_site(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`etiquette run` on a site file of `text`, to its end (these sites fail at start)."""
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "etiquette.cli", "run", "-c", str(site)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_a_bad_site_file_fails_at_once_naming_the_key(tmp_path):
    result = run_site(tmp_path, "center: {code: c}\n"
                                "windows:\n  - {id: w1, audio: {file: nope.wav}}\n")
    assert result.returncode == 2
    assert "第 3 行 · windows › 第 1 项 › audio › file：文件不存在" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_model_that_cannot_load_fails_at_once_saying_why(tmp_path):
    audio = ROOT / "recordings_sample" / "window01_polite.wav"
    result = run_site(tmp_path, f"center: {{code: c}}\ndata_dir: {tmp_path / 'live'}\n"
                                f"recognition: {{compute_type: int3}}\n"
                                f"windows:\n  - {{id: w1, audio: {{file: {audio}}}}}\n")
    assert result.returncode == 2
    assert "无法加载模型" in result.stderr and "int3" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_recording_that_cannot_be_decoded_stops_the_start_naming_the_window(tmp_path):
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all", encoding="utf-8")
    good = ROOT / "recordings_sample" / "window01_polite.wav"
    result = run_site(tmp_path, f"center: {{code: c}}\ndata_dir: {tmp_path / 'live'}\n"
                                f"windows:\n  - {{id: w1, audio: {{file: {good}}}}}\n"
                                f"  - {{id: w2, audio: {{file: {notes}}}}}\n")
    assert result.returncode == 2
    assert f"第 2 个窗口 w2 的录音 {notes} 无法解码" in result.stderr
    assert "Traceback" not in result.stderr

"""`etiquette run --config site.yaml`: the live pipeline's command (registered in etiquette.cli)."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from etiquette.core.checks.rules import CheckRulesError
from etiquette.core.rules import RulesError
from etiquette.live.site import EmbeddedService, Recognition, SiteError, load_site
from etiquette.models import ModelError


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, for a log collector (`--log-format json`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                                 "level": record.levelname, "logger": record.name,
                                 "message": record.getMessage()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for noisy in ("faster_whisper", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="站点配置文件（YAML）")],
    duration: Annotated[float | None, typer.Option(
        min=1, help="运行这么多秒后正常停止（默认一直运行，Ctrl-C 或 SIGTERM 停止）")] = None,
    log_level: Annotated[str, typer.Option(help="debug、info、warning")] = "info",
    log_format: Annotated[str, typer.Option(help="text 或 json（每行一个 JSON 对象）")] = "text",
) -> None:
    """实时监测：按站点配置同时监测所有窗口的麦克风和摄像头，事件数秒内送达监督考核服务。"""
    _logging(log_level, log_format)
    try:
        site = load_site(config)
    except SiteError as e:
        from etiquette.service.services.problems import console

        if e.document is None:
            said = console("站点配置", config, e)
        else:  # a rules file the site names
            said = console("规则文件" if isinstance(e.__cause__, RulesError)
                           else "检查规则文件" if isinstance(e.__cause__, CheckRulesError)
                           else "在岗规则文件", e.document, e)
        typer.echo(f"错误：{said}", err=True)
        raise typer.Exit(2) from e
    from etiquette.live.control import ServerThread, create_control_app
    from etiquette.live.engine import build_site
    from etiquette.live.rules_source import RulesUnavailable

    embedded: ServerThread | None = None
    api: tuple[str, str] | None = None
    if site.supervision.embedded is not None:
        embedded, api = _start_embedded(site.supervision.embedded, site.recognition)
    try:
        live = build_site(site, api=api)
    except (RulesUnavailable, ModelError, SiteError) as e:
        if embedded is not None:
            embedded.stop()
        typer.echo(f"错误：{e}", err=True)
        raise typer.Exit(2) from e
    control = ServerThread(create_control_app(live), site.control.host, site.control.port,
                           "control")
    control.start()
    typer.echo(f"指标：{control.url}/metrics  健康：{control.url}/health  "
               f"叫号：POST {control.url}/api/v1/queue-calls", err=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if duration is not None:
        threading.Timer(duration, done.set).start()
    live.start()
    try:
        live.run_until(done)
    finally:
        live.stop()
        control.stop()
        if embedded is not None:
            embedded.stop()
    pending = live.outbox.pending() if live.outbox is not None else 0
    typer.echo(f"已停止：本次事件 {live.emitted} 条，待送达 {pending} 条"
               f"（日志 {live.journal}）", err=True)


def _start_embedded(cfg: EmbeddedService, recognition: Recognition
                    ) -> tuple[Any, tuple[str, str]]:
    """The demo's supervision service in this process; its URL and a pipeline key for it. Staff
    practice there is recognised with the windows' recogniser options (`recognition`)."""
    from etiquette.live.control import ServerThread
    from etiquette.practice import practice_checker
    from etiquette.service.core.config import Settings
    from etiquette.service.demo import prepare_live
    from etiquette.service.main import create_app

    settings = Settings(data_dir=cfg.data_dir)
    username, password, key = prepare_live(settings)
    practice = practice_checker(settings, recognition.options())
    server = ServerThread(create_app(settings, practice=practice), cfg.host, cfg.port,
                          "supervision")
    server.start()
    typer.echo(f"\n审核工作台：{server.url}/\n演示管理员：{username}    密码：{password}    "
               f"（每次启动演示都会换新密码）\n", err=True)
    return server, (server.url, key)

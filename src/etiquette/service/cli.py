"""`etiquette serve` and `etiquette users …`: the service's commands.

Only typer is imported here; the service itself is imported when a command runs, so these
commands never pull in the speech path (`python -m etiquette.service` runs them alone, and its
service answers practice with 503). `etiquette serve` is the same command given the speech
side's practice checker (`serve_command`).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from etiquette.service.core.config import Settings
    from etiquette.service.services.practice import PracticeChecker

# Makes the practice checker of a service from its settings (etiquette.practice.practice_checker).
PracticeFactory = Callable[["Settings"], "PracticeChecker"]

# How `serve --workers N` tells its processes what the command was given beyond the settings
# (which they read from ETIQUETTE_* like any start): the practice factory, the log level.
WORKER_ENV = "ETIQUETTE_SERVE_WORKER"

users_app = typer.Typer(help="用户：创建管理员", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", envvar="ETIQUETTE_DATA_DIR",
    help="数据目录：SQLite 数据库（默认）与证据文件（默认 ~/.local/share/etiquette）")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="ETIQUETTE_DATABASE_URL",
    help="数据库地址，如 postgresql://user:pass@127.0.0.1/etiquette（默认数据目录下的 SQLite）")]


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    from pydantic import ValidationError

    from etiquette.service.core.config import Settings

    # Only the options given: an option left out is read from the environment or defaulted.
    values: dict[str, Any] = {k: v for k, v in {"data_dir": data_dir,
                                                "database_url": database_url}.items() if v}
    try:
        return Settings(**values)
    except ValidationError as e:
        typer.echo(f"错误：配置无效：{e}", err=True)
        raise typer.Exit(2) from e


def serve_command(practice: PracticeFactory | None = None) -> Callable[..., None]:
    """The `serve` command; `practice` makes its service's practice checker (None: a service
    that answers practice with 503)."""

    def serve(
        host: Annotated[str, typer.Option(help="监听地址（默认仅本机）")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535, help="端口")] = 8000,
        data_dir: DataDir = None,
        database_url: DatabaseUrl = None,
        demo: Annotated[Path | None, typer.Option(
            help="演示：导入演示主数据和这个 JSONL 文件（etiquette batch 的输出）中的事件，"
                 "并创建随机密码的演示管理员")] = None,
        log_level: Annotated[str, typer.Option(help="debug、info、warning")] = "info",
        workers: Annotated[int, typer.Option(
            min=1, max=64,
            help="工作进程数：多个中心共用一个服务时用；大于 1 需要 PostgreSQL")] = 1,
    ) -> None:
        """启动监督考核服务：接口（/docs）与审核工作台，启动时自动迁移数据库。"""
        settings = _settings(data_dir, database_url)
        if workers > 1:
            if not settings.sqlalchemy_url.startswith("postgresql"):
                typer.echo("错误：--workers 大于 1 需要 PostgreSQL 数据库（--database-url "
                           "postgresql://…）：SQLite 数据库文件同一时刻只允许一个进程写入，"
                           "多个工作进程会互相等待，繁忙时写入失败", err=True)
                raise typer.Exit(2)
            _serve_workers(settings, practice, host, port, demo, log_level, workers)
            return
        _serve(settings, practice(settings) if practice else None, host, port, demo, log_level)

    return serve


def _logging(log_level: str) -> None:
    import logging

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")


def _serve(settings: Settings, practice: PracticeChecker | None, host: str, port: int,
           demo: Path | None, log_level: str) -> None:
    import uvicorn

    from etiquette.service.main import create_app

    _logging(log_level)
    _announce(settings, host, port, demo)
    # X-Forwarded-For is believed from settings.trusted_proxies only (core/proxies.py).
    uvicorn.run(create_app(settings, practice=practice), host=host, port=port,
                log_level=log_level.lower(), proxy_headers=False)


def _serve_workers(settings: Settings, practice: PracticeFactory | None, host: str, port: int,
                   demo: Path | None, log_level: str, workers: int) -> None:
    """uvicorn's worker processes on one port, each its own app (`worker_app`) over the one
    PostgreSQL database, where everything they share lives: login throttling, the alerts'
    stream (polled), webhook deliveries (claimed one by one) and the periodic jobs' rounds."""
    import uvicorn

    _logging(log_level)
    _announce(settings, host, port, demo)
    # The processes are spawned: they read the settings from the environment, as given here.
    os.environ["ETIQUETTE_DATA_DIR"] = str(settings.data_dir)
    os.environ["ETIQUETTE_DATABASE_URL"] = settings.sqlalchemy_url
    os.environ[WORKER_ENV] = json.dumps({
        "practice": f"{practice.__module__}:{practice.__qualname__}" if practice else None,
        "log_level": log_level})
    uvicorn.run("etiquette.service.cli:worker_app", factory=True, workers=workers, host=host,
                port=port, log_level=log_level.lower(), proxy_headers=False)


def worker_app() -> FastAPI:
    """The app of one process of `etiquette serve --workers N` (see `_serve_workers`)."""
    from etiquette.service.core.config import Settings
    from etiquette.service.main import create_app

    given = json.loads(os.environ[WORKER_ENV])
    _logging(given["log_level"])
    settings = Settings()
    practice: PracticeChecker | None = None
    if given["practice"]:
        module, name = given["practice"].split(":")
        practice = getattr(importlib.import_module(module), name)(settings)
    return create_app(settings, practice=practice)


def _announce(settings: Settings, host: str, port: int, demo: Path | None) -> None:
    """Imports the demo when asked and says where the workbench is."""
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    if demo is not None:
        from etiquette.service.demo import prepare

        if not demo.is_file():
            typer.echo(f"错误：找不到事件文件 {demo}", err=True)
            raise typer.Exit(2)
        report, username, password = prepare(settings, demo)
        for line in report.failed:
            typer.echo(f"未能导入：{line}", err=True)
        typer.echo(f"\n已导入事件 {report.created} 条（已存在 {report.already} 条，失败 "
                   f"{len(report.failed)} 条），服务记录 {report.sessions} 条，数据目录 "
                   f"{settings.data_dir}")
        typer.echo(f"审核工作台：{url}")
        typer.echo(f"演示管理员：{username}    密码：{password}    （每次启动演示都会换新密码）")
        typer.echo("正式使用请另建管理员：etiquette users create-admin "
                   f"--data-dir {settings.data_dir}\n")
    else:
        typer.echo(f"审核工作台：{url}  接口文档：{url}docs", err=True)


@users_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(prompt="管理员用户名", help="用户名")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    password_stdin: Annotated[bool, typer.Option(help="从标准输入读取密码（脚本用）")] = False,
) -> None:
    """创建管理员账号。密码在提示时输入（不回显），系统没有默认密码。"""
    from etiquette.service.core.db import make_engine, make_sessionmaker
    from etiquette.service.errors import ServiceError
    from etiquette.service.main import prestart
    from etiquette.service.services import users
    from etiquette.service.services.access import SYSTEM_CLI

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    settings = _settings(data_dir, database_url)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        prestart(settings, engine)
        with make_sessionmaker(engine)() as session:
            user = users.create_admin(session=session, principal=SYSTEM_CLI, username=username,
                                      password=password)
    except ServiceError as e:
        typer.echo(f"错误：{e.detail}", err=True)
        raise typer.Exit(1) from e
    finally:
        engine.dispose()
    typer.echo(f"管理员 {user.username} 已创建（id {user.id}）。")


app = typer.Typer(help="etiquette 监督考核服务", no_args_is_help=True, add_completion=False)
app.command("serve")(serve_command())
app.add_typer(users_app, name="users")

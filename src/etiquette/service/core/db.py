"""Engine, sessions and migrations: the one place that knows which database we talk to."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger("etiquette.service.db")

ALEMBIC_DIR = Path(__file__).resolve().parents[1] / "alembic"


def make_engine(url: str) -> Engine:
    """An engine with the settings each backend needs under concurrent pipelines."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60},
                               pool_size=20, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


def in_models(name: str | None, type_: str, _parents: Any) -> bool:
    """For comparing a database with the models: the search index of the incidents (migration
    0010; on SQLite an FTS5 table and its shadow tables) is the migrations' own, not a model."""
    return not (type_ == "table" and (name or "").startswith("incident_search"))


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; runs at every start)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several service processes may start at once against one database.
            connection.execute(text("SELECT pg_advisory_xact_lock(7301)"))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def downgrade(engine: Engine, revision: str = "base") -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def wait_for_database(engine: Engine, attempts: int = 30, delay_s: float = 1.0) -> None:
    """Prestart: the database may still be starting (a container, a cluster after boot)."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as e:
            if attempt == attempts:
                raise
            logger.warning("database not ready (%s/%s): %s", attempt, attempts, e.orig)
            time.sleep(delay_s)


def utcnow() -> datetime:
    return datetime.now(UTC)

"""Migrations from an empty database to the models, on SQLite and PostgreSQL, and back."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from etiquette.service.core import db
from etiquette.service.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    cluster = request.getfixturevalue("postgres")
    return cluster.create_database("etiquette_migrations").replace("postgresql://", "postgresql+psycopg://")


def test_upgrade_from_empty_gives_exactly_the_models(empty_url: str) -> None:
    engine = db.make_engine(empty_url)
    try:
        assert inspect(engine).get_table_names() == []
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": db.in_models})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
        db.upgrade(engine)  # a second start changes nothing
        db.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()

"""A periodic job's rounds, claimed in the database (services/jobs.py), on SQLite and
PostgreSQL: a round is run by whoever claims it first, not again before its interval, and a
round its process left unfinished (it died in it) is claimed again once its lease is over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from etiquette.service.core import db
from etiquette.service.services import jobs

from service.conftest import PostgresCluster


@pytest.fixture(params=["sqlite", "postgresql"])
def session(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Session]:
    if request.param == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.create_database("etiquette_jobs").replace("postgresql://",
                                                                "postgresql+psycopg://")
    else:
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


def test_a_round_is_claimed_once_then_again_after_its_interval(session: Session) -> None:
    t0 = db.utcnow()

    def claim(who: str, after_s: float) -> int | None:
        return jobs.claim(session=session, name="purge", who=who,
                          now=t0 + timedelta(seconds=after_s), interval_s=60, lease_s=120)

    assert claim("a:1", 0) == 1
    assert claim("b:2", 0) is None  # the same round: another process's
    jobs.finish(session=session, name="purge", runs=1, now=t0 + timedelta(seconds=1))
    assert claim("b:2", 59) is None  # not due before its interval
    assert claim("b:2", 60) == 2
    assert claim("a:1", 60) is None


def test_a_round_left_unfinished_is_taken_over_after_its_lease(session: Session) -> None:
    t0 = db.utcnow()

    def claim(who: str, after_s: float) -> int | None:
        return jobs.claim(session=session, name="purge", who=who,
                          now=t0 + timedelta(seconds=after_s), interval_s=60, lease_s=120)

    assert claim("a:1", 0) == 1  # and a:1 dies in it: never finished
    assert claim("b:2", 60) is None  # due, but perhaps still running
    assert claim("b:2", 120) == 2
    assert jobs.next_due_s(session=session, name="purge", now=t0 + timedelta(seconds=150),
                           interval_s=60) == pytest.approx(30)

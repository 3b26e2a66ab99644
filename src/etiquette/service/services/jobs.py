"""Periodic jobs that run once per round however many service processes share the database.

`etiquette serve --workers N` starts N processes, each with its own jobs. A round of a job is
claimed in its row of `job_rounds` by one conditional UPDATE: the round before it started at
least `interval_s` ago and has finished (or was left unfinished for `lease_s`: its process
died in it). The database lets exactly one process's UPDATE match, on PostgreSQL (row lock,
the condition read again after the wait) and on SQLite (one writer) alike; the others wait
for the next round. A process that dies hands over without anyone noticing: the survivors
claim the next round as they would have. Processes of one service run on one host (or hosts
whose clocks agree), since each compares the row with its own clock.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from etiquette.service.core.db import utcnow
from etiquette.service.models import JobRound

logger = logging.getLogger("etiquette.service.jobs")


def holder() -> str:
    """Who runs a round, as the row and the log name it: this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(*, session: Session, name: str, who: str, now: datetime, interval_s: float,
          lease_s: float) -> int | None:
    """The number of the round of job `name` that `who` now runs, or None when it is not due
    or another process has it. Commits."""
    if session.get(JobRound, name) is None:
        session.add(JobRound(name=name, runs=1, holder=who, started_at=now))
        try:
            session.commit()
        except IntegrityError:  # another process made the row, and runs its first round
            session.rollback()
            return None
        return 1
    runs = session.execute(
        update(JobRound)
        .where(JobRound.name == name,
               JobRound.started_at <= now - timedelta(seconds=interval_s),
               or_(JobRound.finished_at.is_not(None),
                   JobRound.started_at <= now - timedelta(seconds=lease_s)))
        .values(runs=JobRound.runs + 1, holder=who, started_at=now, finished_at=None)
        .returning(JobRound.runs)).scalar_one_or_none()
    session.commit()
    return runs


def finish(*, session: Session, name: str, runs: int, now: datetime) -> None:
    """Round `runs` of `name` is over (unless the row has moved past it). Commits."""
    session.execute(update(JobRound).where(JobRound.name == name, JobRound.runs == runs)
                    .values(finished_at=now))
    session.commit()


def next_due_s(*, session: Session, name: str, now: datetime, interval_s: float) -> float:
    """Seconds until the job's next round is due; a round overdue (one running long, or a dead
    process's) is looked at again a tenth of the interval later."""
    row = session.get(JobRound, name, populate_existing=True)
    if row is None:
        return 0.0
    due = (row.started_at + timedelta(seconds=interval_s) - now).total_seconds()
    return due if due > 0 else interval_s / 10


class PeriodicJob(threading.Thread):
    """Runs `work` in each round of `name` this process claims, every `interval_s`, until
    stopped. A round left unfinished for `lease_s` (twice the interval unless given) is taken
    as its process's death and claimed again."""

    def __init__(self, name: str, factory: sessionmaker[Session], interval_s: float,
                 work: Callable[[Session], object], lease_s: float | None = None) -> None:
        super().__init__(name=f"etiquette-{name}", daemon=True)
        self.job, self._factory, self._work = name, factory, work
        self._interval_s = interval_s
        self._lease_s = lease_s if lease_s is not None else 2 * interval_s
        self.stop_event = threading.Event()
        self.runs = 0  # rounds this process ran

    def run(self) -> None:
        who = holder()
        while not self.stop_event.is_set():
            wait = self._interval_s
            try:
                with self._factory() as session:
                    self.run_once(session, who)
                    wait = next_due_s(session=session, name=self.job, now=utcnow(),
                                      interval_s=self._interval_s)
            except Exception:  # noqa: BLE001 - the job must outlive a bad round; the next retries
                logger.exception("%s round failed", self.job)
            self.stop_event.wait(wait)

    def run_once(self, session: Session, who: str) -> int | None:
        """Claims and runs the round if it is due; returns its number (None: not ours)."""
        number = claim(session=session, name=self.job, who=who, now=utcnow(),
                       interval_s=self._interval_s, lease_s=self._lease_s)
        if number is None:
            return None
        logger.info("%s: round %d on %s", self.job, number, who)
        try:
            self._work(session)
        finally:  # a failed round is over too: the next is due an interval after it started
            session.rollback()
            finish(session=session, name=self.job, runs=number, now=utcnow())
        self.runs += 1
        return number

    def stop(self) -> None:
        self.stop_event.set()

"""Database tables (SQLAlchemy 2 ORM). Column names are the JSON names of the records.

`window_id` is the pipeline's window id (a string, `Window.code`), as in every incident
line; the integer key of a `Window` row is `window_pk` where another table points at it.
Users are never deleted, only deactivated, so the audit log always names a real account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Center(Base):
    __tablename__ = "centers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))

    windows: Mapped[list[Window]] = relationship(back_populates="center")


class Window(Base):
    __tablename__ = "windows"
    __table_args__ = (UniqueConstraint("center_id", "code", name="uq_windows_center_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), index=True)  # the pipeline's window_id
    number: Mapped[str] = mapped_column(String(32))  # 窗口号 shown to citizens
    department: Mapped[str] = mapped_column(String(200), default="")  # 进驻部门
    business_category: Mapped[str] = mapped_column(String(200), default="")  # 业务类别
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    center: Mapped[Center] = relationship(back_populates="windows")


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(64), unique=True)  # 工号
    name: Mapped[str] = mapped_column(String(100))
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"), index=True)
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    photo_media_type: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def has_photo(self) -> bool:
        return self.photo_sha256 is not None


class Assignment(Base):
    """Who staffed which window when: [start_at, end_at), end_at None = still there."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_window_time", "window_pk", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    window_pk: Mapped[int] = mapped_column(ForeignKey("windows.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]


# The master data an administrator edits through one set of routes (api/routes/_master.py).
MasterRow = Center | Window | Staff | Assignment


# The centers a user is limited to (etiquette.service.services.access); none: every center.
user_centers = Table(
    "user_centers", Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("center_id", ForeignKey("centers.id", ondelete="CASCADE"), primary_key=True,
           index=True))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # etiquette.service.schemas.Role
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # role staff: who they are
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    centers: Mapped[list[Center]] = relationship(secondary=user_centers, order_by=Center.id)

    @property
    def center_ids(self) -> list[int]:
        return [c.id for c in self.centers]


class UserSession(Base):
    """A login: the cookie holds a random token, the table only its sha256."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Failed logins counted for throttling (etiquette.service.services.throttle): one row per
    user name and address (`scope` "pair"), per address ("address", `username` ""), and per
    user name ("account", `ip` "", `failures` counting the addresses that failed for it).
    `ip` is the address as counted: an IPv6 address's /64."""

    __tablename__ = "login_throttles"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[datetime | None]  # no attempt is checked before then
    failed_at: Mapped[datetime | None]
    succeeded_at: Mapped[datetime | None]  # pairs: this address logged in as this user then
    # Attempts refused while waiting, since the last audit entry that told of them (audited_at).
    refused: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    audited_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class ApiKey(Base):
    """A pipeline's key: `etq_<prefix>_<secret>`; only the secret's sha256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Written at most once a minute (services/auth.py), so that ingest does not write for it.
    last_used_at: Mapped[datetime | None]


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_status_at", "status", "at"),
                      Index("ix_incidents_kind_rule", "kind", "rule_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    window_id: Mapped[str] = mapped_column(String(64), index=True)
    window_pk: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_name: Mapped[str] = mapped_column(String(200))
    phrase: Mapped[str | None] = mapped_column(String(500))
    speaker: Mapped[str] = mapped_column(String(16))
    offset_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime | None] = mapped_column(index=True)
    transcript: Mapped[str] = mapped_column(Text)
    hit_start: Mapped[int | None] = mapped_column(Integer)
    hit_end: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    deduction: Mapped[float] = mapped_column(Float)
    explanation: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))  # what was ingested, for idempotency
    received_at: Mapped[datetime] = mapped_column(index=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    # Review: pending → confirmed | dismissed; confirmed → appealed → confirmed | dismissed.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    appeal_reason: Mapped[str | None] = mapped_column(Text)
    appealed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    appealed_at: Mapped[datetime | None]
    appeal_decision: Mapped[str | None] = mapped_column(String(16))  # accepted | rejected
    appeal_decision_reason: Mapped[str | None] = mapped_column(Text)
    appeal_decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    appeal_decided_at: Mapped[datetime | None]
    evidence_purged_at: Mapped[datetime | None]
    # The service session (ServiceSession.id) the incident happened in: set at ingest by its
    # window and time, or when that session's record arrives naming it. No foreign key: either
    # may arrive first, and both are kept as they came.
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)

    evidence: Mapped[list[Evidence]] = relationship(back_populates="incident",
                                                    order_by="Evidence.role")
    window: Mapped[Window | None] = relationship()
    staff: Mapped[Staff | None] = relationship()
    center: Mapped[Center | None] = relationship()


class Evidence(Base):
    """One file of an incident by role (clip, snapshot, empty_seat, last_seen); the bytes live
    in the evidence store under their sha256, never under a name a request chose."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("incident_id", "role", name="uq_evidence_incident_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    media_type: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    purged_at: Mapped[datetime | None]

    incident: Mapped[Incident] = relationship(back_populates="evidence")


class ServiceSession(Base):
    """One service session at a window (a citizen served, first to last speech): who served,
    when, how long each side spoke, which checks it passed and failed, the 叫号 ticket where
    live knew it, and its utterances for the timeline. Posted by the pipeline (batch: one per
    recording; live: one per session when it is judged), stored once by its deterministic id."""

    __tablename__ = "service_sessions"
    __table_args__ = (Index("ix_service_sessions_window_start", "window_pk", "start_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    window_id: Mapped[str] = mapped_column(String(64), index=True)
    window_pk: Mapped[int | None] = mapped_column(ForeignKey("windows.id"))
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    start_at: Mapped[datetime] = mapped_column(index=True)
    end_at: Mapped[datetime]
    offset_s: Mapped[float] = mapped_column(Float)  # within `source`
    end_s: Mapped[float] = mapped_column(Float)
    ticket: Mapped[str | None] = mapped_column(String(32))  # 叫号: the number called
    staff_talk_s: Mapped[float] = mapped_column(Float)
    citizen_talk_s: Mapped[float] = mapped_column(Float)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # schemas.SessionCheck
    turns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # schemas.SessionTurn
    incident_ids: Mapped[list[str]] = mapped_column(JSON)  # as the pipeline sent them
    content_sha256: Mapped[str] = mapped_column(String(64))  # what was ingested, for idempotency
    received_at: Mapped[datetime]
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    # When the retention purge erased the utterances' text (personal data); the facts stay.
    words_purged_at: Mapped[datetime | None]

    window: Mapped[Window | None] = relationship()
    staff: Mapped[Staff | None] = relationship()
    center: Mapped[Center | None] = relationship()


class RuleVersion(Base):
    """One saved rule set (the YAML of rules/appendix_b.yaml as an admin edited it). Versions
    are only ever added; the one with the highest id is in force. Version 1 is seeded from the
    bundled rules file at the first start."""

    __tablename__ = "rule_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1, 2, 3…
    yaml: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64))  # the rule set's own `version:` label
    sha256: Mapped[str] = mapped_column(String(64))  # of `yaml`, for clients that poll
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))  # as the audit log writes the actor
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ScoringVersion(Base):
    """One saved scoring scheme (the YAML of rules/scoring.yaml) and the month it takes effect.
    A month is scored by the version with the latest `effective_from` not after it (the highest
    id among equals). Versions are only added, never from a month already past, so a month
    once over is never rescored by a later change. Version 1 (effective 2000-01) is seeded from
    the bundled file at the first start."""

    __tablename__ = "scoring_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # 1, 2, 3…
    yaml: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64))  # the scheme's own `version:` label
    effective_from: Mapped[str] = mapped_column(String(7), index=True)  # "YYYY-MM", local month
    sha256: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Commendation(Base):
    """A commendation of a window (and, where named, its staff member) that a supervisor
    records: a citizen's written praise, a banner, a press report. It adds the scheme's bonus
    points to the month of `at` (local time)."""

    __tablename__ = "commendations"
    __table_args__ = (Index("ix_commendations_window_at", "window_pk", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    window_pk: Mapped[int] = mapped_column(ForeignKey("windows.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    window: Mapped[Window] = relationship()
    staff: Mapped[Staff | None] = relationship()


class Rating(Base):
    """A citizen's 好差评 posted by the hall's evaluation device (评价器) with its center's key,
    stored once by the device's own id. `session_id` is the service session it rates
    (ServiceSession.id: by ticket, else by time at its window), None while none matches; no
    foreign key, as for incidents: the session's record may arrive after the rating."""

    __tablename__ = "ratings"
    __table_args__ = (Index("ix_ratings_window_at", "window_pk", "at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the device's, a UUID
    window_id: Mapped[str] = mapped_column(String(64))  # the code as the device sent it
    window_pk: Mapped[int] = mapped_column(ForeignKey("windows.id"))
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # on duty at `at`
    at: Mapped[datetime] = mapped_column(index=True)
    ticket: Mapped[str | None] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(24))  # schemas.RatingLevel
    comment: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    content_sha256: Mapped[str] = mapped_column(String(64))  # a retry's content is the same
    received_at: Mapped[datetime]
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))

    window: Mapped[Window] = relationship()


class Complaint(Base):
    """A citizen's complaint (§九(四): 现场、电话、网络投诉 registered, handled, answered) about a
    window at a time. Its status is pending until a handler is assigned (handling), answered
    once replied; overdue is not stored but read: not answered by `deadline`."""

    __tablename__ = "complaints"
    __table_args__ = (Index("ix_complaints_window_at", "window_pk", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    window_pk: Mapped[int] = mapped_column(ForeignKey("windows.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)  # on duty
    channel: Mapped[str] = mapped_column(String(16))  # schemas.ComplaintChannel
    at: Mapped[datetime]  # when the service complained of happened
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|handling|answered
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deadline: Mapped[datetime] = mapped_column(index=True)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    window: Mapped[Window] = relationship()
    staff: Mapped[Staff | None] = relationship()
    handler: Mapped[User | None] = relationship(foreign_keys=[handler_id])


class Webhook(Base):
    """Where the service POSTs matching incidents as they arrive (admins configure it). The
    secret signs each body (HMAC-SHA256); it must be kept in clear to sign with, and is shown
    to the admin once, when the webhook is created."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every kind
    severities: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every severity
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(120))


class WebhookDelivery(Base):
    """One incident to send to one webhook: written in the ingest transaction (so none is
    lost), sent by the delivery job, retried with back-off until delivered or failed."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "incident_id", name="uq_delivery_webhook_incident"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    incident_id: Mapped[str] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class WindowHeartbeat(Base):
    """The latest heartbeat of a window from its live site (大厅态势): one row per window,
    replaced at each beat, not a log. `state` is the window's state as the site's /health
    shows it; `seat_since` is when the seat last changed (or beats resumed after a gap)."""

    __tablename__ = "window_heartbeats"

    window_pk: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"),
                                           primary_key=True, autoincrement=False)
    received_at: Mapped[datetime]
    interval_s: Mapped[float] = mapped_column(Float)  # the site's; staleness counts in beats
    state: Mapped[dict[str, Any]]
    seat: Mapped[str | None] = mapped_column(String(16))
    seat_since: Mapped[datetime | None]
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))


class PracticeAttempt(Base):
    """One recording a staff member made on the practice page, and what the matcher heard.
    The audio itself is not kept: the history is for the person's progress, not evidence."""

    __tablename__ = "practice_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    phrase: Mapped[str] = mapped_column(String(500))
    transcript: Mapped[str] = mapped_column(Text)
    recognised: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    missed: Mapped[list[str]] = mapped_column(JSON, default=list)  # phrase words not heard
    duration_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what when, with the record before and after. Written in the same transaction as
    the change it describes, so a change without its entry cannot exist."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # "user:alice", "pipeline:window-12", "system:retention"
    actor: Mapped[str] = mapped_column(String(120))
    user_id: Mapped[int | None] = mapped_column(Integer)
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class JobRound(Base):
    """The latest round of a periodic job (etiquette.service.services.jobs): whichever service
    process claims it first runs it, so that a job runs once per round however many processes
    share the database."""

    __tablename__ = "job_rounds"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)  # rounds claimed so far; the latest one's number
    holder: Mapped[str] = mapped_column(String(120))  # "host:pid" of the process that ran it
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]  # None while it runs (or its process died in it)

"""Service settings: one typed object, read from ETIQUETTE_* environment variables or given whole.

There is no secret here on purpose: sessions are random server-side tokens and API keys are
random too, both stored only as hashes, so nothing must be configured before the first start.
"""

from __future__ import annotations

import ipaddress
import math
import os
from pathlib import Path

from pydantic import Field, computed_field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from etiquette.core.records import IncidentKind
from etiquette.service.schemas import EvidenceRole

# What a multipart body holds besides its files: boundaries, part headers, short fields.
FORM_BYTES = 64 * 1024
# The incident line of an ingest post (Starlette parses a text field of at most 1 MiB).
INCIDENT_LINE_BYTES = 1024 * 1024
# A second of 48 kHz stereo float32 WAV, the most a second of recording takes (opus: ~4 kB).
RECORDING_BYTES_PER_S = 48_000 * 2 * 4


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "etiquette"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ETIQUETTE_", extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="SQLite database (by default) and the evidence store")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/etiquette.db. "
                          "postgresql://user@host/db is accepted and uses psycopg 3")
    rules_path: Path | None = Field(None, description="rules file that becomes version 1 of the "
                                                      "rules at the first start (default "
                                                      "rules/appendix_b.yaml); admins edit "
                                                      "them in the service after that")
    scoring_path: Path | None = Field(None, description="scoring scheme that becomes version 1 "
                                                        "at the first start (default "
                                                        "rules/scoring.yaml)")
    display_timezone: str = Field("Asia/Shanghai", description="times shown in the workbench; "
                                                               "months of the reports are local "
                                                               "months of this zone")
    # Sessions and login.
    session_hours: float = Field(12.0, gt=0, le=24 * 30)
    cookie_secure: bool = Field(False, description="set behind HTTPS so cookies never go in clear")
    # Login throttling (etiquette.service.services.throttle): past each allowance every further
    # failure makes the next attempt wait login_delay_s, doubled per failure up to
    # login_max_delay_s; an attempt that comes sooner is answered 429 without being checked.
    login_max_failures: int = Field(5, ge=1, description="failed logins of one user name from "
                                                         "one address before attempts wait")
    login_max_failures_per_ip: int = Field(20, ge=1, description="failed logins from one address, "
                                                                 "any user names, before its "
                                                                 "attempts wait")
    login_max_addresses_per_user: int = Field(
        10, ge=1, description="addresses failing for one user name before attempts from "
                              "addresses it has not logged in from lately wait")
    login_delay_s: float = Field(1.0, gt=0, le=3600, description="the first wait")
    login_max_delay_s: float = Field(900.0, gt=0, le=86400, description="the longest wait")
    login_window_s: int = Field(86400, ge=1, description="failures are forgotten after this long "
                                                         "without a new one (longer than "
                                                         "login_max_delay_s)")
    trusted_proxies: list[str] = Field(
        default_factory=list, description="addresses or networks (10.0.0.0/8) of the reverse "
                                          "proxies in front of the service: only their "
                                          "X-Forwarded-For and X-Forwarded-Proto are believed")
    # Ingest limits.
    max_evidence_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="per evidence file")
    max_evidence_files: int = Field(6, ge=1)
    decode_concurrency: int = Field(4, ge=1, le=64,
                                    description="uploads (an incident's evidence files, a staff "
                                                "photo) decoded at once by one service process; "
                                                "an image of up to 40 megapixels holds up to "
                                                "320 MB while decoded. Eight more per slot may "
                                                "wait decode_wait_s for one; any other is "
                                                "answered 429 with Retry-After")
    decode_wait_s: float = Field(5.0, ge=0, le=60,
                                 description="how long an upload waits for a decoding slot")
    # Request bodies, bounded before they are read (etiquette.service.api.limits): a body larger
    # than its route's limit is answered 413 from its Content-Length, or, sent without one, as
    # soon as it runs over. The uploads (ingest, practice, import, a staff photo) check the
    # caller's key or session first and read nothing of an unauthenticated body. Ingest's limit
    # is max_evidence_bytes for each evidence part it takes plus the incident line; a photo's
    # max_evidence_bytes; practice's follows practice_max_s.
    max_import_bytes: int = Field(5 * 1024 * 1024, ge=1024,
                                  description="a master-data import file (YAML or CSV)")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024,
                                description="any other request body (JSON, the workbench's "
                                            "forms)")
    # Personal data: how long evidence is kept, per incident kind, and the appeal window.
    retention_days: dict[IncidentKind, float] = Field(
        default_factory=lambda: {IncidentKind.FORBIDDEN_PHRASE: 90.0,
                                 IncidentKind.MISSING_GREETING: 90.0,
                                 IncidentKind.MISSING_FAREWELL: 90.0,
                                 IncidentKind.OFF_POST: 30.0,
                                 IncidentKind.ASLEEP_AT_POST: 30.0,  # camera snapshots,
                                 IncidentKind.GATHERING: 30.0,  # as 离岗's
                                 IncidentKind.UNANSWERED_QUESTION: 90.0,
                                 IncidentKind.INTERRUPTION: 90.0,
                                 IncidentKind.FAST_SPEECH: 90.0,
                                 IncidentKind.RAISED_VOICE: 90.0,
                                 IncidentKind.NON_MANDARIN: 90.0,
                                 IncidentKind.MISSING_APOLOGY: 90.0})
    session_words_retention_days: float = Field(
        90.0, gt=0, description="a service session's utterances' text is erased this many days "
                                "after it ended (its facts stay), unless an unanswered "
                                "complaint or an open appeal still refers to it")
    undo_window_s: float = Field(300.0, ge=0, le=86400,
                                 description="a reviewer may undo their own confirm or dismiss "
                                             "this long after it")
    queue_poll_s: float = Field(10.0, gt=0, le=600,
                                description="how often an open page asks for the queue's "
                                            "counts and the list for new incidents")
    appeal_window_days: float = Field(15.0, ge=0,
                                      description="staff may appeal this long after "
                                                  "confirmation; evidence is kept until then")
    retention_interval_s: float = Field(3600.0, gt=0, description="how often the purge job runs")
    orphan_grace_s: float = Field(3600.0, ge=0, description="unreferenced evidence files older "
                                                            "than this are removed")
    run_retention_job: bool = True
    # 好差评 and complaints.
    complaint_reply_days: float = Field(5.0, gt=0, le=365,
                                        description="a complaint is to be answered this many days "
                                                    "after it is registered; unanswered after "
                                                    "that it is overdue (逾期)")
    rating_session_gap_s: float = Field(600.0, ge=0, le=86400,
                                        description="a rating without a matching ticket rates the "
                                                    "session at its window that holds its time, "
                                                    "or the last one that ended at most this long "
                                                    "before it")
    complaint_match_s: float = Field(1800.0, gt=0, le=86400,
                                     description="a complaint's sessions are those at its window "
                                                 "within this long either side of its time")
    # Alerts: the workbench's event stream polls the database (so it sees what any service
    # process ingested); webhooks are sent by a job, retried after these delays.
    alert_poll_s: float = Field(1.0, gt=0, le=60)
    # The hall (大厅态势): each live site sends every window's state every few seconds.
    hall_stale_beats: float = Field(3.0, ge=1, le=100,
                                    description="a window whose site sent no beat for this many "
                                                "of its beat intervals is shown 心跳中断")
    hall_refresh_s: float = Field(2.0, gt=0, le=60, description="how often the hall page's "
                                                                "stream recomputes the hall")
    webhook_backoff_s: list[float] = Field(
        default_factory=lambda: [5.0, 30.0, 120.0, 600.0, 1800.0], min_length=1, max_length=20,
        description="delay before each retry; the attempt after the last delay that fails fails "
                    "the delivery")
    webhook_timeout_s: float = Field(10.0, gt=0, le=120)
    webhook_poll_s: float = Field(2.0, gt=0, le=600, description="how often the job looks for "
                                                                  "deliveries due")
    run_webhook_job: bool = True
    # Staff self-training: the recogniser is loaded at the first practice attempt, never at start.
    practice_model: str = Field("whisper-base",
                                description="a name in models/manifest.yaml, a "
                                            "faster-whisper model directory or name")
    models_dir: Path | None = Field(None,
                                    description="where manifest models live (default models/)")
    practice_threads: int = Field(0, ge=0, le=64, description="CPU threads of the practice "
                                                               "recogniser (0: automatic)")
    practice_max_s: float = Field(20.0, gt=0, le=60, description="longest practice recording")
    practice_concurrency: int = Field(2, ge=1, le=64,
                                      description="practice recordings decoded and recognised at "
                                                  "once by one service process; one more is "
                                                  "answered 429 with Retry-After, not queued")

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str | None) -> str | None:
        """postgresql:// and postgres:// mean psycopg 3, the driver we install."""
        if url is None:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        if not url.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("database_url must be sqlite:///FILE or postgresql://…")
        return url

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, entries: list[str]) -> list[str]:
        """A proxy that is not an address or network fails the start, not every request."""
        for entry in entries:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as e:
                raise ValueError(f"trusted_proxies: {entry!r} is not an address or network "
                                 "(10.0.0.5, 10.0.0.0/8, fd00::/8)") from e
        return entries

    @model_validator(mode="after")
    def _every_kind_has_a_retention(self) -> Settings:
        missing = [k.value for k in IncidentKind if k not in self.retention_days]
        if missing:
            raise ValueError(f"retention_days lacks: {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _failures_outlive_the_longest_wait(self) -> Settings:
        if self.login_window_s <= self.login_max_delay_s:
            raise ValueError("login_window_s must be longer than login_max_delay_s")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'etiquette.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def ingest_max_body_bytes(self) -> int:
        """An incident post: each evidence part the route takes (one per role, at most
        max_evidence_files) at its limit, the incident line, the parts' headers."""
        files = min(self.max_evidence_files, len(EvidenceRole))
        return self.max_evidence_bytes * files + INCIDENT_LINE_BYTES + FORM_BYTES

    @property
    def practice_max_recording_bytes(self) -> int:
        """The largest file practice_max_s seconds of recording make (48 kHz stereo float32
        WAV; a browser's opus is a hundredth of it)."""
        return math.ceil(self.practice_max_s * RECORDING_BYTES_PER_S)

    @property
    def practice_max_body_bytes(self) -> int:
        return self.practice_max_recording_bytes + FORM_BYTES

    @property
    def import_max_body_bytes(self) -> int:
        return self.max_import_bytes + FORM_BYTES

    @property
    def photo_max_body_bytes(self) -> int:
        """A staff photo: one image part of max_evidence_bytes."""
        return self.max_evidence_bytes + FORM_BYTES

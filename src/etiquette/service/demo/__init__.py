"""The README's demo: the sample incidents in a fresh service, a demo admin with a random
password."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.orm import Session

from etiquette.core.session_records import SESSION_RECORD
from etiquette.service.core import security
from etiquette.service.core.config import Settings
from etiquette.service.core.db import make_engine, make_sessionmaker
from etiquette.service.crud import audit, master
from etiquette.service.crud import users as crud_users
from etiquette.service.errors import ServiceError
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.main import prestart
from etiquette.service.schemas import ApiKeyCreate, EvidenceRole, IncidentIn, SessionIn
from etiquette.service.services import ingest, masterdata, sessions, users
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.slots import DecodeSlots

logger = logging.getLogger("etiquette.service.demo")

MASTERDATA = Path(__file__).resolve().parent / "masterdata.yaml"
DEMO_ADMIN = "demo-admin"
DEMO_CENTER = "demo"  # the center of masterdata.yaml
DEMO = Principal(label="system:demo", grants=frozenset(Permission))


@dataclass
class LoadReport:
    created: int = 0
    already: int = 0
    failed: list[str] = field(default_factory=list)
    sessions: int = 0  # service sessions stored (new or already there)


def load_jsonl(*, session: Session, settings: Settings, store: EvidenceStore, principal: Principal,
               path: Path) -> LoadReport:
    """Ingest an `etiquette batch` JSONL file (evidence read from the paths in each line; its
    sessions' lines as sessions) through the same validation and storage as the HTTP ingest."""
    report = LoadReport()
    slots = DecodeSlots(1, 0.0)  # one line at a time
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if record.get("kind") == "error":
                continue
            if record.get("kind") == SESSION_RECORD:
                sessions.ingest(session=session, settings=settings, principal=principal,
                                record=SessionIn.model_validate(record))
                report.sessions += 1
                continue
            evidence = record.pop("evidence", None) or {}
            uploads = [ingest.Upload(role=EvidenceRole(role), data=Path(p).read_bytes())
                       for role, p in evidence.items()]
            incident = IncidentIn.model_validate(record)
            _, created = ingest.ingest(session=session, settings=settings, store=store,
                                       slots=slots, principal=principal, incident=incident,
                                       uploads=uploads)
        except (ValueError, ValidationError, OSError, ServiceError) as e:
            session.rollback()
            report.failed.append(f"{path}:{number}: {e}")
            continue
        if created:
            report.created += 1
        else:
            report.already += 1
    return report


def demo_admin(session: Session) -> tuple[str, str]:
    """(user name, a new random password): created, or its password replaced on each demo run."""
    password = secrets.token_urlsafe(12)
    user = crud_users.user_by_username(session=session, username=DEMO_ADMIN)
    if user is None:
        users.create_admin(session=session, principal=DEMO, username=DEMO_ADMIN, password=password,
                           display_name="演示管理员")
    else:
        user.password_hash = security.hash_password(password)
        user.active = True
        crud_users.delete_sessions_of(session=session, user_id=user.id)
        audit.record(session=session, actor=DEMO, action="user.password", target_type="user",
                     target_id=str(user.id), after={"password": "changed"})
        session.commit()
    return DEMO_ADMIN, password


def _import_masterdata(session: Session) -> None:
    masterdata.import_file(session=session, principal=DEMO,
                           data=masterdata.parse_yaml(MASTERDATA.read_text(encoding="utf-8")))


def prepare(settings: Settings, incidents: Path) -> tuple[LoadReport, str, str]:
    engine = make_engine(settings.sqlalchemy_url)
    try:
        prestart(settings, engine)
        store = EvidenceStore(settings.evidence_dir)
        with make_sessionmaker(engine)() as session:
            _import_masterdata(session)
            report = load_jsonl(session=session, settings=settings, store=store, principal=DEMO,
                                path=incidents)
            username, password = demo_admin(session)
    finally:
        engine.dispose()
    return report, username, password


def prepare_live(settings: Settings) -> tuple[str, str, str]:
    """A fresh service for the live demo: (demo admin, its new password, a new pipeline key
    for the demo center, which the live site posts its incidents with)."""
    engine = make_engine(settings.sqlalchemy_url)
    try:
        prestart(settings, engine)
        with make_sessionmaker(engine)() as session:
            _import_masterdata(session)
            username, password = demo_admin(session)
            center = master.center_by_code(session=session, code=DEMO_CENTER)
            name = f"demo-live-{datetime.now(UTC):%Y%m%d%H%M%S}"
            _, key = users.create_api_key(session=session, principal=DEMO, key_in=ApiKeyCreate(
                name=name, center_id=center.id if center else None))
    finally:
        engine.dispose()
    return username, password, key

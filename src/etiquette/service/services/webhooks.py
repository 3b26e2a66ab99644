"""Webhooks: admins name a URL and which incidents (kinds, severities) it wants; each matching
incident is POSTed there as JSON, signed, retried, never in the way of ingest.

Ingest only adds a delivery row in its own transaction (so a crash loses none); the delivery
job sends it. A request carries

    X-Etiquette-Event: incident
    X-Etiquette-Delivery: <delivery id>          (the same on every retry: receivers dedupe by it)
    X-Etiquette-Timestamp: <unix seconds>
    X-Etiquette-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the secret>

A 2xx answer delivers it; anything else (or no answer within the timeout) is retried after
the delays of `webhook_backoff_s`, then the delivery fails: logged and audited.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from etiquette import __version__
from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.errors import Invalid, NotFound
from etiquette.service.models import Incident, Webhook, WebhookDelivery
from etiquette.service.schemas import WebhookCreate, WebhookUpdate
from etiquette.service.services.access import SYSTEM_WEBHOOKS, Permission, Principal
from etiquette.service.services.alerts import payload

logger = logging.getLogger("etiquette.service.webhooks")
LEASE = timedelta(minutes=5)  # a claimed delivery is not claimed again before this


def _public(hook: Webhook) -> dict[str, Any]:
    return {"name": hook.name, "url": hook.url, "kinds": list(hook.kinds),
            "severities": list(hook.severities), "active": hook.active}


def check_url(url: str) -> None:
    """Raises Invalid for a URL the HTTP client could not send to."""
    try:
        parsed = httpx.URL(url)
    except Exception as e:  # noqa: BLE001 - httpx.InvalidURL and the errors of idna alike
        raise Invalid(f"url: not a valid URL: {e}") from e
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Invalid("url: an http(s) URL with a host is needed")


def create(*, session: Session, principal: Principal, body: WebhookCreate) -> Webhook:
    principal.require(Permission.WEBHOOKS_ADMIN)
    check_url(body.url)
    hook = Webhook(name=body.name, url=body.url, secret=secrets.token_urlsafe(32),
                   kinds=[k.value for k in body.kinds],
                   severities=[s.value for s in body.severities],
                   active=body.active, created_at=utcnow(), created_by=principal.label)
    return audit.created(session=session, actor=principal, target_type="webhook", row=hook,
                         after=_public)  # never the secret


def update(*, session: Session, principal: Principal, webhook_id: int,
           body: WebhookUpdate) -> Webhook:
    principal.require(Permission.WEBHOOKS_ADMIN)
    hook = get(session=session, webhook_id=webhook_id)
    if body.url is not None:
        check_url(body.url)
    before = _public(hook)
    for key, value in body.model_dump(exclude_unset=True, mode="json").items():
        if value is not None:
            setattr(hook, key, value)
    after = _public(hook)
    changed = [k for k in before if before[k] != after[k]]
    audit.record(session=session, actor=principal, action="webhook.update", target_type="webhook",
                 target_id=str(hook.id), before={k: before[k] for k in changed},
                 after={k: after[k] for k in changed})
    session.commit()
    return hook


def get(*, session: Session, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"no webhook {webhook_id}")
    return hook


def list_webhooks(*, session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.id)).all())


def deliveries(*, session: Session, webhook_id: int, offset: int = 0, limit: int = 100
               ) -> tuple[list[WebhookDelivery], int]:
    get(session=session, webhook_id=webhook_id)
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(WebhookDelivery.id.desc()).offset(offset).limit(limit)).all()
    return list(rows), count


def matches(hook: Webhook, incident: Incident) -> bool:
    return (hook.active and (not hook.kinds or incident.kind in hook.kinds)
            and (not hook.severities or incident.severity in hook.severities))


def enqueue(*, session: Session, incident: Incident) -> int:
    """Deliveries of a new incident to every matching webhook, in the caller's transaction."""
    hooks = [h for h in session.scalars(select(Webhook).where(Webhook.active.is_(True))).all()
             if matches(h, incident)]
    if not hooks:
        return 0
    session.flush()  # the payload reads the incident's window and center
    now = utcnow()
    for hook in hooks:
        session.add(WebhookDelivery(webhook_id=hook.id, incident_id=incident.id,
                                    payload={"event": "incident", "incident": payload(incident)},
                                    status="pending", attempts=0, next_attempt_at=now,
                                    created_at=now))
    return len(hooks)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _claim(session: Session, now: datetime, limit: int) -> list[int]:
    """Due deliveries, leased to this job so that another process does not send them too."""
    query = (select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                           WebhookDelivery.next_attempt_at <= now)
             .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query).all())
    for row in rows:
        row.next_attempt_at = now + LEASE
    session.commit()
    return [r.id for r in rows]


def send(*, session: Session, settings: Settings, client: httpx.Client, delivery_id: int) -> str:
    """One attempt at one delivery; returns its status afterwards."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None or row.status != "pending":
        return row.status if row else "gone"
    hook = session.get(Webhook, row.webhook_id)
    assert hook is not None
    body = json.dumps({**row.payload, "delivery_id": row.id}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json; charset=utf-8",
               "User-Agent": f"etiquette/{__version__}", "X-Etiquette-Event": "incident",
               "X-Etiquette-Delivery": str(row.id), "X-Etiquette-Timestamp": timestamp,
               "X-Etiquette-Signature": signature(hook.secret, timestamp, body)}
    row.attempts += 1
    error, code = None, None
    try:
        response = client.post(hook.url, content=body, headers=headers,
                               timeout=settings.webhook_timeout_s)
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code}: {response.text[:200]}"
    except Exception as e:  # noqa: BLE001 - whatever the URL or peer does, it is this attempt's error
        error = f"{type(e).__name__}: {e}"[:500]
    row.last_status_code, row.last_error = code, error
    now = utcnow()
    if error is None:
        row.status, row.delivered_at = "delivered", now
    elif row.attempts > len(settings.webhook_backoff_s):
        row.status = "failed"
        logger.error("webhook %s (%s): delivery %s of incident %s failed for good after %d "
                     "attempts: %s", hook.id, hook.url, row.id, row.incident_id, row.attempts,
                     error)
        audit.record(session=session, actor=SYSTEM_WEBHOOKS, action="webhook.delivery_failed",
                     target_type="webhook", target_id=str(hook.id),
                     after={"delivery_id": row.id, "incident_id": row.incident_id,
                            "attempts": row.attempts, "error": error})
    else:
        delay = settings.webhook_backoff_s[row.attempts - 1]
        row.next_attempt_at = now + timedelta(seconds=delay)
        logger.warning("webhook %s (%s): delivery %s attempt %d failed, retry in %gs: %s",
                       hook.id, hook.url, row.id, row.attempts, delay, error)
    session.commit()
    return row.status


class WebhookJob(threading.Thread):
    """Sends due deliveries every `webhook_poll_s`, or at once when ingest wakes it."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(name="etiquette-webhooks", daemon=True)
        self._factory, self._settings = factory, settings
        self.stop_event = threading.Event()
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        with httpx.Client(follow_redirects=False) as client:
            while not self.stop_event.is_set():
                try:
                    self.run_once(client)
                except Exception:  # noqa: BLE001 - a bad round must not end the job
                    logger.exception("webhook round failed")
                self._wake.wait(self._settings.webhook_poll_s)
                self._wake.clear()

    def run_once(self, client: httpx.Client) -> None:
        while not self.stop_event.is_set():
            with self._factory() as session:
                try:
                    ids = _claim(session, utcnow(), 20)
                except IntegrityError:
                    session.rollback()
                    return
                if not ids:
                    return
                for delivery_id in ids:
                    send(session=session, settings=self._settings, client=client,
                         delivery_id=delivery_id)

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

"""好差评: the hall's evaluation device (评价器) posts each citizen's rating with its center's
pipeline key; the rating is stored once by the device's id and attached to the service session
it rates (crud.feedback.rated_session). A session's record may arrive after its rating (live
posts it when it is judged): a rating without a ticket is then first attached to the previous
citizen's session, if that one ended within the gap, or left unattached. So each session stored
matches the ratings of its window around its time again (reattach), and a rating moves to it
where it rates it better (its ticket, or its span holding the rating's time); the list still
tries the unattached ones when read (a rating and its session committed at the same moment)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit, master
from etiquette.service.crud import feedback as crud
from etiquette.service.crud import hall as hall_crud
from etiquette.service.errors import Forbidden, Invalid
from etiquette.service.labels import RATING_LEVEL_NAMES
from etiquette.service.models import Rating, ServiceSession
from etiquette.service.schemas import RatingIn, RatingLevel, RatingPublic, RatingResult
from etiquette.service.services.access import SYSTEM_RATINGS, Permission, Principal
from etiquette.service.services.stored_once import digest, store_once


def to_public(row: Rating) -> RatingPublic:
    return RatingPublic(id=row.id, window_pk=row.window_pk, window_id=row.window_id,
                        window_number=row.window.number, center=row.window.center.name,
                        at=row.at, ticket=row.ticket, level=RatingLevel(row.level),
                        level_name=RATING_LEVEL_NAMES[row.level], comment=row.comment,
                        session_id=row.session_id, received_at=row.received_at)


def record(*, session: Session, settings: Settings, principal: Principal,
           body: RatingIn) -> RatingResult:
    """Store one rating. The same id again with the same content is a retry (created false);
    with other content it is refused.

    Raises:
      Forbidden: not a pipeline key, or the window is another center's than the key's.
      Invalid: no window has this code.
      Conflict: this id is stored already with other content.
    """
    principal.require(Permission.RATE)
    content, rating_id = digest(body.model_dump(mode="json")), str(body.id)

    def create() -> Rating:
        key = principal.api_key
        center_id = key.center_id if key else None
        window = master.window_by_code(session=session, code=body.window_id, center_id=center_id)
        if window is None:
            if center_id is not None and hall_crud.code_elsewhere(
                    session=session, code=body.window_id, center_id=center_id):
                raise Forbidden(f"窗口 {body.window_id} 不属于本密钥的中心 (window "
                                f"{body.window_id} is another center's)")
            raise Invalid(f"没有编码为 {body.window_id} 的窗口 (no window {body.window_id})",
                          field="window_id")
        gap = timedelta(seconds=settings.rating_session_gap_s)
        rated = crud.rated_session(session=session, window_pk=window.id, at=body.at,
                                   ticket=body.ticket, gap=gap)
        row = Rating(id=rating_id, window_id=body.window_id, window_pk=window.id,
                     center_id=window.center_id,
                     staff_id=master.staff_on_duty(session=session, window_pk=window.id,
                                                   at=body.at),
                     at=body.at, ticket=body.ticket, level=body.level.value,
                     comment=body.comment, session_id=rated.id if rated else None,
                     content_sha256=content, received_at=utcnow(),
                     api_key_id=key.id if key else None)
        session.add(row)
        audit.record(session=session, actor=principal, action="rating.create",
                     target_type="rating", target_id=row.id,
                     after={"window_pk": window.id, "level": row.level, "ticket": row.ticket,
                            "session_id": row.session_id})
        return row

    row, created = store_once(
        session=session, content=content,
        stored=lambda: crud.get_rating(session=session, rating_id=rating_id), create=create,
        what=("评价", "rating"))
    return RatingResult(id=row.id, created=created, session_id=row.session_id)


def reattach(*, session: Session, settings: Settings, row: ServiceSession,
             actor: Principal) -> None:
    """Match again the ratings at a newly stored session's window from its start to the gap
    after its end, in the caller's transaction (rated_session prefers a ticket's session, so
    those attached by their ticket stay); each move audited as `actor`'s (the session's
    pipeline, whose record moved it)."""
    if row.window_pk is None:
        return
    gap = timedelta(seconds=settings.rating_session_gap_s)
    for rating in crud.ratings_near(session=session, window_pk=row.window_pk,
                                    start=row.start_at, end=row.end_at + gap):
        rated = crud.rated_session(session=session, window_pk=row.window_pk, at=rating.at,
                                   ticket=rating.ticket, gap=gap)
        if rated is not None and rated.id != rating.session_id:
            _attach(session, rating, rated.id, actor)


def _attach(session: Session, rating: Rating, session_id: str, actor: Principal) -> None:
    audit.record(session=session, actor=actor, action="rating.reattach", target_type="rating",
                 target_id=rating.id, before={"session_id": rating.session_id},
                 after={"session_id": session_id})
    rating.session_id = session_id


def listed(*, session: Session, settings: Settings, principal: Principal,
           window_pk: int | None = None, start: datetime | None = None,
           end: datetime | None = None, attached: bool | None = None, offset: int = 0,
           limit: int = 100) -> tuple[list[Rating], int]:
    """The ratings of the centers the principal sees, newest first; those still unattached are
    matched again (their session may have arrived since)."""
    principal.require(Permission.RATINGS_READ)
    rows, count = crud.list_ratings(session=session, center_ids=principal.centers,
                                    window_pk=window_pk, start=start, end=end, attached=attached,
                                    offset=offset, limit=limit)
    gap = timedelta(seconds=settings.rating_session_gap_s)
    changed = False
    for row in rows:
        if row.session_id is None:
            rated = crud.rated_session(session=session, window_pk=row.window_pk, at=row.at,
                                       ticket=row.ticket, gap=gap)
            if rated is not None:
                _attach(session, row, rated.id, SYSTEM_RATINGS)
                changed = True
    if changed:
        session.commit()
    return rows, count

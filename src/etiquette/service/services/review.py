"""The review workflow: a state machine over `Incident.status`, every step in the audit log.

    pending ──confirm──► confirmed ──appeal (own, within the window, once)──► appealed
       │  ▲                  │                                                  │
       │  └────reopen────────┤                          decide: rejected ► confirmed
       └──dismiss(reason)──► dismissed ──reopen──► pending   accepted ► dismissed

A reviewer may undo their own confirm or dismiss for `undo_window_s` (back to pending, audited
as an undo), as long as nobody has acted on the incident since. Bulk review and bulk undo act
on each incident as the single action does, and report each one's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from etiquette.service.core.config import Settings
from etiquette.service.core.db import utcnow
from etiquette.service.crud import audit
from etiquette.service.crud import incidents as crud
from etiquette.service.crud.incidents import IncidentFilter
from etiquette.service.errors import Conflict, Forbidden, NotFound
from etiquette.service.models import Incident
from etiquette.service.schemas import (
    AppealDecision,
    AppealDecisionRequest,
    AppealRequest,
    BulkOutcome,
    BulkReviewRequest,
    BulkReviewResult,
    QueueCounts,
    ReviewAction,
    ReviewRequest,
    ReviewStatus,
)
from etiquette.service.services.access import Permission, Principal
from etiquette.service.services.incidents import scope

S = ReviewStatus
_REVIEW: dict[ReviewAction, tuple[frozenset[ReviewStatus], ReviewStatus]] = {
    ReviewAction.CONFIRM: (frozenset({S.PENDING}), S.CONFIRMED),
    ReviewAction.DISMISS: (frozenset({S.PENDING}), S.DISMISSED),
    ReviewAction.REOPEN: (frozenset({S.CONFIRMED, S.DISMISSED}), S.PENDING),
}
_STATE_FIELDS = ("status", "review_reason", "reviewed_by", "reviewed_at", "appeal_reason",
                 "appealed_by", "appealed_at", "appeal_decision", "appeal_decision_reason",
                 "appeal_decided_by", "appeal_decided_at")


def _state(incident: Incident) -> dict[str, Any]:
    return {f: getattr(incident, f) for f in _STATE_FIELDS}


def _changed(before: dict[str, Any], after: dict[str, Any]
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in before if before[k] != after[k]]
    return {k: before[k] for k in keys}, {k: after[k] for k in keys}


def _claim(session: Session, incident: Incident, to: ReviewStatus) -> None:
    """Move `incident` to `to` only if it still has the status this request read: of two
    reviewers deciding at once (a bulk action beside a single review), the second is told,
    not left to overwrite the first. The database serialises the guarded update on both
    backends."""
    moved = cast(CursorResult[Any], session.execute(
        update(Incident).where(Incident.id == incident.id, Incident.status == incident.status)
        .values(status=to.value).execution_options(synchronize_session=False)))
    if moved.rowcount != 1:
        session.rollback()
        raise Conflict("该事件刚被他人处理，请刷新后查看 "
                       "(someone else changed the incident meanwhile)")


def visible(principal: Principal, incident: Incident | None) -> Incident:
    """The incident if this principal may see it; an unseen incident is 'not found', so that
    staff cannot probe which ids exist."""
    if incident is None or not principal.may_see(incident):
        raise NotFound("事件不存在 (no such incident)")
    return incident


def appeal_deadline(incident: Incident, settings: Settings) -> datetime | None:
    """Until when a confirmed incident may be appealed (None: not reviewed yet)."""
    if incident.reviewed_at is None:
        return None
    return incident.reviewed_at + timedelta(days=settings.appeal_window_days)


def check_appeal(principal: Principal, incident: Incident, settings: Settings) -> None:
    """The appeal rule, in one place for the API and the workbench: staff may appeal their own
    confirmed incident, once, until its appeal deadline.

    Raises:
      Forbidden: not this principal's to appeal.
      Conflict: not (or no longer) open to an appeal.
    """
    principal.require(Permission.INCIDENTS_APPEAL_OWN)
    if principal.staff_id is None or incident.staff_id != principal.staff_id:
        raise Forbidden("只能对本人的事件提出申诉 (only your own incidents can be appealed)")
    if incident.status != S.CONFIRMED or incident.appealed_at is not None:
        raise Conflict("只有已确认且未申诉过的事件可以申诉 (only a confirmed incident, once)")
    deadline = appeal_deadline(incident, settings)
    if deadline is not None and utcnow() > deadline:
        raise Conflict(f"申诉期已过（截至 {deadline:%Y-%m-%d %H:%M} UTC） "
                       "(the appeal window has closed)")


def _passes(check: Callable[[Principal, Incident, Settings], None], principal: Principal,
            incident: Incident, settings: Settings) -> bool:
    """Whether `check` lets `principal` act on `incident` now (raises neither refusal)."""
    try:
        check(principal, incident, settings)
    except (Forbidden, Conflict):
        return False
    return True


def may_appeal(principal: Principal, incident: Incident, settings: Settings) -> bool:
    """Whether `check_appeal` lets `principal` appeal `incident` now (the workbench offers the
    appeal form only then)."""
    return _passes(check_appeal, principal, incident, settings)


def review(*, session: Session, principal: Principal, incident: Incident,
           request: ReviewRequest) -> Incident:
    principal.require(Permission.INCIDENTS_REVIEW)
    allowed_from, to = _REVIEW[request.action]
    if ReviewStatus(incident.status) not in allowed_from:
        raise Conflict(f"状态为 {incident.status} 的事件不能执行 {request.action.value} "
                       f"(cannot {request.action.value} an incident that is {incident.status})")
    if request.action == ReviewAction.REOPEN and incident.appeal_decision is not None:
        raise Conflict("申诉已裁决的事件不能重新打开 "
                       "(an incident whose appeal was decided stays decided)")
    before = _state(incident)
    _claim(session, incident, to)
    incident.status = to.value
    if request.action == ReviewAction.REOPEN:
        incident.review_reason = request.reason
        incident.reviewed_by = incident.reviewed_at = None
    else:
        incident.review_reason = request.reason
        incident.reviewed_by = principal.user.id if principal.user else None
        incident.reviewed_at = utcnow()
    old, new = _changed(before, _state(incident))
    audit.record(session=session, actor=principal, action=f"incident.{request.action.value}",
                 target_type="incident", target_id=incident.id, before=old, after=new)
    session.commit()
    return incident


def appeal(*, session: Session, settings: Settings, principal: Principal, incident: Incident,
           request: AppealRequest) -> Incident:
    check_appeal(principal, incident, settings)
    before = _state(incident)
    incident.status = S.APPEALED.value
    incident.appeal_reason = request.reason
    incident.appealed_by = principal.user.id if principal.user else None
    incident.appealed_at = utcnow()
    old, new = _changed(before, _state(incident))
    audit.record(session=session, actor=principal, action="incident.appeal", target_type="incident",
                 target_id=incident.id, before=old, after=new)
    session.commit()
    return incident


def decide_appeal(*, session: Session, principal: Principal, incident: Incident,
                  request: AppealDecisionRequest) -> Incident:
    principal.require(Permission.INCIDENTS_DECIDE_APPEAL)
    if incident.status != S.APPEALED:
        raise Conflict("该事件没有待裁决的申诉 (no appeal to decide)")
    before = _state(incident)
    incident.appeal_decision = request.decision.value
    incident.appeal_decision_reason = request.reason
    incident.appeal_decided_by = principal.user.id if principal.user else None
    incident.appeal_decided_at = utcnow()
    incident.status = (S.DISMISSED if request.decision == AppealDecision.ACCEPTED
                       else S.CONFIRMED).value
    old, new = _changed(before, _state(incident))
    audit.record(session=session, actor=principal, action="incident.decide_appeal",
                 target_type="incident", target_id=incident.id, before=old, after=new)
    session.commit()
    return incident


def undo_deadline(incident: Incident, settings: Settings) -> datetime | None:
    """Until when the review decision of `incident` may be undone (None: none to undo)."""
    if incident.reviewed_at is None:
        return None
    return incident.reviewed_at + timedelta(seconds=settings.undo_window_s)


def check_undo(principal: Principal, incident: Incident, settings: Settings) -> None:
    """The undo rule, for the API and the workbench: one's own confirm or dismiss, still the
    incident's last step, within the undo window.

    Raises:
      Forbidden: not a reviewer, or someone else's decision.
      Conflict: nothing to undo, or the window has closed.
    """
    principal.require(Permission.INCIDENTS_REVIEW)
    if (incident.status not in (S.CONFIRMED, S.DISMISSED) or incident.reviewed_at is None
            or incident.appealed_at is not None or incident.appeal_decision is not None):
        raise Conflict("该事件没有可撤销的审核决定 (no review decision to undo)")
    if principal.user is None or incident.reviewed_by != principal.user.id:
        raise Forbidden("只能撤销本人的审核决定 (only your own decision can be undone)")
    deadline = undo_deadline(incident, settings)
    if deadline is not None and utcnow() > deadline:
        minutes = settings.undo_window_s / 60
        raise Conflict(f"审核决定超过 {minutes:g} 分钟后不能撤销，请使用“重新审核” "
                       "(the undo window has closed)")


def may_undo(principal: Principal, incident: Incident, settings: Settings) -> bool:
    """Whether `check_undo` lets `principal` undo the decision on `incident` now."""
    return _passes(check_undo, principal, incident, settings)


def undo(*, session: Session, settings: Settings, principal: Principal,
         incident: Incident) -> Incident:
    """Back to pending, as before the decision; the audit log keeps both steps."""
    check_undo(principal, incident, settings)
    before = _state(incident)
    _claim(session, incident, S.PENDING)
    incident.status = S.PENDING.value
    incident.review_reason = incident.reviewed_by = incident.reviewed_at = None
    old, new = _changed(before, _state(incident))
    audit.record(session=session, actor=principal, action="incident.undo", target_type="incident",
                 target_id=incident.id, before=old, after=new)
    session.commit()
    return incident


def _each(session: Session, principal: Principal, ids: Iterable[str],
          act: Callable[[Incident], Incident]) -> BulkReviewResult:
    """`act` on each incident the principal may see, one after the other (each its own
    transaction): what one cannot do (gone, already reviewed by someone else) is reported for
    that one, and the others go on."""
    outcomes: list[BulkOutcome] = []
    for incident_id in dict.fromkeys(ids):  # an id sent twice is done once
        found = crud.get_incident(session=session, incident_id=incident_id)
        try:
            done = act(visible(principal, found))
            outcomes.append(BulkOutcome(id=incident_id, ok=True, status=ReviewStatus(done.status),
                                        detail=None))
        except (NotFound, Conflict, Forbidden) as e:
            session.rollback()
            seen = found is not None and principal.may_see(found)
            outcomes.append(BulkOutcome(
                id=incident_id, ok=False,
                status=ReviewStatus(found.status) if seen and found else None, detail=e.detail))
    done_count = sum(o.ok for o in outcomes)
    return BulkReviewResult(data=outcomes, done=done_count, failed=len(outcomes) - done_count)


def bulk_review(*, session: Session, principal: Principal,
                request: BulkReviewRequest) -> BulkReviewResult:
    """One decision and reason for several incidents, each reviewed (and audited) as one."""
    principal.require(Permission.INCIDENTS_REVIEW)
    single = ReviewRequest(action=request.action, reason=request.reason)
    return _each(session, principal, request.ids,
                 lambda i: review(session=session, principal=principal, incident=i,
                                  request=single))


def bulk_undo(*, session: Session, settings: Settings, principal: Principal,
              ids: Iterable[str]) -> BulkReviewResult:
    """Undo one's own decisions on several incidents (those of a bulk review)."""
    principal.require(Permission.INCIDENTS_REVIEW)
    return _each(session, principal, ids,
                 lambda i: undo(session=session, settings=settings, principal=principal,
                                incident=i))


def queue_counts(*, session: Session, principal: Principal, flt: IncidentFilter | None = None,
                 since: datetime | None = None) -> QueueCounts:
    """The work waiting for `principal` among what they may see (staff: their own): pending
    incidents, appeals to decide, and incidents of a list's filters received after `since`."""
    only = scope(principal)
    pending = crud.count_incidents(session=session, flt=IncidentFilter(status=S.PENDING.value),
                                   visible=only)
    appealed = (crud.count_incidents(session=session,
                                     flt=IncidentFilter(status=S.APPEALED.value),
                                     visible=only)
                if principal.can(Permission.INCIDENTS_DECIDE_APPEAL) else None)
    new = (crud.count_incidents(session=session, flt=flt or IncidentFilter(), visible=only,
                                received_after=since) if since is not None else None)
    return QueueCounts(pending=pending, appealed=appealed, new=new)

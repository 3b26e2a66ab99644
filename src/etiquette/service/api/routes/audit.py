from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from etiquette.service.api.deps import CurrentUser, SessionDep
from etiquette.service.crud import audit
from etiquette.service.errors import Invalid
from etiquette.service.schemas import AuditLogPublic, Message
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditLogPublic,
            responses={401: {"model": Message}, 403: {"model": Message}})
def audit_log(session: SessionDep, principal: CurrentUser,
              target_type: Annotated[str | None, Query(max_length=32)] = None,
              target_id: Annotated[str | None, Query(max_length=64)] = None,
              action: Annotated[str | None, Query(max_length=64)] = None,
              actor: Annotated[str | None, Query(max_length=120)] = None,
              date_from: datetime | None = None, date_to: datetime | None = None,
              offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AuditLogPublic:
    """Every change: who, when, what, before and after (auditors and admins). An auditor
    limited to centers reads only the entries of their centers' incidents, sessions, ratings,
    complaints and commendations."""
    principal.require(Permission.AUDIT_READ)
    for value in (date_from, date_to):
        if value is not None and value.tzinfo is None:
            raise Invalid("date_from/date_to need a time zone (…Z or +08:00)")
    rows, count = audit.list_entries(session=session, target_type=target_type, target_id=target_id,
                                     action=action, actor=actor, date_from=date_from,
                                     date_to=date_to, offset=offset, limit=limit,
                                     center_ids=principal.centers)
    return AuditLogPublic.model_validate({"data": rows, "count": count}, from_attributes=True)

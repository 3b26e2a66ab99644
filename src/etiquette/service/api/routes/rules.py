from __future__ import annotations

from fastapi import APIRouter

from etiquette.service.api.deps import CurrentUser, SettingsDep
from etiquette.service.schemas import Message, RulesPublic
from etiquette.service.services import rules as rules_service
from etiquette.service.services.access import Permission

router = APIRouter(prefix="/rules", tags=["rules"])


@router.get("", response_model=RulesPublic, responses={401: {"model": Message}})
def list_rules(settings: SettingsDep, principal: CurrentUser) -> RulesPublic:
    """The Appendix B rules the pipelines score with (from the rules file the service reads)."""
    principal.require(Permission.RULES_READ)
    return rules_service.rules(settings.rules_path)

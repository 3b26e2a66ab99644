from __future__ import annotations

from fastapi import APIRouter

from etiquette.service.api.routes._master import add_routes
from etiquette.service.models import Window
from etiquette.service.schemas import WindowCreate, WindowPublic, WindowsPublic, WindowUpdate

router = APIRouter(prefix="/windows", tags=["master data"])
add_routes(router, model=Window, create=WindowCreate, update=WindowUpdate, public=WindowPublic,
           many=WindowsPublic, filters=("center_id",))

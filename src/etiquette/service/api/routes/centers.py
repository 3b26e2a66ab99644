from __future__ import annotations

from fastapi import APIRouter

from etiquette.service.api.routes._master import add_routes
from etiquette.service.models import Center
from etiquette.service.schemas import CenterCreate, CenterPublic, CentersPublic, CenterUpdate

router = APIRouter(prefix="/centers", tags=["master data"])
add_routes(router, model=Center, create=CenterCreate, update=CenterUpdate, public=CenterPublic,
           many=CentersPublic)

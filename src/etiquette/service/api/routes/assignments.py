from __future__ import annotations

from fastapi import APIRouter

from etiquette.service.api.routes._master import add_routes
from etiquette.service.models import Assignment
from etiquette.service.schemas import (
                                       AssignmentCreate,
                                       AssignmentPublic,
                                       AssignmentsPublic,
                                       AssignmentUpdate,
)

router = APIRouter(prefix="/assignments", tags=["master data"])
add_routes(router, model=Assignment, create=AssignmentCreate, update=AssignmentUpdate,
           public=AssignmentPublic, many=AssignmentsPublic)

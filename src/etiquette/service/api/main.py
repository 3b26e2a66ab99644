"""The API: only includes the routers."""

from __future__ import annotations

from fastapi import APIRouter

from etiquette.service.api.routes import (
    alerts,
    api_keys,
    assignments,
    audit,
    auth,
    centers,
    commendations,
    complaints,
    hall,
    incidents,
    ingest,
    masterdata,
    practice,
    ratings,
    reports,
    retention,
    rules,
    scoring,
    sessions,
    staff,
    users,
    windows,
)

api_router = APIRouter(prefix="/api/v1")
for module in (auth, ingest, incidents, centers, windows, staff, assignments, masterdata, users,
               api_keys, audit, rules, retention, scoring, reports, alerts,
               practice, commendations, hall, ratings, complaints, sessions):
    api_router.include_router(module.router)

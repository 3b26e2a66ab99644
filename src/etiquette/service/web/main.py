"""The review workbench: server-rendered pages in Chinese over the same services as the API,
one module per page under routes/ (as the API's are); this only includes their routers."""

from __future__ import annotations

from fastapi import APIRouter

from etiquette.service.web.routes import (
    admin_commendations,
    admin_keys,
    admin_master,
    admin_users,
    audit,
    complaints,
    docs,
    hall,
    incidents,
    login,
    practice,
    reports,
    rules,
    scoring,
    sessions,
    webhooks,
)

web_router = APIRouter(include_in_schema=False)
for module in (login, incidents, audit, rules, reports, scoring, practice, webhooks, docs,
               hall, complaints, sessions):
    web_router.include_router(module.router)
for module in (admin_users, admin_master, admin_keys, admin_commendations):
    web_router.include_router(module.router)

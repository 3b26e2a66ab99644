"""The API docs (/docs): FastAPI's Swagger UI, its files served by this service from the
fastapi-offline package (a government network reaches no CDN), started by a static script
(the Content-Security-Policy runs no inline one). Everyone may read them, as the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from etiquette.service.web.pages import templates

ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
MEDIA_TYPES = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript",
               "favicon.png": "image/png"}

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "docs.html", {"title": request.app.title})


@router.get("/docs/assets/{name}")
def api_docs_asset(name: Literal["swagger-ui.css", "swagger-ui-bundle.js",
                                 "favicon.png"]) -> FileResponse:
    return FileResponse(ASSETS / name, media_type=MEDIA_TYPES[name])

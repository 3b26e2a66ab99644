"""The application factory: settings in, a FastAPI app out (API, workbench, jobs).

Start-up is a list of steps: wait for the database, apply migrations, seed the first rules
and scoring versions, open the evidence store, start the retention and webhook jobs. Nothing
here loads a model: staff self-training is judged by the `PracticeChecker` the caller injects
(`etiquette.practice` makes one from the speech pipeline), as Frigate hands its app factory
the services it runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from etiquette import __version__
from etiquette.service import security_headers
from etiquette.service.api.limits import BodyLimits
from etiquette.service.api.main import api_router
from etiquette.service.api.routes import health
from etiquette.service.core import db
from etiquette.service.core.config import Settings
from etiquette.service.errors import DatabaseUnavailable, ServiceError
from etiquette.service.evidence_store import EvidenceStore
from etiquette.service.services import rules, scoring
from etiquette.service.services.practice import PracticeChecker, PracticeSlots
from etiquette.service.services.retention import RetentionJob
from etiquette.service.services.slots import DecodeSlots
from etiquette.service.services.webhooks import WebhookJob
from etiquette.service.web.main import web_router
from etiquette.service.web.pages import error_page, is_page

logger = logging.getLogger("etiquette.service")
STATIC_DIR = Path(__file__).resolve().parent / "static"


def prestart(settings: Settings, engine: Engine, create_data_dir: bool = True) -> None:
    """Migrations and the first rule and scoring versions; `create_data_dir` false: a command
    that only reads (the report) makes no directory."""
    if create_data_dir:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db.wait_for_database(engine)
    db.upgrade(engine)
    with db.make_sessionmaker(engine)() as session:
        rules.seed(session=session, path=settings.rules_path)
        scoring.seed(session=session, path=settings.scoring_path)


def create_app(settings: Settings, *, engine: Engine | None = None,
               practice: PracticeChecker | None = None) -> FastAPI:
    """`practice`: judges staff practice recordings; None: practice answers 503 (a service
    started without the speech side, or tests of the API without a model)."""
    engine = engine or db.make_engine(settings.sqlalchemy_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prestart(settings, engine)
        job = None
        if settings.run_retention_job:
            job = RetentionJob(app.state.sessionmaker, app.state.store, settings)
            job.start()
        app.state.retention_job = job
        webhook_job = None
        if settings.run_webhook_job:
            webhook_job = WebhookJob(app.state.sessionmaker, settings)
            webhook_job.start()
        app.state.webhook_job = webhook_job
        try:
            yield
        finally:
            for worker in (job, webhook_job):
                if worker:
                    worker.stop()
                    worker.join(timeout=10)
            engine.dispose()

    # /docs is the workbench's own page over local files (web/routes/docs.py); no /redoc.
    app = FastAPI(title="etiquette 监督考核服务", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  description="Incidents from the etiquette pipelines; review, appeals, audit, "
                              "master data. Pipelines authenticate with X-API-Key, people with a "
                              "session cookie plus the X-CSRF-Token header.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = db.make_sessionmaker(engine)
    app.state.store = EvidenceStore(settings.evidence_dir)
    app.state.practice = practice
    app.state.practice_slots = PracticeSlots(settings.practice_concurrency)
    app.state.decode_slots = DecodeSlots(settings.decode_concurrency,
                                         settings.decode_wait_s)
    app.add_middleware(BodyLimits, state=app.state)  # bodies bounded before they are read
    security_headers.install(app, settings.trusted_proxies)  # CSP, nosniff… on every answer
    app.include_router(health.router)
    app.include_router(api_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if is_page(request):
            return error_page(request, exc.status_code, exc.detail)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_page(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> Response:
        logger.warning("database unavailable for %s %s: %s", request.method, request.url.path,
                       next(iter(str(exc.orig or exc).splitlines()), ""))
        return await service_error(request, DatabaseUnavailable())

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if is_page(request):
            return error_page(request, 422, "请求参数有误 (invalid request)")
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    return app

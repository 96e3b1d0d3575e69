"""The FastAPI application factory: routes, error handlers, and the job manager's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from service.api.deps import guard_writes_and_downloads
from service.api.errors import install_error_handlers
from service.api.front_cache import FrontCache
from service.api.limits import BodySizeLimit
from service.api.routes import health, jobs, trials
from service.dashboard import routes as dashboard
from service.db import get_engine
from service.jobs import JobManager
from service.schemas import ErrorOut
from service.settings import Settings, get_settings

# Every error the API answers is `{"detail": ...}` (service.api.errors); documented once here so
# that clients and schema checkers (schemathesis) know every route's error bodies.
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": description}
    for code, description in (
        (401, "the bearer token is missing or wrong (writes and downloads)"),
        (404, "no such job or trial"),
        (409, "the job or trial is not in a state that allows this"),
        (413, "the request body is too large"),
        (503, "the database is unavailable"),
    )
}


def create_app(settings: Settings | None = None, start_jobs: bool = True) -> FastAPI:
    """The app bound to `settings` (the environment's when None).

    The job manager lives as long as the app serves: it starts in the lifespan (so a TestClient
    used as a context manager runs it too) and stops, with the drivers it started, on shutdown.
    `start_jobs=False` leaves it out, for an API-only process or tests of the API alone.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        get_engine(settings.database_url)  # migrate the tables; fail early when unreachable
        manager = JobManager(settings) if start_jobs else None
        app.state.job_manager = manager
        if manager is not None:
            manager.start()
        try:
            yield
        finally:
            if manager is not None:
                manager.stop()

    app = FastAPI(
        title="spikenas",
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(guard_writes_and_downloads)],
        responses=_ERRORS,
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(FrontCache, engine=lambda: get_engine(settings.database_url))
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(trials.router)
    app.include_router(dashboard.router)
    return app

"""The FastAPI application factory: routes, error handlers, and the job manager's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.errors import install_error_handlers
from service.api.routes import health, jobs, trials
from service.dashboard import routes as dashboard
from service.db import get_engine
from service.jobs import JobManager
from service.settings import Settings, get_settings


def create_app(settings: Settings | None = None, start_jobs: bool = True) -> FastAPI:
    """The app bound to `settings` (the environment's when None).

    The job manager lives as long as the app serves: it starts in the lifespan (so a TestClient
    used as a context manager runs it too) and stops, with the drivers it started, on shutdown.
    `start_jobs=False` leaves it out, for an API-only process or tests of the API alone.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        get_engine(settings.database_url)  # create the tables; fail early when unreachable
        manager = JobManager(settings) if start_jobs else None
        app.state.job_manager = manager
        if manager is not None:
            manager.start()
        try:
            yield
        finally:
            if manager is not None:
                manager.stop()

    app = FastAPI(title="spikenas", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(trials.router)
    app.include_router(dashboard.router)
    return app

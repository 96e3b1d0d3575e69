"""Fixtures of the service tests: settings on a fresh database (SQLite and PostgreSQL, from
tests/conftest.py), an app with its job manager running but launching nothing, and jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from search.job_spec import JobSpec
from service.app import create_app
from service.db import session_scope
from service.job_store import create_job
from service.settings import Settings

JOB: dict[str, Any] = {
    "name": "service-test",
    "dataset": {"name": "digits"},
    "n_trials": 3,
    "max_concurrent": 1,
    "budget": {"epochs": 1},
    "sampler": "random",
    "objectives": ["accuracy", "params", "spike_rate"],
    "seed": 0,
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """max_running_jobs=0: the manager runs (recovery, cancels) but starts no driver."""
    (tmp_path / "data").mkdir()
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        artifacts_dir=tmp_path / "artifacts",
        max_running_jobs=0,
        poll_interval_s=0.2,
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def add_job(settings: Settings) -> Callable[..., int]:
    """Write a queued job straight to the table, as POST /api/jobs would; its id."""

    def add(**changes: Any) -> int:
        with session_scope(settings.database_url) as session:
            return create_job(session, JobSpec.model_validate({**JOB, **changes})).id

    return add


@pytest.fixture
def job_body() -> dict[str, Any]:
    return dict(JOB)

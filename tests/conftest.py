"""Shared fixtures: a fresh database per test, on SQLite and (where reachable) PostgreSQL.

PostgreSQL tests skip when no server answers at SPIKENAS_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test); with SPIKENAS_REQUIRE_POSTGRES=1 (set by .ci/run)
they fail instead, so CI always exercises the real database.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

POSTGRES_URL = os.environ.get(
    "SPIKENAS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_admin() -> Any:
    import psycopg

    try:
        conn = psycopg.connect(POSTGRES_URL, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as e:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {str(e).strip()[:200]}"
        if os.environ.get("SPIKENAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (SPIKENAS_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return conn


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database that exists for this test only."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/spikenas.db"
        return
    admin = _postgres_admin()
    name = f"spikenas_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        from service.db import get_engine

        for engine_url in [f"{base}/{name}"]:
            with contextlib.suppress(Exception):
                get_engine(engine_url).dispose()
        from search.study import open_storage

        try:
            open_storage(f"{base}/{name}").remove_session()
            open_storage(f"{base}/{name}").engine.dispose()
        except Exception:
            pass
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """For modules of tiny models: they gain nothing from intra-op threads, and on a busy
    2-core machine the extra threads only spin. Use with `pytest.mark.usefixtures`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

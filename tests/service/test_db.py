"""The store: one session scope that commits, rolls back and turns driver errors into StoreError;
UTC timestamps on both backends; SQLite in WAL mode."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from service.db import get_engine, session_scope
from service.errors import StoreError
from service.models import Job


def _job(**values: object) -> Job:
    return Job(**{"name": "j", "status": "queued", "spec": "{}", **values})


def test_commit_and_read_back_utc(database_url: str) -> None:
    with session_scope(database_url) as session:
        session.add(_job(name="first"))
    with session_scope(database_url) as session:
        job = session.scalars(select(Job)).one()
    assert job.name == "first" and job.cancel_requested is False
    assert job.created_at.tzinfo is not None
    assert job.created_at.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - job.created_at).total_seconds()) < 60


def test_error_rolls_back(database_url: str) -> None:
    with pytest.raises(RuntimeError), session_scope(database_url) as session:
        session.add(_job())
        session.flush()
        raise RuntimeError("boom")
    with session_scope(database_url) as session:
        assert session.scalars(select(Job)).all() == []


def test_driver_errors_become_store_errors(database_url: str) -> None:
    # The table refuses a status outside the lifecycle (a CHECK constraint).
    with pytest.raises(StoreError, match="database error"), session_scope(database_url) as s:
        s.add(_job(status="exploded"))
    with pytest.raises(StoreError), session_scope(database_url) as s:
        s.execute(text("SELECT * FROM no_such_table"))


def test_unreachable_database_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot use the database"):
        get_engine(f"sqlite:///{tmp_path}/missing-dir/spikenas.db")
    with pytest.raises(StoreError):
        get_engine("postgresql://postgres@127.0.0.1:1/nothing-listens-here")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000

"""Engine and sessions. All database access goes through `session_scope`, which commits, rolls
back and turns driver errors into StoreError. No engine exists at import time."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.errors import StoreError
from service.migrations import upgrade


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the job driver writes; the busy timeout waits out short locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def describe(error: SQLAlchemyError) -> str:
    """One line about a driver error: the driver's first line, without SQLAlchemy's SQL echo."""
    cause = getattr(error, "orig", None) or error
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{cause.__class__.__name__}: {first}" if first else cause.__class__.__name__


def _create_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        # The API's worker threads share the engine's connections.
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre-ping: a PostgreSQL restart must not fail the next request on a dead pooled connection.
    return create_engine(database_url, pool_pre_ping=True)


@functools.lru_cache(maxsize=8)
def get_engine(database_url: str) -> Engine:
    """The engine of a URL, created once, with the service's tables migrated to the newest
    revision (created in an empty database, upgraded in one an older release wrote)."""
    try:
        engine = _create_engine(database_url)
    except (SQLAlchemyError, ImportError) as e:  # a malformed URL, a driver not installed
        raise StoreError(f"cannot use the database URL: {e.__class__.__name__}: {e}") from e
    try:
        upgrade(engine)
    except SQLAlchemyError as e:
        engine.dispose()
        raise StoreError(f"cannot use the database: {describe(e)}") from e
    except CommandError as e:  # a revision this release does not know: a newer one wrote it
        engine.dispose()
        raise StoreError(f"cannot migrate the database: {e}") from e
    return engine


@functools.lru_cache(maxsize=8)
def _sessionmaker(database_url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(database_url), expire_on_commit=False)


@contextmanager
def session_scope(database_url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error (StoreError for the DB's)."""
    session = _sessionmaker(database_url)()
    try:
        yield session
        session.commit()
    except SQLAlchemyError as e:
        session.rollback()
        raise StoreError(f"database error: {describe(e)}") from e
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

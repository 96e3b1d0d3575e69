"""Migrations of the service's tables (Alembic), on SQLite and PostgreSQL: a new database is
created at head, a database the first release wrote (no revisions) is upgraded with its rows
kept, the models and the migrations agree, concurrent starts take turns, and Optuna's own
revision table is left alone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    text,
)

from search.study import open_storage
from service.db import get_engine, session_scope
from service.job_store import get_job
from service.migrations import VERSION_TABLE, current_revision, head
from service.migrations.runner import include_name
from service.models import Base


def _first_release_jobs(metadata: MetaData) -> Table:
    """The jobs table exactly as the first release's create_all made it."""
    return Table(
        "jobs",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("name", String(200), nullable=False),
        Column("status", String(16), nullable=False, index=True),
        Column("spec", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("started_at", DateTime(timezone=True)),
        Column("finished_at", DateTime(timezone=True)),
        Column("error", Text),
        Column("pid", Integer),
        Column("cancel_requested", Boolean, nullable=False),
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="ck_jobs_status",
        ),
    )


def test_new_database_is_created_at_head(database_url: str) -> None:
    engine = get_engine(database_url)
    with engine.connect() as conn:
        assert current_revision(conn) == head()
        columns = {c["name"] for c in inspect(conn).get_columns("jobs")}
    assert {"id", "status", "spec", "pid", "cancel_requested", "resumes"} <= columns


def test_first_release_database_is_upgraded_keeping_its_rows(database_url: str) -> None:
    metadata = MetaData()
    jobs = _first_release_jobs(metadata)
    old = create_engine(database_url)
    metadata.create_all(old)
    with old.begin() as conn:
        conn.execute(
            insert(jobs).values(
                name="from-the-first-release",
                status="succeeded",
                spec="{}",
                created_at=datetime(2025, 1, 2, tzinfo=UTC),
                cancel_requested=False,
            )
        )
    old.dispose()

    engine = get_engine(database_url)  # what the service does when it starts
    with engine.connect() as conn:
        assert current_revision(conn) == head()
    with session_scope(database_url) as session:
        job = get_job(session, 1)
        assert job.name == "from-the-first-release" and job.status == "succeeded"
        assert job.resumes == 0


def test_models_and_migrations_agree(database_url: str) -> None:
    engine = get_engine(database_url)
    open_storage(database_url)  # Optuna's tables beside ours must not count as a difference
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "include_name": include_name}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_optuna_keeps_its_own_revision_table(database_url: str) -> None:
    engine = get_engine(database_url)
    open_storage(database_url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        assert {"jobs", VERSION_TABLE, "alembic_version", "studies", "trials"} <= tables
        ours = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        optunas = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    assert ours == [head()] and optunas and optunas != ours


def test_concurrent_first_starts_take_turns(database_url: str) -> None:
    code = "import sys; from service.db import get_engine; get_engine(sys.argv[1])"
    starts = [
        subprocess.Popen([sys.executable, "-c", code, database_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in starts]
    assert [p.returncode for p in starts] == [0, 0, 0], errors
    with get_engine(database_url).connect() as conn:
        assert current_revision(conn) == head()

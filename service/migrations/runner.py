"""Run the service's migrations on an engine, once, whichever process gets there first.

The service runs `upgrade` when it starts; job runners and tools call it too (through
service.db.get_engine), and find the database at head with one query. A database that the
first release created without revisions (a `jobs` table, no version table) is stamped with the
baseline revision first, then upgraded. Two processes migrating one database at once take
turns: PostgreSQL through an advisory lock, SQLite through an immediate (write) transaction,
and the second finds the work done.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

VERSION_TABLE = "spikenas_alembic_version"
HEAD_TABLES = ("jobs",)  # the tables these migrations own; Optuna's are left alone
BASELINE = "0001"  # the unversioned schema of the first release
_PG_LOCK_KEY = 0x5B1CE_0001  # any constant: the advisory lock of this migration


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: compare and migrate only the service's tables."""
    return type_ != "table" or name in HEAD_TABLES


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:  # a packaging mistake, not a state of the database
        raise RuntimeError("the service's migrations have no head revision")
    return revision


def current_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite begins transactions lazily; take the write lock now, so that a second
        # migrator waits here (busy timeout) instead of failing on a table the first created.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(engine: Engine) -> None:
    """Bring the service's tables to the newest revision (a no-op at head)."""
    target = head()
    with engine.connect() as connection:
        if current_revision(connection) == target:
            return
    with engine.connect() as connection:
        _lock(connection)
        config = _config(connection)
        revision = current_revision(connection)
        if revision is None and inspect(connection).has_table("jobs"):
            command.stamp(config, BASELINE)
        if revision != target:
            command.upgrade(config, "head")
        connection.commit()

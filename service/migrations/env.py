"""Alembic's entry point, run by service.migrations.runner on a connection it passes in."""

from __future__ import annotations

from alembic import context

from service.migrations.runner import VERSION_TABLE, include_name
from service.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # Optuna keeps its own revision in `alembic_version`; ours must not collide with it.
    version_table=VERSION_TABLE,
    include_name=include_name,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()

"""Alembic migrations of the service's own tables (jobs); Optuna migrates its tables itself.

`upgrade(engine)` brings a database to the newest revision; the service runs it on start
(service.db.get_engine), so a database written by an older release is upgraded in place.
"""

from service.migrations.runner import HEAD_TABLES, VERSION_TABLE, current_revision, head, upgrade

__all__ = ["HEAD_TABLES", "VERSION_TABLE", "current_revision", "head", "upgrade"]

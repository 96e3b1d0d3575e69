"""Optuna storage and study naming: one study per job, named job-<id>, on the configured URL.

Optuna owns its tables; the same database also holds the service's tables. Storages are cached
per URL because creating one checks and migrates the schema.
"""

from __future__ import annotations

import functools

import optuna

from spaces.errors import SpikenasError


class StudyNotFound(SpikenasError, LookupError):
    """No study exists yet for a job (it has not started)."""


def study_name(job_id: int) -> str:
    return f"job-{job_id}"


@functools.lru_cache(maxsize=8)
def open_storage(database_url: str) -> optuna.storages.RDBStorage:
    engine_kwargs: dict[str, object] = {}
    if database_url.startswith("sqlite"):
        # Readers (the API) and the driver share the file; wait for locks instead of failing.
        engine_kwargs["connect_args"] = {"timeout": 30}
    else:
        engine_kwargs["pool_pre_ping"] = True
    return optuna.storages.RDBStorage(database_url, engine_kwargs=engine_kwargs)


def load_study(storage: optuna.storages.BaseStorage, job_id: int) -> optuna.Study:
    try:
        return optuna.load_study(study_name=study_name(job_id), storage=storage)
    except KeyError as e:
        raise StudyNotFound(f"job {job_id} has no study yet") from e

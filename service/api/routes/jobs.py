"""Jobs: submit, list, read, cancel. A job's progress is read from its Optuna study."""

from __future__ import annotations

import json

import optuna
from fastapi import APIRouter, Query, status
from fastapi.exceptions import RequestValidationError

from search.job_spec import JobSpec
from search.results import read_progress
from service.api.deps import AuthDep, JobId, SessionDep, SettingsDep, StorageDep
from service.job_store import create_job, get_job, list_jobs, request_cancel
from service.models import Job
from service.schemas import JobList, JobOut, ProgressOut
from spaces.errors import DataError
from workers.dataset_ref import NpzDataset, resolve_npz_path

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def job_out(job: Job, storage: optuna.storages.BaseStorage) -> JobOut:
    spec = json.loads(job.spec)
    return JobOut(
        id=job.id,
        name=job.name,
        status=job.status,
        spec=spec,
        progress=ProgressOut(**read_progress(storage, job.id, spec["n_trials"]).model_dump()),
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
    )


def _check_dataset(spec: JobSpec, settings: SettingsDep) -> None:
    """Refuse at submission an npz file that the driver would not find, not minutes later."""
    if not isinstance(spec.dataset, NpzDataset):
        return
    try:
        path = resolve_npz_path(spec.dataset, settings.data_dir)
    except DataError as e:
        raise _field_error(("body", "dataset", "path"), str(e)) from e
    if not path.is_file():
        raise _field_error(
            ("body", "dataset", "path"), f"dataset.path {spec.dataset.path!r} is not a file"
        )


def _field_error(loc: tuple[str, ...], message: str) -> RequestValidationError:
    # The same shape as pydantic's own errors, so clients parse one kind of 422.
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message}])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[AuthDep])
def submit_job(
    spec: JobSpec, session: SessionDep, settings: SettingsDep, storage: StorageDep
) -> JobOut:
    _check_dataset(spec, settings)
    return job_out(create_job(session, spec), storage)


@router.get("")
def jobs(
    session: SessionDep,
    storage: StorageDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> JobList:
    rows, count = list_jobs(session, limit, offset)
    return JobList(data=[job_out(j, storage) for j in rows], count=count)


@router.get("/{job_id}")
def job(job_id: JobId, session: SessionDep, storage: StorageDep) -> JobOut:
    return job_out(get_job(session, job_id), storage)


@router.post("/{job_id}/cancel", status_code=status.HTTP_202_ACCEPTED, dependencies=[AuthDep])
def cancel(job_id: JobId, session: SessionDep, storage: StorageDep) -> JobOut:
    """A queued job is cancelled at once; a running one is flagged and its driver signalled by
    the job manager, so it reads `running` until the driver has stopped; an ended one is 409."""
    return job_out(request_cancel(session, job_id), storage)

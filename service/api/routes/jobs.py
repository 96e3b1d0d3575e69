"""Jobs: submit, list, read, cancel, and the driver's log. A job's progress is read from its
Optuna study."""

from __future__ import annotations

import json

import optuna
from fastapi import APIRouter, Query, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from search.artifacts import job_dir
from search.job_spec import JobSpec
from search.results import read_progress
from search.resume import close_interrupted
from service.api.deps import AuthDep, JobId, SessionDep, SettingsDep, StorageDep
from service.job_store import create_job, get_job, list_jobs, request_cancel
from service.models import Job
from service.process import read_log
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
    loc = ("body", "dataset", "path")
    try:
        path = resolve_npz_path(spec.dataset, settings.data_dir)
        found = path.is_file()
    except DataError as e:
        raise _field_error(loc, str(e)) from e
    except (OSError, RuntimeError) as e:  # a name too long for the file system; a symlink loop
        if isinstance(e, RuntimeError):  # what Path.resolve raises on a loop
            reason = "it is a loop of symbolic links"
        else:
            reason = e.strerror or e.__class__.__name__
        raise _field_error(loc, f"dataset.path cannot be used: {reason}") from e
    if not found:
        raise _field_error(loc, f"dataset.path {spec.dataset.path!r} is not a file")


def _field_error(loc: tuple[str, ...], message: str) -> RequestValidationError:
    # The same shape as pydantic's own errors, so clients parse one kind of 422.
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message}])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[AuthDep])
def submit_job(
    spec: JobSpec, session: SessionDep, settings: SettingsDep, storage: StorageDep
) -> JobOut:
    _check_dataset(spec, settings)
    job = create_job(session, spec)
    # Stored before the client hears 201: the session's own commit runs after the response
    # is sent, and a client may ask for the job at once.
    session.commit()
    return job_out(job, storage)


@router.get("")
def jobs(
    session: SessionDep,
    storage: StorageDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=2**31 - 1),
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
    job = request_cancel(session, job_id)
    # Committed before the answer (the session's own commit comes after the response), and
    # before the study is touched: on SQLite, Optuna's connection would wait for this lock.
    session.commit()
    if job.status == "cancelled":
        # A queued job has no driver; one waiting to resume has trials its last driver left
        # running: close them, keeping the finished ones.
        close_interrupted(storage, job_id, "the job was cancelled while this trial ran")
    return job_out(job, storage)


LOG_CHUNK = 64 * 1024
MAX_LOG_CHUNK = 1024 * 1024


@router.get(
    "/{job_id}/log",
    dependencies=[AuthDep],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def job_log(
    job_id: JobId,
    session: SessionDep,
    settings: SettingsDep,
    offset: int = Query(0, ge=0, le=2**53, description="first byte to return"),
    limit: int = Query(LOG_CHUNK, ge=1, le=MAX_LOG_CHUNK, description="bytes to return at most"),
    tail: int | None = Query(
        None, ge=1, le=MAX_LOG_CHUNK, description="the last `tail` bytes instead of a range"
    ),
) -> Response:
    """The job's driver log (its runner's and Ray's output, and the job manager's notes), as
    text: a byte range, or its end with `tail`. `X-Log-Size` gives the whole log's size, so a
    client follows it by asking again from the offset it has reached. Empty until the job
    starts. Needs the token when one is set: a log tells how the service is set up."""
    get_job(session, job_id)  # 404 for an unknown job
    path = job_dir(settings.artifacts_dir, job_id) / "driver.log"
    data, size, start = read_log(path, offset, limit, tail)
    return Response(
        data,
        media_type="text/plain; charset=utf-8",
        headers={"X-Log-Size": str(size), "X-Log-Offset": str(start)},
    )

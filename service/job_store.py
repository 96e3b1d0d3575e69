"""Reads and writes of the jobs table, shared by the routes, the job manager and the runner.

Status changes are conditional updates (`... WHERE status = 'queued'`), never read-then-write:
the API, the job manager and the runner change the same rows from different processes, and a
cancel must not be lost to a launch that read the row a moment earlier.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from search.job_spec import JobSpec
from service.errors import Conflict, NotFound
from service.models import Job, utcnow


def create_job(session: Session, spec: JobSpec) -> Job:
    job = Job(name=spec.name, status="queued", spec=spec.model_dump_json(), cancel_requested=False)
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def list_jobs(session: Session, limit: int, offset: int) -> tuple[list[Job], int]:
    count = session.scalar(select(func.count()).select_from(Job)) or 0
    rows = session.scalars(select(Job).order_by(Job.id.desc()).limit(limit).offset(offset))
    return list(rows), count


def job_spec(job: Job) -> JobSpec:
    return JobSpec.model_validate(json.loads(job.spec))


def _transition(session: Session, job_id: int, from_status: str, **values: object) -> bool:
    """Set `values` on the job if it is still in `from_status`; whether it was."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim_queued(session: Session, job_id: int) -> bool:
    """Mark a queued job running; False when someone cancelled it first."""
    return _transition(session, job_id, "queued", status="running", started_at=utcnow())


def set_pid(session: Session, job_id: int, pid: int) -> None:
    """Record a running job's driver; a no-op if the runner already finished it."""
    _transition(session, job_id, "running", pid=pid)


def request_cancel(session: Session, job_id: int) -> Job:
    """Cancel a queued job at once, or flag a running one for the job manager to stop."""
    now = utcnow()
    if not _transition(session, job_id, "queued", status="cancelled", finished_at=now):
        flagged = _transition(session, job_id, "running", cancel_requested=True)
        if not flagged:
            job = get_job(session, job_id)  # NotFound for an unknown id
            raise Conflict(f"job {job_id} already ended ({job.status})")
    return get_job(session, job_id)


def requeue_running(session: Session, job_id: int, max_resumes: int, count: bool = True) -> bool:
    """Put a running job whose driver is gone back in the queue, to resume from its study;
    False when it has been resumed `max_resumes` times already (or is no longer running).
    `count=False` for a stop that was not the job's doing (the service shutting down)."""
    values: dict[str, object] = {"status": "queued", "pid": None}
    condition = [Job.id == job_id, Job.status == "running", Job.cancel_requested.is_(False)]
    if count:
        values["resumes"] = Job.resumes + 1
        condition.append(Job.resumes < max_resumes)
    result = session.execute(
        update(Job).where(*condition).values(**values).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_running(session: Session, job_id: int, status: str, error: str | None = None) -> bool:
    """Write a running job's final status; False when it had already ended."""
    return _transition(
        session, job_id, "running", status=status, error=error, finished_at=utcnow(), pid=None
    )

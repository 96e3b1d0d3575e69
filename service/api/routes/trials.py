"""Trials of a job, read from its Optuna study: list, Pareto front, and a complete trial's
exported module and weights."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, Response

from search.artifacts import weights_path
from search.export import export_trial_module
from search.records import TrialRecord
from search.results import get_trial, list_trials, pareto_front
from service.api.deps import AuthDep, JobId, SessionDep, SettingsDep, StorageDep, TrialNumber
from service.errors import Conflict, NotFound
from service.job_store import get_job, job_spec
from service.schemas import ParetoOut, TrialList, TrialOut

router = APIRouter(prefix="/api/jobs/{job_id}", tags=["trials"])


def _objectives(session: SessionDep, job_id: int) -> list[str]:
    """The job's objective names, in the order of its study's values (404 for no such job)."""
    return list(job_spec(get_job(session, job_id)).objectives)


def _out(record: TrialRecord) -> TrialOut:
    return TrialOut(**record.model_dump())


def _complete_trial(
    session: SessionDep, storage: StorageDep, job_id: int, number: int
) -> TrialRecord:
    record = get_trial(storage, job_id, _objectives(session, job_id), number)
    if record is None:
        raise NotFound(f"job {job_id} has no trial {number}")
    if record.state != "complete":
        raise Conflict(f"trial {number} of job {job_id} is {record.state}, not complete")
    return record


@router.get("/trials")
def trials(
    job_id: JobId,
    session: SessionDep,
    storage: StorageDep,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> TrialList:
    data, count = list_trials(storage, job_id, _objectives(session, job_id), limit, offset)
    return TrialList(data=[_out(r) for r in data], count=count)


@router.get("/pareto")
def pareto(job_id: JobId, session: SessionDep, storage: StorageDep) -> ParetoOut:
    front, hypervolume = pareto_front(storage, job_id, _objectives(session, job_id))
    return ParetoOut(data=[_out(r) for r in front], hypervolume=hypervolume)


@router.get(
    "/trials/{number}/export",
    dependencies=[AuthDep],
    response_class=Response,
    responses={200: {"content": {"text/x-python": {}}}},
)
def export(
    job_id: JobId, number: TrialNumber, session: SessionDep, storage: StorageDep
) -> Response:
    record = _complete_trial(session, storage, job_id, number)
    return Response(
        export_trial_module(record),
        media_type="text/x-python",
        headers={"Content-Disposition": f'attachment; filename="job{job_id}_trial{number}.py"'},
    )


@router.get(
    "/trials/{number}/weights",
    dependencies=[AuthDep],
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def weights(
    job_id: JobId,
    number: TrialNumber,
    session: SessionDep,
    settings: SettingsDep,
    storage: StorageDep,
) -> FileResponse:
    _complete_trial(session, storage, job_id, number)
    path = weights_path(settings.artifacts_dir, job_id, number)
    if not path.is_file():
        raise NotFound(f"trial {number} of job {job_id} has no weights file")
    return FileResponse(
        path, media_type="application/octet-stream", filename=f"job{job_id}_trial{number}.pt"
    )

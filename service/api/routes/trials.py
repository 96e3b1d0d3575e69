"""Trials of a job, read from its Optuna study: a sorted, filtered page of them, one with its
curve, the Pareto front, the hypervolume history, and a complete trial's exported module and
weights.

The hypervolume history carries an ETag that changes with the study (search.results
.study_version): a dashboard polling a job that did not move gets a 304 and no body.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response

from search.artifacts import weights_path
from search.export import export_trial_module
from search.records import TrialRecord, TrialStateName
from search.results import (
    get_trial,
    get_trial_detail,
    hypervolume_history,
    list_trials,
    pareto_front,
    sort_keys,
    study_version,
)
from service.api.deps import AuthDep, JobId, SessionDep, SettingsDep, StorageDep, TrialNumber
from service.errors import Conflict, NotFound
from service.job_store import get_job, job_spec
from service.schemas import (
    HypervolumeOut,
    HypervolumePointOut,
    ParetoOut,
    TrialDetailOut,
    TrialList,
    TrialOut,
)

router = APIRouter(prefix="/api/jobs/{job_id}", tags=["trials"])
_SORT_HELP = (
    "number, one of the job's objectives, test_accuracy, epochs_trained or duration_s; "
    "trials without that value come last in either order"
)
_NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "unchanged since the ETag sent in If-None-Match"}
}


def etag_of(*parts: object) -> str:
    """A weak ETag naming what a response was computed from."""
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    return f'W/"{digest}"'


def not_modified(request: Request, etag: str) -> Response | None:
    """A 304 when the client already holds the response tagged `etag`, else None."""
    sent = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in sent.split(",")) or sent.strip() == "*":
        return Response(status_code=304, headers={"ETag": etag})
    return None


_BODIES: OrderedDict[tuple[Any, ...], tuple[str, bytes, bytes]] = OrderedDict()
_BODIES_LOCK = threading.Lock()
_BODIES_KEPT = 32


def tagged_json(
    request: Request, key: tuple[Any, ...], etag: str, encode: Callable[[], bytes]
) -> Response:
    """The JSON `encode` makes, tagged `etag`: a 304 when the client holds it, else the body
    (gzipped for clients that accept it). The last body per `key` is kept by its ETag, so all
    viewers of a job that did not change get the same bytes without encoding thousands of
    trials again (JSON and gzip are most of such a response's time)."""
    unchanged = not_modified(request, etag)
    if unchanged is not None:
        return unchanged
    with _BODIES_LOCK:
        kept = _BODIES.get(key)
    if kept is None or kept[0] != etag:
        raw = encode()
        kept = (etag, raw, gzip.compress(raw, compresslevel=5))
        with _BODIES_LOCK:
            _BODIES[key] = kept
            _BODIES.move_to_end(key)
            while len(_BODIES) > _BODIES_KEPT:
                _BODIES.popitem(last=False)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
    body = kept[1]
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = kept[2]
    return Response(body, media_type="application/json", headers=headers)


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


@router.get("/trials", response_model=TrialList)
def trials(
    job_id: JobId,
    session: SessionDep,
    storage: StorageDep,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    sort: Annotated[str, Query(description=_SORT_HELP)] = "number",
    order: Literal["asc", "desc"] = "asc",
    state: Annotated[TrialStateName | None, Query(description="only trials in this state")] = None,
) -> Response:
    """A page of the job's trials, sorted, filtered and counted by the database.

    The page is serialised here, once, by its own model: FastAPI would validate it again
    against the response model and encode it a second way, which costs as much as reading
    the page from the database (dashboards poll this)."""
    objectives = _objectives(session, job_id)
    if sort not in sort_keys(objectives):
        # The same shape as pydantic's own errors, so clients parse one kind of 422.
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "sort"),
                    "msg": f"must be one of {sort_keys(objectives)}, got {sort!r}",
                }
            ]
        )
    data, count = list_trials(
        storage,
        job_id,
        objectives,
        limit,
        offset,
        sort=sort,
        descending=order == "desc",
        state=state,
    )
    page = TrialList(data=[_out(r) for r in data], count=count)
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/trials/{number}")
def trial(
    job_id: JobId, number: TrialNumber, session: SessionDep, storage: StorageDep
) -> TrialDetailOut:
    """One trial, in any state, with its per-epoch learning curve."""
    detail = get_trial_detail(storage, job_id, _objectives(session, job_id), number)
    if detail is None:
        raise NotFound(f"job {job_id} has no trial {number}")
    return TrialDetailOut(**detail.model_dump())


@router.get("/hypervolume", responses=_NOT_MODIFIED)
def hypervolume(
    job_id: JobId, request: Request, session: SessionDep, storage: StorageDep
) -> HypervolumeOut:
    """The hypervolume after each finished trial, by completion time (search.pareto's
    normalisation and reference point), with the trial count and wall time of each point."""
    objectives = _objectives(session, job_id)
    etag = etag_of("hypervolume", job_id, objectives, study_version(storage, job_id))

    def encode() -> bytes:
        history, started_at, _ = hypervolume_history(storage, job_id, objectives)
        return (
            HypervolumeOut(
                data=[HypervolumePointOut.model_validate(p, from_attributes=True) for p in history],
                count=len(history),
                hypervolume=history[-1].hypervolume if history else 0.0,
                exact=all(p.exact for p in history),
                started_at=started_at,
            )
            .model_dump_json()
            .encode()
        )

    key = ("hypervolume", str(getattr(storage, "url", "")), job_id)
    return tagged_json(request, key, etag, encode)  # type: ignore[return-value]


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

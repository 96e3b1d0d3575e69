"""Data the dashboard's pages poll: the jobs table's rows, and a job's front as plot columns.

The points of a 5,000-trial job are sent as columns (one array per metric), not as 5,000
objects, with a short architecture summary per point for the hover label instead of the spec;
they carry an ETag that changes with the study, so a poll of a job that did not move is a 304,
and are encoded once per change of the study whoever asks.
Architecture summaries are kept per trial number (a trial's architecture never changes), so a
live job's poll reads only the architectures of trials finished since the last one.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from search.job_spec import DIRECTIONS
from search.results import finished_trials, job_summary, read_progress, study_version, trial_archs
from service.api.deps import JobId, SessionDep, StorageDep
from service.api.routes.trials import etag_of, tagged_json
from service.dashboard.arch_summary import arch_summary
from service.dashboard.render import EMPTY_ROW, job_row
from service.job_store import get_job, job_spec, list_jobs

router = APIRouter(prefix="/dashboard", include_in_schema=False)

# Cost metrics a trained trial records (search.records.ATTR_COSTS), in the order offered, after
# the job's objectives; then facts every finished trial has.
COST_METRICS = ("energy", "sops", "spike_rate", "params", "flops", "energy_ann")
FACTS = ("test_accuracy", "duration_s", "epochs_trained")
# Which way is better for each metric (None: neither, so no front is drawn along it).
BETTER: dict[str, str | None] = {
    **{name: "min" for name in COST_METRICS},
    **{name: ("max" if d == "maximize" else "min") for name, d in DIRECTIONS.items()},
    "test_accuracy": "max",
    "duration_s": "min",
    "epochs_trained": None,
}
_SUMMARIES: OrderedDict[tuple[str, int], dict[int, str]] = OrderedDict()
_SUMMARIES_LOCK = threading.Lock()
_SUMMARY_JOBS = 16  # jobs whose summaries are kept; a few hundred kB each at 5,000 trials


def render_rows(
    session: SessionDep, storage: StorageDep, limit: int, offset: int
) -> tuple[int, str]:
    """How many jobs there are, and the rows of one page of them as HTML."""
    jobs, count = list_jobs(session, limit, offset)
    rows = []
    for job in jobs:
        spec = json.loads(job.spec)
        progress = read_progress(storage, job.id, int(spec["n_trials"])).model_dump()
        # A queued job has no study yet: no need to ask for one.
        summary = None
        if job.status != "queued":
            summary = job_summary(storage, job.id, list(spec["objectives"]))
        rows.append(job_row(job, spec, progress, summary))
    return count, "\n".join(rows) or EMPTY_ROW


@router.get("/jobs/rows")
def job_rows(
    session: SessionDep,
    storage: StorageDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> JSONResponse:
    """The jobs table's rows as HTML (rendered and escaped here, as on the first load)."""
    count, html = render_rows(session, storage, limit, offset)
    return JSONResponse({"count": count, "html": html}, headers={"Cache-Control": "no-store"})


def _summaries(url: str, job_id: int, storage: Any, numbers: list[int]) -> dict[int, str]:
    with _SUMMARIES_LOCK:
        known = _SUMMARIES.setdefault((url, job_id), {})
        _SUMMARIES.move_to_end((url, job_id))
        while len(_SUMMARIES) > _SUMMARY_JOBS:
            _SUMMARIES.popitem(last=False)
        missing = [n for n in numbers if n not in known]
    if missing:
        archs = trial_archs(storage, job_id, missing)
        fresh = {n: arch_summary(archs.get(n)) for n in missing}
        with _SUMMARIES_LOCK:
            known.update(fresh)
    return {n: known[n] for n in numbers}


@router.get("/jobs/{job_id}/points")
def points(job_id: JobId, request: Request, session: SessionDep, storage: StorageDep) -> Response:
    """Every finished trial of the job, as columns for the front's scatter plot."""
    objectives: list[str] = list(job_spec(get_job(session, job_id)).objectives)
    etag = etag_of("points", job_id, objectives, study_version(storage, job_id))
    url = str(getattr(storage, "url", ""))
    key = ("points", url, job_id)
    return tagged_json(request, key, etag, lambda: _points_body(storage, url, job_id, objectives))


def _points_body(storage: Any, url: str, job_id: int, objectives: list[str]) -> bytes:
    finished, _ = finished_trials(storage, job_id, objectives)
    records = [f.record for f in finished]
    numbers = [r.number for r in records]
    summaries = _summaries(url, job_id, storage, numbers)
    # An objective's value is the validation one the sampler saw; a cost metric that is not an
    # objective comes from the trial's recorded costs.
    metrics: dict[str, list[float | None]] = {
        name: [r.values.get(name) for r in records] for name in objectives
    }
    for name in COST_METRICS:
        if name not in metrics and any(name in f.costs for f in finished):
            metrics[name] = [f.costs.get(name) for f in finished]
    metrics["test_accuracy"] = [r.test_accuracy for r in records]
    metrics["duration_s"] = [r.duration_s for r in records]
    metrics["epochs_trained"] = [float(r.epochs_trained) for r in records]
    body = {
        "objectives": objectives,
        "better": {name: BETTER.get(name, "min") for name in metrics},
        "count": len(records),
        "number": numbers,
        "early": [r.early_stopped for r in records],
        "counts": [f.counts for f in finished],
        "front": [f.on_front for f in finished],
        "metrics": metrics,
        "arch": [summaries[n] for n in numbers],
    }
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()

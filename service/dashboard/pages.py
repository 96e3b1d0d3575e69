"""The dashboard's two pages: the jobs (with the submit form) and one job.

Both are rendered on the server with their data as of the request, so they show something
without JavaScript; their scripts (static/) then keep them live. A job page carries the job's
facts for its scripts as JSON in a non-executable <script type="application/json">.
"""

from __future__ import annotations

import json
from typing import Any, get_args

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from search.job_spec import JobSpec, Objective
from search.results import read_progress
from service.api.deps import JobId, SessionDep, SettingsDep, StorageDep
from service.dashboard.assets import plotly_url
from service.dashboard.data import render_rows
from service.dashboard.render import (
    FINAL,
    dataset_label,
    duration,
    elapsed,
    page,
    script_json,
    text,
)
from service.job_store import get_job
from service.models import Job

router = APIRouter(include_in_schema=False)

_SAMPLERS = ("nsga2", "tpe", "random")


def _options(values: tuple[str, ...], chosen: str) -> str:
    return "".join(
        f'<option value="{text(v)}"{" selected" if v == chosen else ""}>{text(v)}</option>'
        for v in values
    )


@router.get("/", response_class=HTMLResponse)
def jobs_page(
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> HTMLResponse:
    count, rows = render_rows(session, storage, limit, offset)
    chosen = JobSpec.model_fields["objectives"].default
    return page(
        "jobs.html",
        count=str(count),
        rows=rows,
        samplers=_options(_SAMPLERS, "nsga2"),
        objectives="".join(
            f'<label><input type="checkbox" name="objectives" value="{o}"'
            f"{' checked' if o in chosen else ''}> {o}</label>"
            for o in get_args(Objective)
        ),
        auth="1" if settings.api_token else "",
        limit=str(limit),
        offset=str(offset),
        plotly=plotly_url(),  # prefetched: the job pages need it
    )


def _job_facts(job: Job, spec: dict[str, Any]) -> str:
    facts = [
        ("data set", dataset_label(spec)),
        ("sampler", spec.get("sampler")),
        ("objectives", ", ".join(spec.get("objectives") or [])),
        ("epochs", (spec.get("budget") or {}).get("epochs")),
        ("seed", spec.get("seed")),
        ("created", f"{job.created_at:%Y-%m-%d %H:%M:%S} UTC"),
    ]
    return "".join(f"<dt>{text(k)}</dt><dd>{text(v)}</dd>" for k, v in facts)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: JobId, session: SessionDep, storage: StorageDep, settings: SettingsDep
) -> HTMLResponse:
    job = get_job(session, job_id)
    spec = json.loads(job.spec)
    progress = read_progress(storage, job.id, int(spec["n_trials"]))
    config = {
        "job": job.id,
        "name": job.name,
        "status": job.status,
        "final": list(FINAL),
        "objectives": spec["objectives"],
        "auth": bool(settings.api_token),
    }
    return page(
        "job.html",
        job_id=str(job.id),
        name=text(job.name),
        status=text(job.status),
        error=text(job.error or ""),
        facts=_job_facts(job, spec),
        complete=str(progress.complete),
        total=str(progress.total),
        elapsed=duration(elapsed(job)),
        cancel_hidden="" if job.status not in FINAL else "hidden",
        config=script_json(config),
        plotly=plotly_url(),
    )

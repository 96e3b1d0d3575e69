"""GET /: the jobs page, rendered on the server from templates/jobs.html.

No JavaScript framework and no external assets, so the page works on a machine without internet
access; it reloads itself every 5 s. Every string a user could have chosen (job name, data set
path, error) is HTML-escaped here, in one place.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from string import Template

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from search.results import read_progress
from service.api.deps import SessionDep, StorageDep
from service.job_store import list_jobs
from service.models import Job

router = APIRouter(tags=["dashboard"])
_PAGE = Template(
    resources.files("service.dashboard").joinpath("templates/jobs.html").read_text("utf-8")
)
_LINKS = (("", "job"), ("/trials", "trials"), ("/pareto", "front"))


def _row(job: Job, complete: int, total: int) -> str:
    spec = json.loads(job.spec)
    dataset = spec["dataset"].get("path") or spec["dataset"]["name"]
    percent = 100 * min(complete, total) // max(1, total)
    links = " ".join(f'<a href="/api/jobs/{job.id}{s}">{label}</a>' for s, label in _LINKS)
    title = f' title="{escape(job.error)}"' if job.error else ""
    return (
        f"<tr><td>{job.id}</td><td>{escape(job.name)}</td>"
        f'<td class="status-{escape(job.status)}"{title}>{escape(job.status)}</td>'
        f'<td><div class="bar"><div style="width:{percent}%"></div></div>{complete}/{total}</td>'
        f"<td>{escape(str(dataset))}</td>"
        f"<td>{job.created_at:%Y-%m-%d %H:%M:%S} UTC</td><td>{links}</td></tr>"
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def jobs_page(
    session: SessionDep,
    storage: StorageDep,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> HTMLResponse:
    jobs, count = list_jobs(session, limit, offset)
    rows = []
    for job in jobs:
        total = int(json.loads(job.spec)["n_trials"])
        rows.append(_row(job, read_progress(storage, job.id, total).complete, total))
    if not rows:
        rows.append('<tr><td colspan="7">No jobs yet: POST one to /api/jobs.</td></tr>')
    return HTMLResponse(_PAGE.substitute(count=count, rows="\n".join(rows)))

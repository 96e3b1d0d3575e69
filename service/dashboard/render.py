"""HTML of the dashboard, rendered on the server from templates/ with string.Template.

Every string a user could have chosen (job name, data set path, error) reaches HTML through
`text` or `attr` here, or through `script_json` for data the page's scripts read; the scripts
themselves put data into the page with textContent only. Pages carry a Content-Security-Policy
that allows scripts from this server's files alone (no inline script), so a string that
slipped through could not run.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from html import escape
from importlib import resources
from string import Template
from typing import Any

from fastapi.responses import HTMLResponse

from search.results import JobSummary
from service.models import Job

FINAL = ("succeeded", "failed", "cancelled")
# 'unsafe-eval': Plotly's WebGL traces (the front past a few thousand trials) generate their
# drawing code with `new Function`; scripts still come only from this server, never inline, so
# markup injected into a page could not run. Styles inline: Plotly sets them on its elements.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_API_LINKS = (("", "job"), ("/trials", "trials"), ("/pareto", "front"))


def text(value: object) -> str:
    """A value as HTML text (or a quoted attribute value): escaped, quotes included."""
    return escape(str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON to embed in <script type="application/json">: no '<', '>' or '&' can end the
    element or open a comment, whatever the strings inside."""
    raw = json.dumps(value, separators=(",", ":"))
    return raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def template(name: str) -> Template:
    source = resources.files("service.dashboard").joinpath(f"templates/{name}")
    return Template(source.read_text("utf-8"))


def page(template_name: str, /, **fields: str) -> HTMLResponse:
    """A template filled with already-escaped fields, with the dashboard's security headers."""
    return HTMLResponse(
        template(template_name).substitute(**fields),
        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"},
    )


def duration(seconds: float | None) -> str:
    """A short human duration: 42 s, 3 min 05 s, 2 h 07 min, 3 d 04 h."""
    if seconds is None:
        return "—"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600:02d} h"


def elapsed(job: Job, now: datetime | None = None) -> float | None:
    """Seconds the job has run (until it ended, or until now); None before it started."""
    if job.started_at is None:
        return None
    end = job.finished_at or now or datetime.now(UTC)
    return (end - job.started_at).total_seconds()


def dataset_label(spec: dict[str, Any]) -> str:
    dataset = spec["dataset"]
    return str(dataset.get("path") or dataset["name"])


def progress_bar(complete: int, running: int, failed: int, total: int) -> str:
    done = 100 * min(complete, total) / max(1, total)
    busy = 100 * min(running, max(0, total - complete)) / max(1, total)
    extra = []
    if running:
        extra.append(f"{running} running")
    if failed:
        extra.append(f"{failed} failed")
    note = f' <span class="muted">({", ".join(extra)})</span>' if extra else ""
    return (
        f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="{total}" '
        f'aria-valuenow="{complete}"><div class="done" style="width:{done:.1f}%"></div>'
        f'<div class="busy" style="width:{busy:.1f}%"></div></div>'
        f'<span class="count">{complete}/{total}</span>{note}'
    )


def job_row(
    job: Job, spec: dict[str, Any], progress: dict[str, int], summary: JobSummary | None
) -> str:
    """One row of the jobs table."""
    links = " ".join(
        f'<a href="/api/jobs/{job.id}{suffix}">{label}</a>' for suffix, label in _API_LINKS
    )
    title = f' title="{text(job.error)}"' if job.error else ""
    best = "—"
    front = "—"
    if summary is not None and summary.finished:
        best = "—" if summary.best_accuracy is None else f"{summary.best_accuracy:.4f}"
        front = str(summary.front_size)
    return (
        f'<tr data-job="{job.id}"><td>{job.id}</td>'
        f'<td><a class="job-link" href="/jobs/{job.id}">{text(job.name)}</a></td>'
        f'<td><span class="status status-{text(job.status)}"{title}>{text(job.status)}</span></td>'
        f"<td>{progress_bar(**progress)}</td>"
        f'<td class="num best">{best}</td><td class="num front">{front}</td>'
        f'<td class="num">{duration(elapsed(job))}</td>'
        f"<td>{text(dataset_label(spec))}</td>"
        f"<td>{job.created_at:%Y-%m-%d %H:%M:%S} UTC</td><td>{links}</td></tr>"
    )


EMPTY_ROW = (
    '<tr><td colspan="10">No jobs yet: submit one with the form, or POST to /api/jobs.</td></tr>'
)

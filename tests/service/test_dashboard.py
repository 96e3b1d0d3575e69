"""The jobs page: every job with its status, progress and links, user strings escaped, no
external assets, and a self-refresh."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from service.db import session_scope
from service.job_store import claim_queued, finish_running
from service.settings import Settings


def test_page_lists_jobs_escaped_with_links(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job(name='<img src=x onerror="alert(1)">')
    with session_scope(settings.database_url) as session:
        claim_queued(session, job_id)
        finish_running(session, job_id, "failed", '<b>"boom"</b>')
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<img" not in html and "<b>" not in html
    assert "&lt;b&gt;&quot;boom&quot;&lt;/b&gt;" in html  # the error, as a tooltip
    assert "failed" in html and "0/3" in html
    for suffix in ("", "/trials", "/pareto"):
        assert f'href="/api/jobs/{job_id}{suffix}"' in html
    assert '<meta http-equiv="refresh" content="5">' in html


def test_page_has_no_external_assets(client: TestClient, add_job: Callable[..., int]) -> None:
    add_job()
    html = client.get("/").text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html


def test_empty_page_says_how_to_start(client: TestClient) -> None:
    assert "No jobs yet" in client.get("/").text

"""The dashboard's pages, data and static files over HTTP: every job listed with its status,
progress and results, user strings escaped wherever they appear, no external assets, a job's
page and the columns its front is drawn from, and Plotly served by the app itself."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import optuna
from fastapi.testclient import TestClient

from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_COSTS,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
)
from search.study import open_storage, study_name
from service.dashboard.arch_summary import arch_lines
from service.db import session_scope
from service.job_store import claim_queued, finish_running
from service.settings import Settings

XSS = '<img src=x onerror="alert(1)">'
SCRIPT_BREAK = "</script><script>alert(1)</script>"
ARCH: dict[str, Any] = {
    "input_shape": [8, 8],
    "num_classes": 10,
    "time_steps": 2,
    "downsample": 2,
    "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2.0}]}],
}
EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?(https?:)?//""")


def _trials(settings: Settings, job_id: int) -> optuna.Study:
    """Four finished trials (one stopped early) and one running."""
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    full = {ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 1, ATTR_EPOCHS_TRAINED: 1}
    for values, energy in [((0.9, 4000.0, 0.2), 50.0), ((0.8, 1000.0, 0.1), 20.0)]:
        attrs = {**full, ATTR_COSTS: {"energy": energy, "sops": 10 * energy}}
        study.add_trial(optuna.trial.create_trial(values=list(values), user_attrs=attrs))
    study.add_trial(optuna.trial.create_trial(values=[0.7, 8000.0, 0.3], user_attrs=full))
    early = {**full, ATTR_EPOCHS_TRAINED: 0, ATTR_EARLY_STOPPED: True}
    study.add_trial(optuna.trial.create_trial(values=[0.95, 10.0, 0.01], user_attrs=early))
    study.ask()
    return study


def _finish(settings: Settings, job_id: int, status: str, error: str | None = None) -> None:
    with session_scope(settings.database_url) as session:
        claim_queued(session, job_id)
        finish_running(session, job_id, status, error)


def test_jobs_page_lists_jobs_escaped_with_links(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job(name=XSS)
    _finish(settings, job_id, "failed", '<b>"boom"</b>')
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "<img" not in html and "<b>" not in html
    assert "&lt;b&gt;&quot;boom&quot;&lt;/b&gt;" in html  # the error, as a tooltip
    assert "failed" in html and "0/3" in html
    assert f'href="/jobs/{job_id}"' in html
    for suffix in ("", "/trials", "/pareto"):
        assert f'href="/api/jobs/{job_id}{suffix}"' in html


def test_jobs_page_shows_results_of_a_job(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job(n_trials=5)
    _finish(settings, job_id, "succeeded")
    _trials(settings, job_id)
    row = re.search(rf'<tr data-job="{job_id}">.*?</tr>', client.get("/").text, re.S)
    assert row is not None
    assert "4/5" in row.group(0) and "1 running" in row.group(0)
    assert '<td class="num best">0.9000</td>' in row.group(0)  # not the early-stopped 0.95
    assert '<td class="num front">2</td>' in row.group(0)


def test_pages_have_no_external_assets_and_a_strict_policy(
    client: TestClient, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    for path in ("/", f"/jobs/{job_id}"):
        page = client.get(path)
        assert not EXTERNAL.search(page.text), path
        policy = page.headers["content-security-policy"]
        assert "script-src 'self' 'unsafe-eval';" in policy and "default-src 'self'" in policy
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
        for asset in re.findall(r"""(?:src|href)="(/dashboard/static/[^"]+)""", page.text):
            assert client.get(asset).status_code == 200, asset


def test_jobs_page_has_the_submit_form(client: TestClient) -> None:
    html = client.get("/").text
    assert 'id="submit-form"' in html and "novalidate" in html
    for name in ("name", "n_trials", "max_concurrent", "epochs", "sampler", "seed", "space"):
        assert f'name="{name}"' in html
    assert html.count('name="objectives"') >= 3
    assert html.count('name="objectives" value="accuracy" checked') == 1
    assert "No jobs yet" in html


def test_rows_fragment_is_escaped(client: TestClient, add_job: Callable[..., int]) -> None:
    add_job(name=XSS)
    rows = client.get("/dashboard/jobs/rows")
    assert rows.status_code == 200 and rows.json()["count"] == 1
    assert "<img" not in rows.json()["html"] and "&lt;img" in rows.json()["html"]


def test_job_page_escapes_the_name_everywhere(
    client: TestClient, add_job: Callable[..., int]
) -> None:
    job_id = add_job(name=SCRIPT_BREAK)
    page = client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    html = page.text
    assert "<script>alert" not in html and "</script><script>" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html  # title and header
    config = re.search(r'<script type="application/json" id="job-config">(.*?)</script>', html)
    assert config is not None
    assert json.loads(config.group(1))["name"] == SCRIPT_BREAK  # intact once parsed
    assert f'"job":{job_id}' in config.group(1)
    assert client.get("/jobs/9999").status_code == 404


def test_points_are_columns_with_an_etag(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    study = _trials(settings, job_id)
    response = client.get(f"/dashboard/jobs/{job_id}/points")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4 and body["number"] == [0, 1, 2, 3]
    assert body["objectives"] == ["accuracy", "params", "spike_rate"]
    assert body["metrics"]["accuracy"] == [0.9, 0.8, 0.7, 0.95]
    assert body["metrics"]["energy"] == [50.0, 20.0, None, None]  # recorded costs
    assert body["better"]["accuracy"] == "max" and body["better"]["energy"] == "min"
    assert body["better"]["epochs_trained"] is None
    assert body["early"] == [False, False, False, True]
    assert body["front"] == [True, True, False, False]  # the early one may not join
    assert body["arch"][0] == "\n".join(arch_lines(ARCH))
    etag = response.headers["etag"]
    unchanged = client.get(f"/dashboard/jobs/{job_id}/points", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and not unchanged.content
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.99, 10.0, 0.01],
            user_attrs={ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 1, ATTR_EPOCHS_TRAINED: 1},
        )
    )
    changed = client.get(f"/dashboard/jobs/{job_id}/points", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["front"][-1] is True
    assert changed.headers["etag"] != etag


def test_points_of_a_job_without_study(client: TestClient, add_job: Callable[..., int]) -> None:
    body = client.get(f"/dashboard/jobs/{add_job()}/points").json()
    assert body["count"] == 0 and body["metrics"]["accuracy"] == []
    assert client.get("/dashboard/jobs/9999/points").status_code == 404


def test_arch_summary_reads_any_spec() -> None:
    assert arch_lines(ARCH) == ["T=2 · ↓2 · lif/sigmoid", "stage 1 · 16: stm h2 ×2"]
    assert arch_lines(None) == ["no architecture recorded"]
    assert arch_lines({"stages": "not a list"})  # whatever was stored, a line comes back


def test_plotly_is_served_by_the_app(client: TestClient, add_job: Callable[..., int]) -> None:
    html = client.get(f"/jobs/{add_job()}").text
    src = re.search(r'<script src="(/dashboard/static/plotly-[0-9a-f]+\.min\.js)"', html)
    assert src is not None
    plain = client.get(src.group(1), headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/javascript")
    assert b"plotly.js" in plain.content[:200] and len(plain.content) > 1_000_000
    assert "immutable" in plain.headers["cache-control"]
    zipped = client.get(src.group(1), headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2
    assert zipped.content == plain.content  # as the client decoded it
    again = client.get(src.group(1), headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/dashboard/static/plotly-0000.min.js").status_code == 404


def test_static_files_are_only_the_dashboards(client: TestClient) -> None:
    script = client.get("/dashboard/static/job.js")
    assert script.status_code == 200 and script.headers["cache-control"] == "no-cache"
    for name in ("nope.js", "..%2Froutes.py", "routes.py", "__init__.py"):
        assert client.get(f"/dashboard/static/{name}").status_code == 404, name


def test_pages_ask_for_the_token_when_the_server_has_one(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    from service.app import create_app

    job_id = add_job()
    guarded = settings.model_copy(update={"api_token": "secret"})
    with TestClient(create_app(guarded)) as client:
        assert 'data-auth="1"' in client.get("/").text
        config = re.search(r'id="job-config">(.*?)</script>', client.get(f"/jobs/{job_id}").text)
        assert config is not None and json.loads(config.group(1))["auth"] is True
        assert "secret" not in client.get("/").text
        refused = client.post(f"/api/jobs/{job_id}/cancel")
        assert refused.status_code == 401  # what the page shows, asking for the token

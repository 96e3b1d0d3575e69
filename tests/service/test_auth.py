"""The bearer token: with SPIKENAS_API_TOKEN set, writes and downloads (exports, weights, logs)
need it; reads do not. Checked route by route over the whole app, so a new route is covered."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.deps import needs_token
from service.app import create_app
from service.settings import Settings

TOKEN = "t0ken-with-enough-entropy"
GOOD = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def secured(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"api_token": TOKEN}))) as c:
        yield c


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", f"Bearer {TOKEN}x", f"Basic {TOKEN}", f"bearer{TOKEN}", TOKEN],
)
def test_writes_need_the_exact_token(
    secured: TestClient, job_body: dict[str, Any], header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = secured.post("/api/jobs", json=job_body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]
    assert TOKEN not in response.text


def test_token_opens_writes_and_downloads(
    secured: TestClient, job_body: dict[str, Any], add_job: Callable[..., int]
) -> None:
    assert secured.post("/api/jobs", json=job_body, headers=GOOD).status_code == 201
    job_id = add_job()
    assert secured.post(f"/api/jobs/{job_id}/cancel").status_code == 401
    assert secured.post(f"/api/jobs/{job_id}/cancel", headers=GOOD).status_code == 202
    for download in ("export", "weights"):
        path = f"/api/jobs/{job_id}/trials/0/{download}"
        assert secured.get(path).status_code == 401
        assert secured.get(path, headers=GOOD).status_code == 404  # past auth: no such trial
    # Reads stay open: the dashboard and monitoring need no secret.
    for path in ("/api/health", "/api/jobs", f"/api/jobs/{job_id}", "/"):
        assert secured.get(path).status_code == 200, path
    assert secured.get(f"/api/jobs/{job_id}/trials").status_code == 200


def test_an_invalid_body_without_token_is_401_not_422(
    secured: TestClient, job_body: dict[str, Any]
) -> None:
    # Validation details would tell a stranger about the API; auth comes first.
    assert secured.post("/api/jobs", json={**job_body, "n_trials": -1}).status_code == 401


def test_no_token_configured_means_no_auth(client: TestClient, job_body: dict[str, Any]) -> None:
    assert client.post("/api/jobs", json=job_body).status_code == 201


def _concrete(path: str, job_id: int) -> str:
    return path.replace("{job_id}", str(job_id)).replace("{number}", "0")


def test_every_write_and_download_of_the_app_needs_the_token(
    secured: TestClient, add_job: Callable[..., int]
) -> None:
    """Walks the app's routes (its OpenAPI paths), so that one added later is checked too."""
    job_id = add_job()
    guarded, open_ = set(), set()
    paths = secured.get("/openapi.json").json()["paths"]
    for template, operations in paths.items():
        for method in operations:
            method = method.upper()
            response = secured.request(method, _concrete(template, job_id))
            if needs_token(method, template):
                assert response.status_code == 401, (method, template)
                guarded.add((method, template))
            else:
                assert response.status_code != 401, (method, template)
                open_.add((method, template))
    assert {
        ("POST", "/api/jobs"),
        ("POST", "/api/jobs/{job_id}/cancel"),
        ("GET", "/api/jobs/{job_id}/trials/{number}/export"),
        ("GET", "/api/jobs/{job_id}/trials/{number}/weights"),
        ("GET", "/api/jobs/{job_id}/log"),
    } <= guarded
    assert ("GET", "/api/jobs/{job_id}/trials") in open_
    assert _job_status(secured, job_id) == "queued"  # nothing got through


def _job_status(client: TestClient, job_id: int) -> str:
    return str(client.get(f"/api/jobs/{job_id}").json()["status"])


def test_a_write_route_that_forgets_the_token_is_still_guarded(
    settings: Settings,
) -> None:
    app = create_app(settings.model_copy(update={"api_token": TOKEN}), start_jobs=False)

    def careless() -> dict[str, str]:
        return {"done": "yes"}

    app.add_api_route("/api/careless", careless, methods=["POST"])
    app.add_api_route("/api/jobs/{job_id}/trials/{number}/export-nir", careless)
    with TestClient(app) as c:
        assert c.post("/api/careless").status_code == 401
        assert c.get("/api/jobs/1/trials/0/export-nir").status_code == 401
        assert c.post("/api/careless", headers=GOOD).json() == {"done": "yes"}

"""Error responses: JSON everywhere, the right codes, and nothing internal for a client."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from optuna.exceptions import StorageInternalError

from service.app import create_app
from service.settings import Settings


def test_unexpected_error_is_a_bare_json_500(settings: Settings) -> None:
    app = create_app(settings, start_jobs=False)

    def boom() -> None:
        raise RuntimeError("secret internal state /etc/shadow")

    app.add_api_route("/api/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json() == {"detail": "internal error; see the service log"}


def test_database_down_is_503_without_details(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/no-such-dir/spikenas.db",
        data_dir=tmp_path,
        artifacts_dir=tmp_path,
    )
    # Without the lifespan (no `with`): the app starts, the store fails on the first request.
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    response = client.get("/api/jobs")
    assert response.status_code == 503
    assert "no-such-dir" not in response.text
    assert "unavailable" in response.json()["detail"]
    assert client.get("/api/health").json() == {"status": "ok"}


def test_unknown_route_and_bad_json_are_json(client: TestClient) -> None:
    assert client.get("/api/nothing").json() == {"detail": "Not Found"}
    response = client.post(
        "/api/jobs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422 and isinstance(response.json()["detail"], list)


def test_optuna_storage_errors_are_503_without_details(settings: Settings) -> None:
    app = create_app(settings, start_jobs=False)

    def lost() -> None:
        raise StorageInternalError("An exception is raised during the commit: secret DSN")

    app.add_api_route("/api/lost", lost)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/lost")
    assert response.status_code == 503 and "secret" not in response.text
    assert "unavailable" in response.json()["detail"]

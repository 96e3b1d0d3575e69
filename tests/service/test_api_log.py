"""GET /api/jobs/{id}/log: the driver's log as text, by byte range or tail, behind the token."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def _write_log(settings: Settings, job_id: int, text: str) -> None:
    path = settings.artifacts_dir / f"job-{job_id}" / "driver.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())


def test_log_ranges_and_tail(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    empty = client.get(f"/api/jobs/{job_id}/log")
    assert empty.status_code == 200 and empty.text == ""  # not started: no log yet
    assert empty.headers["x-log-size"] == "0"

    lines = "".join(f"line {i}\n" for i in range(1000))
    _write_log(settings, job_id, lines)
    whole = client.get(f"/api/jobs/{job_id}/log?limit=1000000")
    assert whole.text == lines and whole.headers["content-type"].startswith("text/plain")
    assert whole.headers["x-log-size"] == str(len(lines))

    page = client.get(f"/api/jobs/{job_id}/log?offset=7&limit=7")
    assert page.text == "line 1\n" and page.headers["x-log-offset"] == "7"
    tail = client.get(f"/api/jobs/{job_id}/log?tail=9")
    assert tail.text == "line 999\n"
    assert client.get(f"/api/jobs/{job_id}/log?offset=99999999").text == ""


def test_log_bounds_and_unknown_job(client: TestClient, add_job: Callable[..., int]) -> None:
    job_id = add_job()
    for bad in ("limit=0", "limit=99999999", "tail=0", "offset=-1"):
        response = client.get(f"/api/jobs/{job_id}/log?{bad}")
        assert response.status_code == 422, bad
        assert bad.split("=")[0] in str(response.json())
    missing = client.get("/api/jobs/4242/log")
    assert missing.status_code == 404 and missing.json() == {"detail": "job 4242 not found"}


def test_log_bytes_that_are_not_utf8_are_replaced(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    path = settings.artifacts_dir / f"job-{job_id}" / "driver.log"
    path.parent.mkdir(parents=True)
    path.write_bytes("é".encode() + b"\xff ok\n")
    response = client.get(f"/api/jobs/{job_id}/log?offset=1")  # cuts the é in two
    assert response.status_code == 200 and response.text == "\ufffd\ufffd ok\n"


def test_log_needs_the_token(settings: Settings, add_job: Callable[..., int]) -> None:
    job_id = add_job()
    _write_log(settings, job_id, "secret paths\n")
    secured = settings.model_copy(update={"api_token": "tok"})
    with TestClient(create_app(secured, start_jobs=False)) as c:
        denied = c.get(f"/api/jobs/{job_id}/log")
        assert denied.status_code == 401 and "secret" not in denied.text
        allowed = c.get(f"/api/jobs/{job_id}/log", headers={"Authorization": "Bearer tok"})
        assert allowed.text == "secret paths\n"

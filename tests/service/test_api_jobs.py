"""The jobs resource beyond the basics of test_api.py: the response shape, listing order and
bounds, and cancel in each state, with the job manager running (launching nothing)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import optuna
from fastapi.testclient import TestClient

from search.resume import ATTR_INTERRUPTED
from search.study import open_storage, study_name
from service.db import session_scope
from service.job_store import claim_queued, finish_running, get_job
from service.settings import Settings

JOB_FIELDS = {
    "id",
    "name",
    "status",
    "spec",
    "progress",
    "created_at",
    "started_at",
    "finished_at",
    "error",
}


def test_created_job_has_the_contract_shape(client: TestClient, job_body: dict[str, Any]) -> None:
    response = client.post("/api/jobs", json=job_body)
    assert response.status_code == 201
    job = response.json()
    assert set(job) == JOB_FIELDS
    assert job["status"] == "queued" and job["error"] is None
    assert job["started_at"] is None and job["finished_at"] is None
    assert datetime.fromisoformat(job["created_at"]).tzinfo is not None  # UTC, with offset
    # The stored spec is the validated one, defaults filled in.
    assert job["spec"]["n_trials"] == 3 and "space" in job["spec"]
    assert set(job["progress"]) == {"complete", "running", "failed", "total"}


def test_list_is_newest_first_with_bounds(client: TestClient, add_job: Callable[..., int]) -> None:
    ids = [add_job(name=f"job-{i}") for i in range(5)]
    listed = client.get("/api/jobs").json()
    assert listed["count"] == 5 and [j["id"] for j in listed["data"]] == ids[::-1]
    page = client.get("/api/jobs?limit=2&offset=1").json()
    assert page["count"] == 5 and [j["id"] for j in page["data"]] == ids[::-1][1:3]
    assert client.get("/api/jobs?offset=10").json() == {"data": [], "count": 5}
    for bad in ("limit=0", "limit=100000", "offset=-1", "limit=x"):
        response = client.get(f"/api/jobs?{bad}")
        assert response.status_code == 422, bad
        assert bad.split("=")[0] in str(response.json())


def test_unknown_job_404_body(client: TestClient) -> None:
    response = client.get("/api/jobs/5")
    assert response.status_code == 404 and response.json() == {"detail": "job 5 not found"}
    assert client.get("/api/jobs/99999999999999").status_code == 422  # beyond any id


def test_cancel_running_job_flags_it_for_the_manager(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    with session_scope(settings.database_url) as session:
        assert claim_queued(session, job_id)
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "running"  # until its driver has stopped
    with session_scope(settings.database_url) as session:
        assert get_job(session, job_id).cancel_requested
    # Asking twice is harmless while it stops.
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 202


def test_cancel_ended_jobs_is_409(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    for final in ("succeeded", "failed", "cancelled"):
        job_id = add_job()
        with session_scope(settings.database_url) as session:
            claim_queued(session, job_id)
            finish_running(session, job_id, final, "why" if final == "failed" else None)
        response = client.post(f"/api/jobs/{job_id}/cancel")
        assert response.status_code == 409
        assert final in response.json()["detail"]
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["status"] == final and job["finished_at"] is not None


def test_queued_cancel_sets_finished_at(client: TestClient, add_job: Callable[..., int]) -> None:
    job_id = add_job()
    job = client.post(f"/api/jobs/{job_id}/cancel").json()
    assert job["status"] == "cancelled" and job["finished_at"] is not None
    assert job["started_at"] is None


def test_cancel_of_a_job_waiting_to_resume_closes_its_stale_trials(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()  # queued again after its driver died, its study as the driver left it
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    study.add_trial(optuna.trial.create_trial(values=[0.9, 1000.0, 0.1]))
    study.ask()  # running when the driver died
    response = client.post(f"/api/jobs/{job_id}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    progress = client.get(f"/api/jobs/{job_id}").json()["progress"]
    assert progress == {"complete": 1, "running": 0, "failed": 1, "total": 3}
    stale = study.get_trials()[1]
    assert "cancelled" in stale.user_attrs[ATTR_INTERRUPTED]

"""The trial endpoints the dashboard reads: a sorted, filtered page of trials, one trial with
its curve, and the hypervolume history with its ETag."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from fastapi.testclient import TestClient

from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EPOCHS_TRAINED,
    ATTR_ERROR,
    ATTR_REJECTED,
    ATTR_TEST_ACCURACY,
)
from search.study import open_storage, study_name
from service.settings import Settings

ARCH: dict[str, Any] = {"input_shape": [8, 8], "num_classes": 10, "stages": []}
CURVE = [{"epoch": 1.0, "accuracy": 0.5, "train_loss": 1.2}, {"epoch": 2.0, "accuracy": 0.8}]


def _study(settings: Settings, job_id: int) -> optuna.Study:
    """0-3 complete with ties and gaps, 4 failed, 5 rejected, 6 running."""
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    base = {ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 2, ATTR_EPOCHS_TRAINED: 2, ATTR_CURVE: CURVE}
    for values, test, duration in [
        ((0.7, 300.0, 0.3), 0.69, 30.0),
        ((0.9, 100.0, 0.2), None, 10.0),
        ((0.8, 200.0, 0.2), 0.79, None),
        ((0.9, 400.0, 0.1), 0.88, 20.0),
    ]:
        attrs = dict(base)
        if test is not None:
            attrs[ATTR_TEST_ACCURACY] = test
        if duration is not None:
            attrs[ATTR_DURATION_S] = duration
        study.add_trial(optuna.trial.create_trial(values=list(values), user_attrs=attrs))
    failed = optuna.trial.TrialState.FAIL
    study.add_trial(optuna.trial.create_trial(state=failed, user_attrs={ATTR_ERROR: "boom"}))
    study.add_trial(
        optuna.trial.create_trial(state=failed, user_attrs={ATTR_REJECTED: "too big", **base})
    )
    study.ask()
    return study


def _numbers(client: TestClient, job_id: int, query: str) -> list[int]:
    response = client.get(f"/api/jobs/{job_id}/trials?{query}")
    assert response.status_code == 200, response.text
    return [t["number"] for t in response.json()["data"]]


def test_sort_order_and_state(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    _study(settings, job_id)
    assert _numbers(client, job_id, "") == [0, 1, 2, 3, 4, 5, 6]
    assert _numbers(client, job_id, "order=desc") == [6, 5, 4, 3, 2, 1, 0]
    # Ties go by number; trials without a value come last in either order.
    assert _numbers(client, job_id, "sort=accuracy&order=desc") == [1, 3, 2, 0, 4, 5, 6]
    assert _numbers(client, job_id, "sort=accuracy") == [0, 2, 1, 3, 4, 5, 6]
    assert _numbers(client, job_id, "sort=test_accuracy&order=desc&state=complete") == [3, 2, 0, 1]
    assert _numbers(client, job_id, "sort=duration_s&state=complete&limit=2&offset=1") == [3, 0]
    assert _numbers(client, job_id, "state=failed") == [4]
    assert _numbers(client, job_id, "state=rejected") == [5]
    assert _numbers(client, job_id, "state=running") == [6]
    page = client.get(f"/api/jobs/{job_id}/trials?state=complete&limit=1").json()
    assert page["count"] == 4 and len(page["data"]) == 1


def test_bad_query_names_the_parameter(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job(objectives=["accuracy", "params"])
    for query, field in [
        ("sort=spike_rate", "query.sort"),  # not an objective of this job
        ("sort=arch", "query.sort"),
        ("order=up", "query.order"),
        ("state=done", "query.state"),
    ]:
        response = client.get(f"/api/jobs/{job_id}/trials?{query}")
        assert response.status_code == 422, query
        assert response.json()["detail"][0]["msg"].startswith(field), response.json()
    assert client.get("/api/jobs/9999/trials?sort=accuracy").status_code == 404


def test_one_trial_with_its_curve(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    _study(settings, job_id)
    trial = client.get(f"/api/jobs/{job_id}/trials/3").json()
    assert trial["number"] == 3 and trial["state"] == "complete"
    assert trial["values"] == {"accuracy": 0.9, "params": 400.0, "spike_rate": 0.1}
    assert trial["curve"] == CURVE and trial["budget_epochs"] == 2
    assert trial["arch"] == ARCH and trial["completed_at"] and trial["started_at"]
    assert client.get(f"/api/jobs/{job_id}/trials/5").json()["error"] == "too big"
    assert client.get(f"/api/jobs/{job_id}/trials/4").json()["error"] == "boom"
    running = client.get(f"/api/jobs/{job_id}/trials/6").json()
    assert running["state"] == "running" and running["curve"] == []
    missing = client.get(f"/api/jobs/{job_id}/trials/7")
    assert missing.status_code == 404 and "no trial 7" in missing.json()["detail"]


def test_hypervolume_history(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    empty = client.get(f"/api/jobs/{job_id}/hypervolume").json()
    assert empty == {"data": [], "count": 0, "hypervolume": 0.0, "exact": True, "started_at": None}
    study = _study(settings, job_id)
    response = client.get(f"/api/jobs/{job_id}/hypervolume")
    body = response.json()
    assert body["count"] == 4 and [p["trial"] for p in body["data"]] == [1, 2, 3, 4]
    assert [p["number"] for p in body["data"]] == [0, 1, 2, 3]
    volumes = [p["hypervolume"] for p in body["data"]]
    assert volumes == sorted(volumes) and volumes[0] > 0
    assert body["hypervolume"] == client.get(f"/api/jobs/{job_id}/pareto").json()["hypervolume"]
    assert all(p["elapsed_s"] >= 0 and p["completed_at"] for p in body["data"])
    assert body["exact"] and body["started_at"]

    etag = response.headers["etag"]
    cached = client.get(f"/api/jobs/{job_id}/hypervolume", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    attrs = {ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 2, ATTR_EPOCHS_TRAINED: 2}
    study.add_trial(optuna.trial.create_trial(values=[0.99, 50.0, 0.05], user_attrs=attrs))
    fresh = client.get(f"/api/jobs/{job_id}/hypervolume", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["count"] == 5
    assert fresh.json()["hypervolume"] > body["hypervolume"]

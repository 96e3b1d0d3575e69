"""The REST API through the real app, the real HTTP stack and a real database (SQLite and
PostgreSQL). Trials come from a real Optuna study in the same database, written the way the
driver writes them; the job manager is off here (tests/e2e runs real searches)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from fastapi.testclient import TestClient

from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_TEST_ACCURACY,
)
from search.study import open_storage, study_name
from service.app import create_app
from service.settings import Settings
from spaces.arch import ArchSpec
from spaces.build import build_model
from workers.artifacts import weights_path

ARCH = {
    "input_shape": [8, 8],
    "num_classes": 10,
    "time_steps": 2,
    "downsample": 2,
    "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2.0}]}],
}
JOB = {
    "name": "api-test",
    "dataset": {"name": "digits"},
    "n_trials": 4,
    "max_concurrent": 2,
    "budget": {"epochs": 3},
    "sampler": "random",
    "objectives": ["accuracy", "params", "spike_rate"],
    "seed": 0,
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    (tmp_path / "data").mkdir()
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        artifacts_dir=tmp_path / "artifacts",
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, start_jobs=False)) as c:
        yield c


def _record_trials(settings: Settings, job_id: int) -> optuna.Study:
    """Write the study the driver would have written: 3 finished, 1 early-stopped, 1 running."""
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    rows = [
        ((0.90, 5000.0, 0.20), False),
        ((0.80, 3000.0, 0.10), False),
        ((0.70, 9000.0, 0.30), False),  # dominated by the first
        ((0.99, 1000.0, 0.05), True),  # best everywhere, but stopped early
    ]
    for values, early in rows:
        study.add_trial(
            optuna.trial.create_trial(
                values=list(values),
                user_attrs={
                    ATTR_ARCH: ARCH,
                    ATTR_BUDGET_EPOCHS: 3,
                    ATTR_EPOCHS_TRAINED: 1 if early else 3,
                    ATTR_EARLY_STOPPED: early,
                    ATTR_TEST_ACCURACY: None if early else values[0] - 0.01,
                    ATTR_DURATION_S: 12.5,
                },
            )
        )
    study.ask()  # trial 4 is running
    return study


def test_health(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"status": "ok"}


def test_submit_and_read_job(client: TestClient) -> None:
    created = client.post("/api/jobs", json=JOB)
    assert created.status_code == 201
    job = created.json()
    assert job["status"] == "queued" and job["name"] == "api-test"
    assert job["progress"] == {"complete": 0, "running": 0, "failed": 0, "total": 4}
    assert job["spec"]["budget"]["epochs"] == 3
    assert client.get(f"/api/jobs/{job['id']}").json()["id"] == job["id"]
    listed = client.get("/api/jobs").json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == job["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"n_trials": -1}, "n_trials"),
        ({"n_trials": 10**9}, "n_trials"),
        ({"budget": {"epochs": 0}}, "budget.epochs"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"sampler": "grid"}, "sampler"),
        ({"objectives": ["accuracy", "accuracy"]}, "objectives"),
        ({"dataset": {"name": "npz", "path": "../outside.npz"}}, "dataset"),
        ({"dataset": {"name": "npz", "path": "/etc/passwd"}}, "dataset"),
        ({"dataset": {"name": "npz", "path": "missing.npz"}}, "dataset.path"),
        ({"space": {"dims": [12]}}, "space.dims"),
        ({"colour": "blue"}, "colour"),
        ({"encoding": "poisson"}, "encoding"),
        ({"encoding": "events"}, "encoding"),  # digits holds static images
    ],
)
def test_bad_job_gets_422_naming_the_field(
    client: TestClient, change: dict[str, object], field: str
) -> None:
    response = client.post("/api/jobs", json={**JOB, **change})
    assert response.status_code == 422
    messages = " ".join(e["msg"] for e in response.json()["detail"])
    assert field in messages
    assert client.get("/api/jobs").json()["count"] == 0  # nothing stored


def test_npz_dataset_inside_data_dir_is_accepted(client: TestClient, settings: Settings) -> None:
    x = np.random.rand(20, 8).astype(np.float32)
    y = np.arange(20) % 2
    np.savez(settings.data_dir / "seq.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    response = client.post("/api/jobs", json={**JOB, "dataset": {"name": "npz", "path": "seq.npz"}})
    assert response.status_code == 201


def test_encoding_is_accepted_and_kept(client: TestClient, settings: Settings) -> None:
    x = np.random.rand(20, 4, 1, 4, 4).astype(np.float32)
    y = np.arange(20) % 2
    np.savez(settings.data_dir / "dvs.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    body = {**JOB, "dataset": {"name": "npz", "path": "dvs.npz"}, "encoding": "events"}
    response = client.post("/api/jobs", json=body)
    assert response.status_code == 201
    assert response.json()["spec"]["encoding"] == "events"
    assert client.post("/api/jobs", json={**JOB, "encoding": "rate"}).status_code == 201
    assert client.post("/api/jobs", json=JOB).json()["spec"]["encoding"] == "direct"


def test_unknown_ids_get_404(client: TestClient) -> None:
    assert client.get("/api/jobs/987654321").status_code == 404
    assert "not found" in client.get("/api/jobs/987654321").json()["detail"]
    assert client.get("/api/jobs/987654321/trials").status_code == 404
    assert client.post("/api/jobs/987654321/cancel").status_code == 404
    job = client.post("/api/jobs", json=JOB).json()
    assert client.get(f"/api/jobs/{job['id']}/trials/5/export").status_code == 404


def test_cancel_queued_then_finished(client: TestClient) -> None:
    job = client.post("/api/jobs", json=JOB).json()
    cancelled = client.post(f"/api/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/api/jobs/{job['id']}/cancel")
    assert again.status_code == 409


def test_trials_front_and_export(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    job = client.post("/api/jobs", json=JOB).json()
    _record_trials(settings, job["id"])
    assert client.get(f"/api/jobs/{job['id']}").json()["progress"] == {
        "complete": 4,
        "running": 1,
        "failed": 0,
        "total": 4,
    }
    page = client.get(f"/api/jobs/{job['id']}/trials?limit=2&offset=1").json()
    assert page["count"] == 5 and [t["number"] for t in page["data"]] == [1, 2]
    assert page["data"][0]["values"] == {"accuracy": 0.8, "params": 3000.0, "spike_rate": 0.1}
    assert page["data"][0]["arch"] == ARCH
    assert client.get(f"/api/jobs/{job['id']}/trials?limit=0").status_code == 422

    pareto = client.get(f"/api/jobs/{job['id']}/pareto").json()
    assert sorted(t["number"] for t in pareto["data"]) == [0, 1]  # no early-stopped, dominated
    assert 0.0 < pareto["hypervolume"] < 1.0

    module = client.get(f"/api/jobs/{job['id']}/trials/0/export")
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("text/x-python")
    assert "def build_model" in module.text
    assert client.get(f"/api/jobs/{job['id']}/trials/4/export").status_code == 409  # running
    assert client.get(f"/api/jobs/{job['id']}/trials/0/weights").status_code == 404  # no file

    path = weights_path(settings.artifacts_dir, job["id"], 0)
    path.parent.mkdir(parents=True)
    model = build_model(ArchSpec.model_validate(ARCH), seed=0)
    torch.save(model.state_dict(), path)
    weights = client.get(f"/api/jobs/{job['id']}/trials/0/weights")
    assert weights.status_code == 200
    (tmp_path / "w.pt").write_bytes(weights.content)
    loaded = torch.load(tmp_path / "w.pt", weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())


def test_token_guards_writes_and_exports(settings: Settings) -> None:
    secured = settings.model_copy(update={"api_token": "s3cret"})
    with TestClient(create_app(secured, start_jobs=False)) as c:
        assert c.post("/api/jobs", json=JOB).status_code == 401
        bad = {"Authorization": "Bearer wrong"}
        assert c.post("/api/jobs", json=JOB, headers=bad).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        job = c.post("/api/jobs", json=JOB, headers=good)
        assert job.status_code == 201
        assert c.get("/api/jobs").status_code == 200  # reads stay open
        export = f"/api/jobs/{job.json()['id']}/trials/0/export"
        assert c.get(export).status_code == 401
        assert c.get(export, headers=good).status_code == 404


def test_dashboard_lists_jobs_escaped(client: TestClient) -> None:
    client.post("/api/jobs", json={**JOB, "name": "<script>alert(1)</script>"})
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text

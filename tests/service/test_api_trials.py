"""Trials, front and export of a job whose study exists or not yet, in the same database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from fastapi.testclient import TestClient

from search.records import ATTR_ARCH, ATTR_BUDGET_EPOCHS, ATTR_EPOCHS_TRAINED
from search.study import open_storage, study_name
from service.settings import Settings

ARCH: dict[str, Any] = {
    "input_shape": [8, 8],
    "num_classes": 10,
    "time_steps": 2,
    "downsample": 2,
    "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2.0}]}],
}
DIST = {"width": optuna.distributions.IntDistribution(8, 64)}


def _study(settings: Settings, job_id: int, objectives: int = 3) -> optuna.Study:
    directions = ["maximize", "minimize", "minimize"][:objectives]
    return optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=directions,
    )


def test_job_without_study_yet(client: TestClient, add_job: Callable[..., int]) -> None:
    job_id = add_job()
    assert client.get(f"/api/jobs/{job_id}/trials").json() == {"data": [], "count": 0}
    assert client.get(f"/api/jobs/{job_id}/pareto").json() == {"data": [], "hypervolume": 0.0}
    assert client.get(f"/api/jobs/{job_id}/trials/0/export").status_code == 404


def test_values_are_named_by_the_jobs_objectives(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job(objectives=["accuracy", "params"])
    study = _study(settings, job_id, objectives=2)
    for i, values in enumerate([(0.9, 4000.0), (0.8, 1000.0), (0.7, 8000.0)]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"width": 16 + i},
                distributions=DIST,
                values=list(values),
                user_attrs={ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 1, ATTR_EPOCHS_TRAINED: 1},
            )
        )
    trials = client.get(f"/api/jobs/{job_id}/trials").json()
    assert trials["count"] == 3
    assert trials["data"][1]["values"] == {"accuracy": 0.8, "params": 1000.0}
    assert set(trials["data"][0]) == {
        "number",
        "state",
        "arch",
        "values",
        "test_accuracy",
        "epochs_trained",
        "early_stopped",
        "duration_s",
    }
    pareto = client.get(f"/api/jobs/{job_id}/pareto").json()
    assert [t["number"] for t in pareto["data"]] == [0, 1]  # most accurate first
    assert pareto["hypervolume"] > 0.0
    export = client.get(f"/api/jobs/{job_id}/trials/1/export")
    assert export.status_code == 200
    assert 'filename="job' in export.headers["content-disposition"]
    assert f"job{job_id}_trial1.py" in export.headers["content-disposition"]
    compile(export.text, "exported.py", "exec")  # it is Python source


def test_failed_and_archless_trials_cannot_be_exported(
    client: TestClient, settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    study = _study(settings, job_id)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    study.add_trial(optuna.trial.create_trial(values=[0.5, 10.0, 0.1]))  # no arch recorded
    failed = client.get(f"/api/jobs/{job_id}/trials/0/export")
    assert failed.status_code == 409 and "failed" in failed.json()["detail"]
    archless = client.get(f"/api/jobs/{job_id}/trials/1/export")
    assert archless.status_code == 409 and "architecture" in archless.json()["detail"]
    assert client.get(f"/api/jobs/{job_id}/trials/0/weights").status_code == 409
    progress = client.get(f"/api/jobs/{job_id}").json()["progress"]
    assert progress == {"complete": 1, "running": 0, "failed": 1, "total": 3}

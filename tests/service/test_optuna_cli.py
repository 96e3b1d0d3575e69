"""A job's study is an ordinary Optuna study on the service's URL: the `optuna` command line (and
so optuna-dashboard, which reads the same tables) finds it beside the service's own tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
from fastapi.testclient import TestClient

from search.records import ATTR_ARCH
from search.study import open_storage, study_name
from service.settings import Settings

OPTUNA = str(Path(sys.executable).parent / "optuna")


def _optuna(*args: str) -> Any:
    done = subprocess.run(
        [OPTUNA, *args, "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_optuna_cli_lists_the_jobs_study(
    client: TestClient, settings: Settings, job_body: dict[str, Any]
) -> None:
    job_id = client.post("/api/jobs", json=job_body).json()["id"]
    # The study as the driver creates it, on the service's own URL.
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    study.add_trial(
        optuna.trial.create_trial(values=[0.9, 1000.0, 0.1], user_attrs={ATTR_ARCH: {"x": 1}})
    )

    studies = _optuna("studies", "--storage", settings.database_url)
    names = {s["name"] for s in studies}
    assert study_name(job_id) in names
    trials = _optuna(
        "trials", "--study-name", study_name(job_id), "--storage", settings.database_url
    )
    assert len(trials) == 1 and trials[0]["state"] == "COMPLETE"
    # And the service still reads its tables after Optuna's command line opened the database.
    assert client.get(f"/api/jobs/{job_id}").json()["progress"]["complete"] == 1

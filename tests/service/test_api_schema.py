"""Schemathesis against /openapi.json of the real app on SQLite: generated requests, valid and
not, for every operation; no answer may be a 5xx or break the documented schema.

A job with a study (finished, failed and running trials) and a log is in the database, so that
generated ids sometimes hit real rows. Bounded: a few dozen examples per operation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from search.job_spec import JobSpec
from search.records import ATTR_ARCH, ATTR_BUDGET_EPOCHS, ATTR_EPOCHS_TRAINED
from search.study import open_storage, study_name
from service.app import create_app
from service.db import get_engine, session_scope
from service.job_store import create_job
from service.settings import Settings

JOB = {
    "name": "schema-test",
    "dataset": {"name": "digits"},
    "n_trials": 3,
    "budget": {"epochs": 1},
    "sampler": "random",
}
ARCH = {
    "input_shape": [8, 8],
    "num_classes": 10,
    "time_steps": 2,
    "downsample": 2,
    "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2.0}]}],
}


def _seed(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        job_id = create_job(session, JobSpec.model_validate(JOB)).id
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    attrs = {ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 1, ATTR_EPOCHS_TRAINED: 1}
    study.add_trial(optuna.trial.create_trial(values=[0.9, 5000.0, 0.2], user_attrs=attrs))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    study.ask()
    log = settings.artifacts_dir / f"job-{job_id}" / "driver.log"
    log.parent.mkdir(parents=True)
    log.write_text("--- starting the driver of job 1\n")


# The app and its schema are built at import, as schemathesis' parametrize needs them then;
# the app touches no database until a request comes, and the fixture below makes one first.
_DIR = Path(tempfile.gettempdir()) / f"spikenas-schema-{os.getpid()}"
_SETTINGS = Settings(
    database_url=f"sqlite:///{_DIR}/schema.db",
    data_dir=_DIR / "data",
    artifacts_dir=_DIR / "artifacts",
    max_running_jobs=0,
)
_APP = create_app(_SETTINGS, start_jobs=False)
schema = schemathesis.openapi.from_dict(_APP.openapi())
schema.app = _APP  # requests go to the app in-process, as from_asgi would send them


@pytest.fixture(scope="module", autouse=True)
def seeded_database() -> Iterator[None]:
    shutil.rmtree(_DIR, ignore_errors=True)
    (_DIR / "data").mkdir(parents=True)
    get_engine(_SETTINGS.database_url)  # what the lifespan does
    _seed(_SETTINGS)
    yield
    get_engine(_SETTINGS.database_url).dispose()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_5xx_and_no_response_outside_the_schema(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

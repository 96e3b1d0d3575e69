"""The Pareto-front cache (service.api.front_cache): a front is computed once per number of
finished trials in the study, and a new finished trial is seen at once."""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytest
from fastapi.testclient import TestClient

from search.records import ATTR_ARCH, ATTR_BUDGET_EPOCHS, ATTR_EPOCHS_TRAINED
from search.study import open_storage, study_name
from service.api.routes import trials as trial_routes
from service.settings import Settings

ATTRS = {ATTR_ARCH: {"stages": []}, ATTR_BUDGET_EPOCHS: 1, ATTR_EPOCHS_TRAINED: 1}


def _add(study: optuna.Study, values: list[float]) -> None:
    study.add_trial(optuna.trial.create_trial(values=values, user_attrs=ATTRS))


def test_front_is_computed_once_per_finished_count(
    client: TestClient,
    settings: Settings,
    add_job: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id = add_job()
    assert client.get(f"/api/jobs/{job_id}/pareto").json()["data"] == []  # no study: not cached
    study = optuna.create_study(
        storage=open_storage(settings.database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    _add(study, [0.8, 3000.0, 0.1])
    first = client.get(f"/api/jobs/{job_id}/pareto")
    assert [t["number"] for t in first.json()["data"]] == [0]

    def not_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the front was computed again for an unchanged study")

    with monkeypatch.context() as patch:
        patch.setattr(trial_routes, "pareto_front", not_again)
        again = client.get(f"/api/jobs/{job_id}/pareto")
        assert again.status_code == 200 and again.content == first.content
        assert again.headers["content-type"] == "application/json"
        study.ask()  # a trial that starts does not change the front
        assert client.get(f"/api/jobs/{job_id}/pareto").content == first.content

    _add(study, [0.9, 5000.0, 0.2])  # a new finished trial: a new front
    fresh = client.get(f"/api/jobs/{job_id}/pareto").json()
    assert sorted(t["number"] for t in fresh["data"]) == [0, 2]
    assert client.get(f"/api/jobs/{job_id + 1}/pareto").status_code == 404  # not cached

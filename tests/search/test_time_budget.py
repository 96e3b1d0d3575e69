"""A job's time budget on a real local Ray: the search stops when it is spent, the trials it
cut short are kept and tagged, and a resumed job gets only what is left of it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from pydantic import ValidationError

from search.driver import run_job
from search.job_spec import JobSpec
from search.study import open_storage, study_name
from search.time_budget import ATTR_TIME_USED, time_left
from tests.jobs import driver_config, tiny_job

# Long enough for a slow 2-core machine to start Ray and a worker (importing torch there takes
# 5 s) and train an epoch; at 12 s such a machine ended the job before any trial reported one.
BUDGET_S = 30.0
EPOCHS = 1000  # the most a job may ask for: far beyond what 30 s can train


def test_time_left_counts_down_from_the_budget_over_driver_runs(tmp_path: Path) -> None:
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/t.db", study_name="s")
    assert time_left(study, None) is None
    assert time_left(study, 30.0) == 30.0
    study.set_user_attr(ATTR_TIME_USED, 12.5)
    assert time_left(study, 30.0) == 17.5
    assert time_left(None, 30.0) == 30.0


@pytest.mark.parametrize("bad", [0, -1, 1e12, "soon"])
def test_a_bad_time_budget_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError, match="time_budget_s"):
        JobSpec.model_validate(tiny_job("bad", time_budget_s=bad))


@pytest.mark.ray
@pytest.mark.slow
def test_the_job_ends_when_its_time_is_spent_and_a_resume_runs_nothing(tmp_path: Path) -> None:
    """100 trials of 1000 epochs could not finish in 30 s, nor could one of them (with 40
    epochs one sometimes did, once the C neuron kernel came): the job ends at the budget, with
    every trial ended (none left running or queued), those cut short tagged early_stopped."""
    spec = JobSpec.model_validate(
        tiny_job(
            "time-budget",
            n_trials=100,
            budget={"epochs": EPOCHS, "batch_size": 64},
            time_budget_s=BUDGET_S,
        )
    )
    config = driver_config(tmp_path, verbose=0)
    run_job(1, spec, config)

    study = optuna.load_study(study_name=study_name(1), storage=open_storage(config.database_url))
    trials = study.get_trials()
    assert 0 < len(trials) < 100
    states = {t.state for t in trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}, states
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete, "no trial reported an epoch before the budget ran out"
    for t in complete:
        assert t.user_attrs["early_stopped"] is True
        assert t.user_attrs["epochs_trained"] < EPOCHS
    used = study.user_attrs[ATTR_TIME_USED]
    assert used >= BUDGET_S

    run_job(1, spec, config)  # resumed with its time spent: nothing more runs
    again = optuna.load_study(study_name=study_name(1), storage=open_storage(config.database_url))
    assert len(again.get_trials()) == len(trials)
    assert again.user_attrs[ATTR_TIME_USED] == used

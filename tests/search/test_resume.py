"""Resume a job from its study (search.resume): stale RUNNING trials failed, tagged and retried
up to a limit, finished trials kept, the rest of the budget run; and, on a real local Ray, a
driver killed with SIGKILL in the middle of a job, then resumed to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from search.job_spec import JobSpec
from search.records import ATTR_EPOCHS_TRAINED, ATTR_REJECTED
from search.results import read_progress
from search.resume import (
    ATTR_INTERRUPTED,
    ATTR_RETRY,
    MAX_TRIAL_RETRIES,
    close_interrupted,
    prepare_resume,
)
from search.study import open_storage, study_name
from tests.jobs import tiny_job

WIDTH = optuna.distributions.IntDistribution(8, 64)
DIRECTIONS = ["maximize", "minimize"]


def _study(database_url: str, job_id: int = 1) -> optuna.Study:
    return optuna.create_study(
        storage=open_storage(database_url), study_name=study_name(job_id), directions=DIRECTIONS
    )


def _complete(study: optuna.Study, width: int, accuracy: float) -> None:
    study.add_trial(
        optuna.trial.create_trial(
            params={"width": width}, distributions={"width": WIDTH}, values=[accuracy, width]
        )
    )


def _running(study: optuna.Study, width: int, **attrs: Any) -> int:
    study.enqueue_trial({"width": width}, user_attrs=attrs)
    trial = study.ask()
    trial.suggest_int("width", 8, 64)
    return trial.number


def _by_number(study: optuna.Study) -> dict[int, optuna.trial.FrozenTrial]:
    return {t.number: t for t in study.get_trials()}


def test_a_new_job_runs_its_whole_budget(database_url: str) -> None:
    plan = prepare_resume(open_storage(database_url), 1, n_trials=7, seed=3)
    assert (plan.remaining, plan.seed, plan.complete, plan.interrupted) == (7, 3, 0, [])
    _study(database_url)  # a study with no trials yet: the same
    assert prepare_resume(open_storage(database_url), 1, n_trials=7, seed=3).remaining == 7


def test_stale_trials_are_failed_tagged_and_retried_and_the_rest_is_run(
    database_url: str,
) -> None:
    study = _study(database_url)
    _complete(study, 16, 0.9)  # 0
    _complete(study, 24, 0.8)  # 1
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))  # 2: broke in training
    study.add_trial(  # 3: a draw rejected before training counts for nothing
        optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={ATTR_REJECTED: "too big"})
    )
    stale = [_running(study, 32), _running(study, 40)]  # 4, 5: the dead driver's
    before = _by_number(study)

    plan = prepare_resume(open_storage(database_url), 1, n_trials=6, seed=11)
    assert (plan.complete, plan.failed) == (2, 1)
    assert plan.interrupted == stale and plan.retried == stale
    assert plan.remaining == 6 - 2 - 1  # the retries run within it
    assert plan.seed == 11 + 6  # not the first run's stream of draws again

    after = _by_number(study)
    for number in (0, 1):  # finished trials untouched
        assert after[number].state == TrialState.COMPLETE
        assert after[number].values == before[number].values
    for number in stale:
        assert after[number].state == TrialState.FAIL
        assert "driver stopped" in after[number].user_attrs[ATTR_INTERRUPTED]
    waiting = [t for t in after.values() if t.state == TrialState.WAITING]
    assert [t.user_attrs[ATTR_RETRY] for t in waiting] == [
        {"of": 4, "attempt": 1},
        {"of": 5, "attempt": 1},
    ]
    # The next driver's sampler is asked first for the retries, with the same architectures.
    for width, of in ((32, 4), (40, 5)):
        retry = study.ask()
        assert retry.suggest_int("width", 8, 64) == width
        assert retry.user_attrs[ATTR_RETRY]["of"] == of


def test_resuming_twice_changes_nothing_more(database_url: str) -> None:
    study = _study(database_url)
    _complete(study, 16, 0.9)
    _running(study, 32)
    first = prepare_resume(open_storage(database_url), 1, n_trials=3, seed=0)
    second = prepare_resume(open_storage(database_url), 1, n_trials=3, seed=0)
    assert first.remaining == second.remaining == 2
    assert second.interrupted == [] and second.retried == []
    states = [t.state for t in study.get_trials()]
    assert states.count(TrialState.WAITING) == 1  # one retry, not two


def test_an_architecture_is_retried_a_bounded_number_of_times(database_url: str) -> None:
    study = _study(database_url)
    last = _running(study, 48, **{ATTR_RETRY: {"of": 0, "attempt": MAX_TRIAL_RETRIES}})
    plan = prepare_resume(open_storage(database_url), 1, n_trials=2, seed=0)
    assert plan.interrupted == [last] and plan.retried == []
    assert plan.remaining == 2  # its place in the budget goes to a new draw
    assert not [t for t in study.get_trials() if t.state == TrialState.WAITING]


def test_a_draw_being_rejected_when_the_driver_died_is_finished_not_retried(
    database_url: str,
) -> None:
    study = _study(database_url)
    half_rejected = _running(study, 56, **{ATTR_REJECTED: "too many parameters"})
    plan = prepare_resume(open_storage(database_url), 1, n_trials=2, seed=0)
    assert plan.interrupted == [] and plan.remaining == 2
    assert _by_number(study)[half_rejected].state == TrialState.FAIL
    assert not [t for t in study.get_trials() if t.state == TrialState.WAITING]


def test_close_interrupted_fails_only_running_trials(database_url: str) -> None:
    study = _study(database_url)
    _complete(study, 16, 0.9)
    running = _running(study, 32)
    assert close_interrupted(open_storage(database_url), 1, "cancelled") == [running]
    trials = _by_number(study)
    assert trials[0].state == TrialState.COMPLETE
    assert trials[running].state == TrialState.FAIL
    assert trials[running].user_attrs[ATTR_INTERRUPTED] == "cancelled"
    assert close_interrupted(open_storage(database_url), 2, "no study") == []


# --- a real search: the driver killed with SIGKILL mid-job, then resumed --------------------

# Trials long enough (about 2 s each) that one is caught in the middle of its training.
SPEC: dict[str, Any] = tiny_job(
    "resume-test", n_trials=6, budget={"epochs": 10, "batch_size": 128}, seed=7
)
_DRIVER = """
import sys
from pathlib import Path
from search.driver import DriverConfig, run_job
from search.job_spec import JobSpec
spec = JobSpec.model_validate_json(sys.argv[1])
run_job(1, spec, DriverConfig(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), num_cpus=2))
"""


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_driver_killed_mid_job_resumes_to_the_requested_trials(
    database_url: str, tmp_path: Path
) -> None:
    from search.driver import DriverConfig, run_job

    spec = JobSpec.model_validate(SPEC)
    config = DriverConfig(database_url, tmp_path / "data", tmp_path / "artifacts", num_cpus=2)
    storage = open_storage(database_url)
    argv = [sys.executable, "-c", _DRIVER, spec.model_dump_json(), database_url]
    argv += [str(config.data_dir), str(config.artifacts_dir)]
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def finished_and_training() -> bool:
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-3000:]
        if read_progress(storage, 1, 4).complete < 1:
            return False
        study = optuna.load_study(study_name=study_name(1), storage=storage)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return any(t.user_attrs.get(ATTR_EPOCHS_TRAINED, 0) >= 1 for t in running)

    try:
        # Killed with one trial finished and another in the middle of its training.
        _wait_for(finished_and_training, 300, "a finished trial and one training")
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray
        driver.wait(30)
    study = optuna.load_study(study_name=study_name(1), storage=storage)
    kept = {t.number: t.values for t in study.get_trials() if t.state == TrialState.COMPLETE}
    stale = [t.number for t in study.get_trials() if t.state == TrialState.RUNNING]
    assert kept and stale

    run_job(1, spec, config)  # the next driver, on the same study

    trials = _by_number(optuna.load_study(study_name=study_name(1), storage=storage))
    complete = [t for t in trials.values() if t.state == TrialState.COMPLETE]
    assert len(complete) == spec.n_trials  # the requested number, none counted twice
    for number, values in kept.items():  # none lost, none changed
        assert trials[number].state == TrialState.COMPLETE and trials[number].values == values
    for number in stale:
        assert trials[number].state == TrialState.FAIL
        assert ATTR_INTERRUPTED in trials[number].user_attrs
    retries = [t for t in complete if ATTR_RETRY in t.user_attrs]
    assert sorted(t.user_attrs[ATTR_RETRY]["of"] for t in retries) == sorted(stale)
    for retry in retries:  # the interrupted architecture, trained again
        # (A trial killed while it was being drawn has part of its parameters: the retry keeps
        # them and draws the rest.)
        assert trials[retry.user_attrs[ATTR_RETRY]["of"]].params.items() <= retry.params.items()
    assert read_progress(storage, 1, spec.n_trials).complete == spec.n_trials
    assert read_progress(storage, 1, spec.n_trials).running == 0

"""Read a job's study back: progress, trials, the Pareto front.

The front holds finished trials that trained their full budget (early-stopped trials are told
to Optuna as complete with partial values, so they are filtered out here by their tags).
"""

from __future__ import annotations

import optuna

from search.pareto import costs, front_hypervolume, non_dominated
from search.records import ATTR_REJECTED, Progress, TrialRecord, trial_record
from search.study import StudyNotFound, load_study

_COUNTED = {
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.RUNNING: "running",
    optuna.trial.TrialState.FAIL: "failed",
}


def _trials(storage: optuna.storages.BaseStorage, job_id: int) -> list[optuna.trial.FrozenTrial]:
    try:
        study = load_study(storage, job_id)
    except StudyNotFound:
        return []
    return study.get_trials(deepcopy=False)


def read_progress(storage: optuna.storages.BaseStorage, job_id: int, total: int) -> Progress:
    counts = {"complete": 0, "running": 0, "failed": 0}
    for trial in _trials(storage, job_id):
        key = None if ATTR_REJECTED in trial.user_attrs else _COUNTED.get(trial.state)
        if key:
            counts[key] += 1
    return Progress(total=total, **counts)


def list_trials(
    storage: optuna.storages.BaseStorage,
    job_id: int,
    objectives: list[str],
    limit: int,
    offset: int,
) -> tuple[list[TrialRecord], int]:
    trials = _trials(storage, job_id)
    page = trials[offset : offset + limit]
    return [trial_record(t, objectives) for t in page], len(trials)


def get_trial(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str], number: int
) -> TrialRecord | None:
    for trial in _trials(storage, job_id):
        if trial.number == number:
            return trial_record(trial, objectives)
    return None


def pareto_front(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str]
) -> tuple[list[TrialRecord], float]:
    """Non-dominated trials that trained their full budget, and their hypervolume."""
    records = [trial_record(t, objectives) for t in _trials(storage, job_id)]
    finished = [
        r for r in records if r.trained_full_budget and all(o in r.values for o in objectives)
    ]
    points = [costs(r.values, objectives) for r in finished]
    front = [finished[i] for i in non_dominated(points)]
    front.sort(key=lambda r: -r.values.get("accuracy", 0.0))
    return front, front_hypervolume([r.values for r in front], objectives)

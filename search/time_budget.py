"""A job's wall-clock budget, kept in its study so that a resumed job gets only what is left.

A job with `time_budget_s` ends when n_trials have finished or when its search has run that
long, whichever comes first (Ray Tune's `time_budget_s`, per driver run). The time a job has
used is the sum of its driver runs' search time, written to the study as a user attribute when
each trial ends and when a run ends: a driver that is killed loses at most the time since its
last finished trial, and a job is never given more than its budget because of it.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from ray.tune import Callback

ATTR_TIME_USED = "time_used_s"  # study user attribute: search seconds of earlier driver runs


def time_used(study: optuna.Study) -> float:
    return float(study.user_attrs.get(ATTR_TIME_USED, 0.0))


def time_left(study: optuna.Study | None, budget_s: float | None) -> float | None:
    """Seconds the job may still search; None without a budget, 0 or less once spent."""
    if budget_s is None:
        return None
    return budget_s - (time_used(study) if study is not None else 0.0)


class TimeKeeper(Callback):
    """Adds one driver run's search time to the study's total: on every trial end and when the
    run ends. Created when the run's search starts."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study
        self._earlier = time_used(study)
        self._started = time.monotonic()

    def record(self) -> float:
        total = self._earlier + (time.monotonic() - self._started)
        self._study.set_user_attr(ATTR_TIME_USED, total)
        return total

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.record()

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.record()

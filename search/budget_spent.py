"""The share of a job's budget spent when a trial is drawn: what a progressive search's caps
rise with (search/progressive_caps.py)."""

from __future__ import annotations

import time
from collections.abc import Callable


class BudgetSpent:
    """The larger of a trial's number over n_trials and the search time (earlier driver runs'
    included) over the time budget: whichever ends the job first. From 0 to 1."""

    def __init__(
        self,
        n_trials: int,
        time_budget_s: float | None,
        earlier_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.n_trials, self.time_budget_s, self.earlier_s = n_trials, time_budget_s, earlier_s
        self.clock = clock
        self.started = clock()

    def __call__(self, trial_number: int) -> float:
        spent = trial_number / self.n_trials
        if self.time_budget_s:
            seconds = self.earlier_s + (self.clock() - self.started)
            spent = max(spent, seconds / self.time_budget_s)
        return min(1.0, spent)

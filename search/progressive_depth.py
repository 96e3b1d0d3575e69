"""Progressive depth: shallow networks first, deeper ones as the job's budget is spent.

A sampler wrapped here draws each stage's depth (its number of blocks) no deeper than a cap
that rises with the share of the job's budget spent: the space's smallest depth until 35% of
the budget, one block more at each of the thresholds spread evenly from there to 75%, every
depth after that. Under the cap the depth is drawn uniformly at random (seeded); every other
choice is the wrapped sampler's, which models what the earlier trials showed (PNAS, Liu et al.
2018, grows cells the same way, from one block up).

Why: the front a job returns is judged by its hypervolume over accuracy, size and spike rate,
and its largest shares come from small, accurate networks (in one random search of 30 trials
on the npz sequence set: one block of width 32 at T=4, accuracy 0.967 with 9.5k parameters).
A one-block network trains in less than half the time of a three-block one, so a job that starts
shallow tries more of them while the sampler learns the other choices; replayed on 150
recorded random-search trials, drawing the first 20 at depth 1 and the next 20 at depth 2
reached random search's hypervolume in 0.68 (npz set) and 0.45 (digits) of its time without
early stopping, against 0.98 for random draws (benchmarks/search_results.md).

The share spent is the larger of trials drawn over n_trials and search time over the job's
time budget (whichever ends the job first), counted over all of its driver runs. While a depth
is capped it is left out of the wrapped sampler's joint (relative) draw, so a model never
proposes a depth it would then have to drop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from spaces.space import is_depth_choice

FIRST_THRESHOLD, LAST_THRESHOLD = 0.35, 0.75


def depth_cap(low: int, high: int, spent: float) -> int:
    """The deepest stage a draw may have once `spent` (0..1) of the budget is gone."""
    # No level (a fixed depth): no threshold. One level: unlocked at the first threshold
    # (linspace of one point is its start).
    thresholds = np.linspace(FIRST_THRESHOLD, LAST_THRESHOLD, high - low)
    return low + int(np.sum(spent >= thresholds))


class BudgetSpent:
    """The share of a job's budget spent when a trial is drawn: the larger of its trial number
    over n_trials and the search time (earlier driver runs' included) over the time budget."""

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


class ProgressiveDepth(optuna.samplers.BaseSampler):
    """`base` with each stage's depth capped by the budget spent (module docstring)."""

    def __init__(
        self, base: optuna.samplers.BaseSampler, spent: BudgetSpent, seed: int | None
    ) -> None:
        self.base = base
        self.spent = spent
        self._rng = random.Random(seed)

    def _capped(self, trial: FrozenTrial, distribution: BaseDistribution) -> range | None:
        """The depths this trial may draw for this depth choice, or None when all are open."""
        if not isinstance(distribution, IntDistribution):
            return None
        low, high = int(distribution.low), int(distribution.high)
        cap = depth_cap(low, high, self.spent(trial.number))
        return range(low, cap + 1) if cap < high else None

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space = self.base.infer_relative_search_space(study, trial)
        return {
            name: d
            for name, d in space.items()
            if not (is_depth_choice(name) and self._capped(trial, d) is not None)
        }

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        allowed = self._capped(trial, param_distribution) if is_depth_choice(param_name) else None
        if allowed is not None:
            return self._rng.choice(allowed)
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()
        self._rng = random.Random()

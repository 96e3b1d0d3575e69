"""TPE that weighs a candidate's promise against what it costs to train.

A job is judged by the front it holds per hour, and its architectures' training costs differ by
more than an order of magnitude. TPE ranks the candidates it draws from its model of the good
trials by l(x)/g(x), the density of the good trials over that of the others, whatever they
cost: once an accurate, large network is among the good trials it keeps drawing large networks,
each costing tens of times a small one (on the npz sequence set of benchmarks/search.py, TPE
with multi-objective ASHA spent a third of a job's time on width-48 networks at T=4 that the
front did not keep).

`CostAwareTPESampler` ranks them by log l(x)/g(x) - w * log c(x) instead, where c(x) is the
candidate's predicted seconds per epoch (search/epoch_cost.py, learnt from every trial the job
has trained, early-stopped ones included): with w = 1, the promise per second of training, as
expected improvement per second does for Bayesian optimisation (Snoek et al., NeurIPS 2012).
w cools from 1 to 0 as the job's budget is spent (the larger of its share of n_trials finished
and of time_budget_s used), as CArBO does (Lee et al., 2020): a job explores the cheap
architectures first, and draws on promise alone at the end, where a costly candidate may still
be what the front lacks. The random start-up is TPE's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search.epoch_cost import EpochCostModel
from search.time_budget import time_used

_LEARNT_FROM = (TrialState.COMPLETE, TrialState.PRUNED)


def cost_weight(study: optuna.Study, n_trials: int, time_budget_s: float | None) -> float:
    """The weight of cost in the next draw: 1 minus the share of the job's budget spent."""
    finished = len(study._get_trials(deepcopy=False, states=_LEARNT_FROM, use_cache=False))
    spent = finished / max(1, n_trials)
    if time_budget_s:
        spent = max(spent, time_used(study) / time_budget_s)
    return max(0.0, 1.0 - spent)


class CostAwareTPESampler(optuna.samplers.TPESampler):
    """TPESampler whose acquisition subtracts the cooled log cost of each candidate (see the
    module's docstring). Takes TPESampler's arguments, and the job's n_trials and time
    budget, which set how fast the weight of cost cools."""

    def __init__(self, *, n_trials: int, time_budget_s: float | None = None, **tpe: Any) -> None:
        super().__init__(**tpe)
        self._n_trials = n_trials
        self._time_budget_s = time_budget_s
        # (trial number, model, weight): fitted once per trial, read by every group's draw.
        self._cost: tuple[int, EpochCostModel | None, float] | None = None

    def _sample(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if self._cost is None or self._cost[0] != trial.number:
            weight = cost_weight(study, self._n_trials, self._time_budget_s)
            learnt = study._get_trials(deepcopy=False, states=_LEARNT_FROM, use_cache=False)
            model = EpochCostModel.fit(learnt) if weight > 0 else None
            self._cost = (trial.number, model, weight)
        return super()._sample(study, trial, search_space)

    def _compute_acquisition_func(
        self,
        samples: dict[str, np.ndarray],
        mpe_below: Any,  # Optuna's private _ParzenEstimator
        mpe_above: Any,
    ) -> np.ndarray:
        promise = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        if self._cost is None:
            return promise
        _, model, weight = self._cost
        if model is None:
            return promise
        return promise - weight * model.log_cost(samples)

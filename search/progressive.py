"""A progressive search: cheap networks first, the rest of the space as the job's budget is
spent.

A sampler wrapped here draws each choice that one of its caps holds back
(search/progressive_caps.py: a stage's depth, a block's mixer) from the values the cap allows
at the share of the budget spent, uniformly at random (seeded); every other choice, and every
choice once open, is the wrapped sampler's, which models what the earlier trials showed (PNAS,
Liu et al. 2018, grows cells the same way, from one block up). So a job tries many small
networks while the sampler learns the other choices.

While a choice is held back it is left out of the wrapped sampler's joint (relative) draw, so a
model never proposes a value it would then have to drop.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search.budget_spent import BudgetSpent
from search.progressive_caps import Cap


class Progressive(optuna.samplers.BaseSampler):
    """`base` with the choices that `caps` hold back drawn from what they allow (module
    docstring)."""

    def __init__(
        self,
        base: optuna.samplers.BaseSampler,
        spent: BudgetSpent,
        caps: Sequence[Cap],
        seed: int | None,
    ) -> None:
        self.sampler = base
        self.spent = spent
        self.caps = tuple(caps)
        self._rng = random.Random(seed)

    def __str__(self) -> str:
        return f"Progressive({self.sampler})"

    def _allowed(
        self, name: str, distribution: BaseDistribution, spent: float, drawn: Mapping[str, Any]
    ) -> Sequence[Any] | None:
        """The values a draw may take for this choice at `spent` of the budget, given the
        trial's choices `drawn` so far, or None when all are open."""
        for cap in self.caps:
            allowed = cap(name, distribution, spent, drawn)
            if allowed is not None:
                return allowed
        return None

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        space = self.sampler.infer_relative_search_space(study, trial)
        spent = self.spent(trial.number)  # one share for the whole joint draw
        # Before any choice is drawn: a cap that depends on earlier choices holds its choice
        # back from the joint draw, and sample_independent draws it once they are known.
        return {name: d for name, d in space.items() if self._allowed(name, d, spent, {}) is None}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        spent = self.spent(trial.number)
        allowed = self._allowed(param_name, param_distribution, spent, trial.params)
        if allowed is not None:
            return self._rng.choice(allowed)
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
        self._rng = random.Random()

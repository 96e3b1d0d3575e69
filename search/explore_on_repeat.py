"""A draw that repeats an architecture the job already has is followed by a random draw.

Every trial trains with the job's seed, so a repeated architecture adds nothing
(search/duplicates.py), and the searcher rejects it and asks again. A model-based sampler
asked again draws from the same model: once TPE has settled on a few architectures of a small
space, most of its draws are repeats. On the npz sequence set of
benchmarks/search.py, TPE with multi-objective ASHA drew 166 to 328 repeats in jobs
of 94 to 145 trained trials; each cost a draw and a write to the study (about 0.09 s, 14 to
30 s of the driver's time per 4-minute job, during which no trial was started), and after
MAX_REPEATED_DRAWS repeats in a row the repeat was trained again (6 to 14 trials a job).

A repeat means the sampler has nothing new to offer where it looks, so the next draw explores
instead: `ExploreOnRepeat` wraps the job's sampler and, once told `explore_next()`, draws the
next trial's parameters from a seeded RandomSampler (SMAC interleaves random configurations
for the same reason). The wrapped sampler still sees that trial begin and end, and reads it
from the study as any other: TPE and GP model it; NSGA-II, which gives a trial its generation
only when it draws it, leaves it out of its populations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

# Added to the job's seed for the random draws, so that they differ from a random sampler's own
# draws in a job with the same seed (the first trials of random and TPE jobs would coincide).
EXPLORE_SEED_OFFSET = 7919


def random_explorer(seed: int) -> optuna.samplers.RandomSampler:
    """The seeded random sampler that draws a job's trials after a repeat."""
    return optuna.samplers.RandomSampler(seed=seed + EXPLORE_SEED_OFFSET)


class ExploreOnRepeat(optuna.samplers.BaseSampler):
    """The wrapped sampler, except for trials that begin after `explore_next()`: those are drawn
    at random (see the module's docstring)."""

    def __init__(
        self,
        sampler: optuna.samplers.BaseSampler,
        seed: int,
        explorer: optuna.samplers.BaseSampler | None = None,
    ) -> None:
        """`explorer` draws the trials after a repeat: a seeded RandomSampler unless given (a
        job with progressive depth gives one whose depths are capped as the sampler's are)."""
        self.sampler = sampler
        self._random = explorer or random_explorer(seed)
        self._explore_next = False
        self._exploring: set[int] = set()  # numbers of the trials drawn at random, until they end

    def __str__(self) -> str:
        return f"ExploreOnRepeat({self.sampler})"

    def explore_next(self) -> None:
        """Draw the next trial that begins at random."""
        self._explore_next = True

    def explores(self, trial: FrozenTrial) -> bool:
        return trial.number in self._exploring

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._explore_next:
            self._explore_next = False
            self._exploring.add(trial.number)
        self.sampler.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self.explores(trial):
            return {}  # every parameter then goes through sample_independent
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if self.explores(trial):
            return {}
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        chosen = self._random if self.explores(trial) else self.sampler
        return chosen.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._exploring.discard(trial.number)
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
        self._random.reseed_rng()

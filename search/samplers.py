"""Samplers by name, seeded and configured explicitly.

Optuna's defaults have changed between releases (Optuna 5 among them), so every setting a
search's behaviour depends on is written here rather than inherited. Every sampler that supports
Optuna's constraint API gets the job's `constraints_func`: a trial whose constraint values are
positive is infeasible, and the sampler prefers feasible ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import optuna

from spaces.errors import SpecError

SamplerName = Literal["nsga2", "nsga3", "tpe", "gp", "random"]
SAMPLER_NAMES: tuple[str, ...] = ("nsga2", "nsga3", "tpe", "gp", "random")

ConstraintsFunc = Callable[[optuna.trial.FrozenTrial], Sequence[float]]

# Small populations and few start-up trials: a job has tens to hundreds of trials, not
# thousands, and the samplers must start exploiting within that budget.
POPULATION_SIZE = 20
STARTUP_TRIALS = 8


def make_sampler(
    name: str, seed: int, constraints_func: ConstraintsFunc | None = None
) -> optuna.samplers.BaseSampler:
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=POPULATION_SIZE, constraints_func=constraints_func
        )
    if name == "nsga3":
        return optuna.samplers.NSGAIIISampler(
            seed=seed, population_size=POPULATION_SIZE, constraints_func=constraints_func
        )
    if name == "tpe":
        # multivariate: the per-block choices interact; constant_liar: several trials run at
        # once and must not all be drawn near the same point.
        return optuna.samplers.TPESampler(
            seed=seed,
            multivariate=True,
            constant_liar=True,
            n_startup_trials=STARTUP_TRIALS,
            constraints_func=constraints_func,
            warn_independent_sampling=False,
        )
    if name == "gp":
        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=STARTUP_TRIALS,
            constraints_func=constraints_func,
            warn_independent_sampling=False,
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SpecError(f"sampler {name!r} is unknown; choose one of {list(SAMPLER_NAMES)}")

"""Samplers by name, seeded and configured explicitly.

Optuna's defaults have changed between releases (Optuna 5 among them), so every setting a
search's behaviour depends on is written here rather than inherited. Every sampler that supports
Optuna's constraint API gets the job's `constraints_func`: a trial whose constraint values are
positive is infeasible, and the sampler prefers feasible ones.

The settings that decide when a sampler starts to exploit scale with the job's n_trials: a job
has tens to hundreds of trials, not thousands. With a fixed population of 20, NSGA-II samples a
12-trial job exactly as random search does; a fixed 8 random start-up trials leave TPE four
informed draws out of twelve (benchmarks/search.py measured both).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field

from spaces.errors import SpecError

SamplerName = Literal["nsga2", "nsga3", "tpe", "gp", "random"]
SAMPLER_NAMES: tuple[str, ...] = ("nsga2", "nsga3", "tpe", "gp", "random")

ConstraintsFunc = Callable[[optuna.trial.FrozenTrial], Sequence[float]]

# Evolutionary samplers: at least GENERATIONS generations in the job, within these bounds.
GENERATIONS = 4
MIN_POPULATION = 4
MAX_POPULATION = 20
# Model-based samplers: a quarter of the job drawn at random first, within these bounds.
MIN_STARTUP_TRIALS = 3
MAX_STARTUP_TRIALS = 8


def population_size(n_trials: int) -> int:
    """NSGA-II/III population: small enough for GENERATIONS generations in n_trials."""
    return max(MIN_POPULATION, min(MAX_POPULATION, n_trials // GENERATIONS))


def startup_trials(n_trials: int) -> int:
    """Random trials before TPE or GP model the results: a quarter of the job, bounded."""
    return max(MIN_STARTUP_TRIALS, min(MAX_STARTUP_TRIALS, n_trials // 4))


class SamplerOptions(BaseModel):
    """Settings a user may fix instead of letting them scale with n_trials, under Optuna's own
    names: useful when n_trials is only a ceiling (a job with a time budget ends sooner)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    population_size: int | None = Field(None, ge=2, le=10_000)  # nsga2, nsga3
    n_startup_trials: int | None = Field(None, ge=0, le=100_000)  # tpe, gp
    # Any sampler (search/progressive_caps.py): each stage's depth capped at its smallest for
    # the first 35% of the job's budget, then raised a block at a time until 75%; the mixers
    # whose cost grows with the square of the token count (stm, ssa, sdsa) left out until 35%
    # from every block whose tokens outnumber its stage's channels; the downsampling at its
    # largest (fewest tokens) until 35%, then a step finer at a time until 75%.
    progressive_depth: bool = False
    progressive_mixers: bool = False
    progressive_tokens: bool = False

    def problems(self, sampler: str) -> list[str]:
        """Options the named sampler does not take."""
        out = []
        if self.population_size is not None and sampler not in ("nsga2", "nsga3"):
            out.append(f"population_size applies to nsga2 and nsga3, not {sampler}")
        if self.n_startup_trials is not None and sampler not in ("tpe", "gp"):
            out.append(f"n_startup_trials applies to tpe and gp, not {sampler}")
        return out


@contextlib.contextmanager
def _experimental_chosen_knowingly() -> Iterator[None]:
    """No ExperimentalWarning in a user's log for a feature (NSGA-III, TPE's groups) that this
    module chose on purpose and pins by its tests."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def make_sampler(
    name: str,
    seed: int,
    constraints_func: ConstraintsFunc | None = None,
    n_trials: int = 100,
    options: SamplerOptions | None = None,
) -> optuna.samplers.BaseSampler:
    options = options or SamplerOptions()
    population = options.population_size or population_size(n_trials)
    startup = (
        options.n_startup_trials
        if options.n_startup_trials is not None
        else startup_trials(n_trials)
    )
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed,
            population_size=population,
            constraints_func=constraints_func,
        )
    if name == "nsga3":
        with _experimental_chosen_knowingly():
            return optuna.samplers.NSGAIIISampler(
                seed=seed,
                population_size=population,
                constraints_func=constraints_func,
            )
    if name == "tpe":
        # multivariate: the per-block choices interact; group: a block's choices exist only at
        # the depths that have the block, and without groups multivariate TPE models only the
        # parameters every trial has, drawing the rest one by one; constant_liar: several
        # trials run at once and must not all be drawn near the same point.
        with _experimental_chosen_knowingly():
            return optuna.samplers.TPESampler(
                seed=seed,
                multivariate=True,
                group=True,
                constant_liar=True,
                n_startup_trials=startup,
                constraints_func=constraints_func,
            )
    if name == "gp":
        return optuna.samplers.GPSampler(
            seed=seed,
            n_startup_trials=startup,
            constraints_func=constraints_func,
            # Block choices exist only at some depths; GP models the choices every trial
            # has and draws those at random, by design. Given every block's choices in
            # every trial (used or not), its acquisition chased variations of the unused
            # ones: on digits 24 of its first 52 draws repeated one trained architecture.
            warn_independent_sampling=False,
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SpecError(f"sampler {name!r} is unknown; choose one of {list(SAMPLER_NAMES)}")

"""Samplers by name: the right Optuna class, seeded, and unknown names refused."""

from __future__ import annotations

import optuna
import pytest

from search.job_spec import SamplerName
from search.samplers import SamplerOptions, make_sampler, population_size, startup_trials
from spaces.errors import SpecError

EXPECTED: dict[str, type[optuna.samplers.BaseSampler]] = {
    "nsga2": optuna.samplers.NSGAIISampler,
    "nsga3": optuna.samplers.NSGAIIISampler,
    "tpe": optuna.samplers.TPESampler,
    "gp": optuna.samplers.GPSampler,
    "random": optuna.samplers.RandomSampler,
}


def _first_params(sampler: optuna.samplers.BaseSampler, n: int = 3) -> list[dict[str, object]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    drawn = []
    for _ in range(n):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_int("depth", 1, 16)
        trial.suggest_categorical("mixer", ["stm", "conv", "pool", "identity"])
        drawn.append(trial.params)
        study.tell(trial, [trial.params["x"], trial.params["depth"]])
    return drawn


def test_every_job_sampler_name_is_made() -> None:
    assert set(SamplerName.__args__) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_make_sampler_class_and_seed(name: str) -> None:
    sampler = make_sampler(name, 42)
    assert type(sampler) is EXPECTED[name]
    same = _first_params(make_sampler(name, 42))
    assert _first_params(sampler) == same
    assert _first_params(make_sampler(name, 43)) != same


@pytest.mark.parametrize("name", ["cmaes", "", "NSGA2", "grid"])
def test_unknown_sampler(name: str) -> None:
    with pytest.raises(SpecError, match="unknown"):
        make_sampler(name, 0)


@pytest.mark.parametrize("name", ["nsga2", "nsga3", "tpe", "gp"])
def test_energy_constraint_reaches_the_sampler(name: str) -> None:
    """Optuna stores the constraint values of every finished trial: feasible (<= 0) below the
    limit, the excess above it."""
    from search.constraints import EnergyConstraint
    from search.records import ATTR_COSTS

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = make_sampler(name, 0, EnergyConstraint(1000.0))
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    energies = [400.0, 2500.0, 1000.0]
    for energy in energies:
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr(ATTR_COSTS, {"energy": energy})
        study.tell(trial, [x, energy])
    stored = [list(t.system_attrs["constraints"]) for t in study.get_trials()]
    assert stored == [[-600.0], [1500.0], [0.0]]


def _draws_like_random(
    name: str, n_trials: int, count: int, options: SamplerOptions | None = None
) -> list[bool]:
    """For each of the first `count` trials: did `name` draw what random search draws?"""
    random_draws = _first_params(make_sampler("random", 3), count)
    drawn = _first_params(make_sampler(name, 3, n_trials=n_trials, options=options), count)
    return [a == b for a, b in zip(random_draws, drawn, strict=True)]


def test_startup_and_population_scale_with_the_job() -> None:
    assert [startup_trials(n) for n in (4, 12, 20, 32, 100, 1000)] == [3, 3, 5, 8, 8, 8]
    assert [population_size(n) for n in (4, 12, 40, 80, 100, 1000)] == [4, 4, 10, 20, 20, 20]


def test_tpe_models_the_results_after_a_quarter_of_a_small_job() -> None:
    """TPE's start-up trials are random search's draws; a 12-trial job models from the 4th."""
    assert _draws_like_random("tpe", 12, 6) == [True, True, True, False, False, False]
    assert all(_draws_like_random("tpe", 100, 8))


def test_nsga2_breeds_within_a_small_job() -> None:
    """With a population of 20, a 12-trial job would be random search throughout."""
    assert not all(_draws_like_random("nsga2", 12, 10))
    assert all(_draws_like_random("nsga2", 100, 10))


def test_options_fix_what_would_scale_with_n_trials() -> None:
    """A 100-trial ceiling (a job with a time budget) sized like a 12-trial job, and back."""
    small_startup = SamplerOptions(n_startup_trials=3)
    assert _draws_like_random("tpe", 100, 6, small_startup) == [True] * 3 + [False] * 3
    assert not all(_draws_like_random("nsga2", 100, 10, SamplerOptions(population_size=4)))
    assert all(_draws_like_random("nsga2", 12, 10, SamplerOptions(population_size=20)))


@pytest.mark.parametrize(
    ("sampler", "options", "names"),
    [
        ("tpe", {"population_size": 8}, "population_size applies to nsga2 and nsga3, not tpe"),
        ("random", {"n_startup_trials": 2}, "n_startup_trials applies to tpe and gp, not random"),
        ("nsga2", {"n_startup_trials": 2}, "n_startup_trials applies to tpe and gp, not nsga2"),
    ],
)
def test_options_a_sampler_does_not_take_are_refused(
    sampler: str, options: dict[str, int], names: str
) -> None:
    assert SamplerOptions.model_validate(options).problems(sampler) == [names]

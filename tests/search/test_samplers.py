"""Samplers by name: the right Optuna class, seeded, and unknown names refused."""

from __future__ import annotations

import optuna
import pytest

from search.job_spec import SamplerName
from search.samplers import make_sampler
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

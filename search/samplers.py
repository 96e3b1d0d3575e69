"""Samplers by name, seeded and configured explicitly (Optuna 5 changed several defaults)."""

from __future__ import annotations

import optuna

from spaces.errors import SpecError


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, constant_liar=True, n_startup_trials=8
        )
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise SpecError(f"sampler {name!r} is unknown; choose nsga2, tpe or random")

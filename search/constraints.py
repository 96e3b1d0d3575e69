"""Outcome constraints for Optuna's constraint API (samplers' `constraints_func`).

Optuna calls the function with each finished trial and stores the values; a trial is feasible
when every value is at most 0, and the multi-objective samplers (NSGA-II/III, TPE, GP) prefer
feasible trials and rank infeasible ones by how far they miss. A class rather than a closure:
Ray Tune pickles the searcher, and the sampler with it, into its experiment checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna

from search.records import ATTR_COSTS


class EnergyConstraint:
    """Energy per sample (pJ, E_SNN) at most `max_energy_pj`; the value is the excess."""

    def __init__(self, max_energy_pj: float) -> None:
        if max_energy_pj <= 0:
            raise ValueError(f"max_energy_pj must be positive, got {max_energy_pj}")
        self.max_energy_pj = max_energy_pj

    def __call__(self, trial: optuna.trial.FrozenTrial) -> Sequence[float]:
        energy = trial.user_attrs.get(ATTR_COSTS, {}).get("energy")
        if energy is None:  # never measured (a trial that broke): count it as missing the limit
            return [self.max_energy_pj]
        return [float(energy) - self.max_energy_pj]

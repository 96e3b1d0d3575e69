"""What an epoch of a candidate costs, learnt from the trials a job has trained.

A job's architectures differ in training cost by more than an order of magnitude: on the npz
sequence set of benchmarks/search.py an epoch of a one-block network at T=2 takes 0.4 s and one
of a three-block network of width 48 at T=4 8 s. The cost is known for every trial that has
trained an epoch, early-stopped ones included (their curves hold each epoch's time), so a job has
many more cost observations than full-budget results.

`EpochCostModel` is a ridge regression of log seconds per epoch on the trial's choices, one
indicator per (parameter, value): additive in log space, so the cost of a subset of the choices
(the group of parameters a sampler draws together) is the sum of their terms. A choice a trial
does not have (a block below its depth) contributes nothing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from search.records import ATTR_CURVE

# Ridge penalty on each indicator's weight (log seconds): with tens of trials and as many
# indicators, a value seen once moves its weight only part of the way.
RIDGE = 1.0
# Fewer trials with a measured epoch than this and the model predicts nothing.
MIN_OBSERVATIONS = 3

Feature = tuple[str, float]  # (parameter, its value in Optuna's internal representation)


def seconds_per_epoch(trial: FrozenTrial) -> float | None:
    """The median time of the trial's epochs (training and validation), from its curve."""
    curve = trial.user_attrs.get(ATTR_CURVE)
    if not isinstance(curve, list):
        return None
    times = [
        float(point["epoch_time_s"])
        for point in curve
        if isinstance(point, dict)
        and isinstance(point.get("epoch_time_s"), int | float)
        and point["epoch_time_s"] > 0
    ]
    return statistics.median(times) if times else None


def _features(
    params: Mapping[str, object], distributions: Mapping[str, BaseDistribution]
) -> list[Feature]:
    out = []
    for name, value in params.items():
        dist = distributions.get(name)
        if dist is None:
            continue
        out.append((name, round(float(dist.to_internal_repr(value)), 6)))
    return out


@dataclass(frozen=True)
class EpochCostModel:
    """log(seconds per epoch) = intercept + the sum of the weights of a candidate's choices."""

    intercept: float
    weights: dict[Feature, float]

    @classmethod
    def fit(cls, trials: Sequence[FrozenTrial]) -> EpochCostModel | None:
        """The model of the trials with a measured epoch; None with fewer than
        MIN_OBSERVATIONS of them."""
        rows: list[list[Feature]] = []
        targets: list[float] = []
        for trial in trials:
            seconds = seconds_per_epoch(trial)
            if seconds is None:
                continue
            rows.append(_features(trial.params, trial.distributions))
            targets.append(math.log(seconds))
        if len(rows) < MIN_OBSERVATIONS:
            return None
        columns = sorted({f for row in rows for f in row})
        index = {f: i for i, f in enumerate(columns)}
        x = np.zeros((len(rows), len(columns)))
        for r, row in enumerate(rows):
            for f in row:
                x[r, index[f]] = 1.0
        y = np.asarray(targets)
        # The intercept is not penalised: centre, solve the ridge system, add it back.
        x_mean, y_mean = x.mean(axis=0), y.mean()
        xc, yc = x - x_mean, y - y_mean
        w = np.linalg.solve(xc.T @ xc + RIDGE * np.eye(len(columns)), xc.T @ yc)
        intercept = float(y_mean - x_mean @ w)
        return cls(intercept, {f: float(v) for f, v in zip(columns, w, strict=True)})

    def log_cost(self, samples: Mapping[str, np.ndarray]) -> np.ndarray:
        """The summed weights of each candidate's choices (internal representation, one array
        per parameter, as a TPE sampler draws them), without the intercept: the log of a
        candidate's cost relative to the others drawn with it. A value no trial has trained
        counts 0: nothing is known of it."""
        size = next(iter(samples.values())).size if samples else 0
        total = np.zeros(size)
        for name, values in samples.items():
            total += np.asarray([self.weights.get((name, round(float(v), 6)), 0.0) for v in values])
        return total

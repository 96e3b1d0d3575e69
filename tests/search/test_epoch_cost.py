"""The epoch-cost model: seconds per epoch read from a trial's curve, and a ridge regression
that recovers an additive log cost from the trials a job has trained."""

from __future__ import annotations

import itertools
import math

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

from search.epoch_cost import EpochCostModel, seconds_per_epoch
from search.records import ATTR_CURVE

STEPS = CategoricalDistribution([1, 2, 4])
WIDTHS = CategoricalDistribution([16, 32, 48])
DEPTHS = IntDistribution(1, 3)


def _trial(steps: int, width: int, depth: int, seconds: float | None) -> optuna.trial.FrozenTrial:
    attrs = {} if seconds is None else {ATTR_CURVE: [{"epoch": 1, "epoch_time_s": seconds}]}
    return optuna.trial.create_trial(
        params={"time_steps": steps, "width": width, "depth": depth},
        distributions={"time_steps": STEPS, "width": WIDTHS, "depth": DEPTHS},
        values=[0.5, 1000.0],
        user_attrs=attrs,
    )


def _cost(steps: int, width: int, depth: int) -> float:
    """Multiplicative in every choice, so additive in log space."""
    return 0.05 * steps * (width / 16) ** 2 * depth


def _samples(**columns: list[float]) -> dict[str, np.ndarray]:
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()}


def test_seconds_per_epoch_is_the_median_of_the_curve() -> None:
    trial = _trial(1, 16, 1, None)
    assert seconds_per_epoch(trial) is None
    trial.user_attrs[ATTR_CURVE] = [
        {"epoch": 1, "epoch_time_s": 9.0},  # the first epoch pays for warm-up
        {"epoch": 2, "epoch_time_s": 1.0},
        {"epoch": 3, "epoch_time_s": 1.2},
        {"epoch": 4},  # a point without a time is skipped
    ]
    assert seconds_per_epoch(trial) == 1.2


def test_the_model_recovers_log_cost_ratios() -> None:
    trials = [
        _trial(s, w, d, _cost(s, w, d))
        for s, w, d in itertools.product([1, 2, 4], [16, 32, 48], [1, 2, 3])
        for _ in range(4)
    ]
    model = EpochCostModel.fit(trials)
    assert model is not None
    # Categorical choices by their index, integers by value (Optuna's internal representation).
    steps = model.log_cost(_samples(time_steps=[0, 1, 2]))
    assert np.allclose(steps - steps[0], [0.0, math.log(2), math.log(4)], atol=0.08)
    widths = model.log_cost(_samples(width=[0, 2]))
    assert abs(widths[1] - widths[0] - math.log(9)) < 0.12
    whole = model.log_cost(_samples(time_steps=[0, 2], width=[0, 2], depth=[1, 3]))
    expected = math.log(_cost(4, 48, 3) / _cost(1, 16, 1))
    assert abs(whole[1] - whole[0] - expected) < 0.25
    predicted = model.intercept + whole[1]
    assert abs(predicted - math.log(_cost(4, 48, 3))) < 0.3


def test_few_or_unmeasured_trials_give_no_model() -> None:
    assert EpochCostModel.fit([_trial(1, 16, 1, 0.1), _trial(4, 48, 3, 3.0)]) is None
    unmeasured = [_trial(1, 16, 1, None) for _ in range(5)]
    assert EpochCostModel.fit(unmeasured) is None


def test_a_value_no_trial_trained_counts_nothing() -> None:
    trials = [_trial(s, 16, 1, _cost(s, 16, 1)) for s in (1, 2) for _ in range(3)]
    model = EpochCostModel.fit(trials)
    assert model is not None
    cost = model.log_cost(_samples(time_steps=[2], other=[0]))  # T=4 never trained
    assert cost.tolist() == [0.0]

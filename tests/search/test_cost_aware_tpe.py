"""Cost-aware TPE: the weight of cost cools as the budget is spent, the draws move to cheaper
candidates of equal promise, and the sampler travels through pickle as Ray sends it."""

from __future__ import annotations

import pickle
import warnings

import optuna
import pytest

from search.cost_aware_tpe import CostAwareTPESampler, cost_weight
from search.full_budget_view import FullBudgetView
from search.records import ATTR_CURVE
from search.samplers import SamplerOptions, make_sampler
from search.time_budget import ATTR_TIME_USED


def _seconds(steps: int, width: int) -> float:
    return 0.05 * steps * (width / 16) ** 2


def _mean_seconds_drawn(sampler: optuna.samplers.BaseSampler, trials: int = 50) -> float:
    """A job where accuracy grows with time steps and width and params with width, so the
    front holds cheap and costly networks alike; the mean epoch cost of the model's draws."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    drawn = []
    for number in range(trials):
        trial = study.ask()
        steps = trial.suggest_categorical("time_steps", [1, 2, 4])
        width = trial.suggest_categorical("width", [16, 32, 48])
        seconds = _seconds(steps, width)
        trial.set_user_attr(ATTR_CURVE, [{"epoch": 1, "epoch_time_s": seconds}])
        study.tell(trial, [1.0 - 1.0 / (steps * width), width * width])
        if number >= 6:
            drawn.append(seconds)
    return sum(drawn) / len(drawn)


def _tpe(cost_aware: bool, seed: int) -> optuna.samplers.BaseSampler:
    options = SamplerOptions(n_startup_trials=6, cost_aware=cost_aware)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return make_sampler("tpe", seed, n_trials=500, options=options)


def test_the_option_makes_the_cost_aware_sampler() -> None:
    assert type(_tpe(True, 0)) is CostAwareTPESampler
    assert type(_tpe(False, 0)) is optuna.samplers.TPESampler


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cost_aware_draws_are_cheaper(seed: int) -> None:
    plain = _mean_seconds_drawn(_tpe(False, seed))
    aware = _mean_seconds_drawn(_tpe(True, seed))
    assert aware < 0.75 * plain


def test_the_weight_of_cost_cools_with_trials_and_time() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    assert cost_weight(study, n_trials=10, time_budget_s=None) == 1.0
    for _ in range(4):
        study.add_trial(optuna.trial.create_trial(values=[0.5, 10.0]))
    assert cost_weight(study, n_trials=10, time_budget_s=None) == pytest.approx(0.6)
    study.set_user_attr(ATTR_TIME_USED, 80.0)  # the larger share spent decides
    assert cost_weight(study, n_trials=10, time_budget_s=100.0) == pytest.approx(0.2)
    assert cost_weight(study, n_trials=10, time_budget_s=1000.0) == pytest.approx(0.6)
    study.set_user_attr(ATTR_TIME_USED, 150.0)
    assert cost_weight(study, n_trials=10, time_budget_s=100.0) == 0.0


def test_without_cost_on_any_trial_it_draws_as_tpe_does() -> None:
    """No curve, no model: the same draws as TPE with the same seed."""

    def draws(sampler: optuna.samplers.BaseSampler) -> list[dict[str, object]]:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
        for _ in range(12):
            trial = study.ask()
            x = trial.suggest_float("x", 0.0, 1.0)
            study.tell(trial, [x, trial.suggest_int("depth", 1, 4)])
        return [t.params for t in study.trials]

    assert draws(_tpe(True, 5)) == draws(_tpe(False, 5))


def test_cost_aware_travels_through_pickle() -> None:
    view = FullBudgetView(_tpe(True, 3))
    again = pickle.loads(pickle.dumps(view))
    assert type(again.sampler) is CostAwareTPESampler
    assert _mean_seconds_drawn(again.sampler, 12) == _mean_seconds_drawn(_tpe(True, 3), 12)


def test_only_tpe_takes_the_option() -> None:
    options = SamplerOptions(cost_aware=True)
    assert options.problems("nsga2") == ["cost_aware applies to tpe, not nsga2"]
    assert options.problems("tpe") == []

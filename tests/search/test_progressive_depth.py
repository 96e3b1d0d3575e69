"""Progressive depth: the cap by hand, the share of the budget spent on a fake clock, and a real
Optuna study with TPE whose depths rise with the trials while TPE draws everything else."""

from __future__ import annotations

import optuna
import pytest

from search.progressive_depth import BudgetSpent, ProgressiveDepth, depth_cap
from search.samplers import SamplerOptions, make_sampler


@pytest.mark.parametrize(
    ("spent", "cap"), [(0.0, 1), (0.34, 1), (0.35, 2), (0.74, 2), (0.75, 3), (1.0, 3)]
)
def test_depth_cap_of_one_to_three_blocks(spent: float, cap: int) -> None:
    assert depth_cap(1, 3, spent) == cap


def test_depth_cap_spreads_its_thresholds_from_35_to_75_percent() -> None:
    # One level to unlock: at the first threshold.
    assert [depth_cap(1, 2, s) for s in (0.0, 0.34, 0.35, 0.9)] == [1, 1, 2, 2]
    # Four levels: at 0.35, 0.4833, 0.6167 and 0.75.
    assert [depth_cap(1, 5, s) for s in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)] == [1, 2, 3, 3, 4, 5]
    # Nothing to cap: a fixed depth, whatever the budget.
    assert depth_cap(2, 2, 0.0) == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_budget_spent_is_the_larger_of_trials_and_time() -> None:
    clock = FakeClock()
    spent = BudgetSpent(n_trials=20, time_budget_s=100.0, earlier_s=10.0, clock=clock)
    assert spent(0) == pytest.approx(0.10)  # the earlier runs' 10 s of 100
    assert spent(5) == pytest.approx(0.25)  # 5 of 20 trials
    clock.now += 50.0
    assert spent(5) == pytest.approx(0.60)  # 60 s of 100
    clock.now += 500.0
    assert spent(5) == 1.0
    no_time_budget = BudgetSpent(n_trials=20, time_budget_s=None, clock=clock)
    clock.now += 1e6
    assert no_time_budget(10) == pytest.approx(0.5)


def test_tpe_with_progressive_depth_on_a_real_study() -> None:
    """40 trials without a time budget: depth 1 up to trial 13 (35% of 40 is 14), at most 2
    up to trial 29, any depth after; TPE (multivariate, its random start-up over) draws the
    width, and also models the depth once it is open."""
    base = make_sampler("tpe", 3, n_trials=40, options=SamplerOptions(n_startup_trials=5))
    sampler = ProgressiveDepth(base, BudgetSpent(n_trials=40, time_budget_s=None), seed=3)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        depth = trial.suggest_int("s0.depth", 1, 3)
        dim = trial.suggest_categorical("s0.dim", [16, 32, 48])
        blocks = [
            trial.suggest_categorical(f"s0.b{b}.mixer", ["conv", "pool"]) for b in range(depth)
        ]
        accuracy = dim / 48 - 0.1 * blocks.count("pool") + 0.05 * depth
        return accuracy, float(dim * depth)

    study.optimize(objective, n_trials=40)
    depths = [t.params["s0.depth"] for t in study.trials]
    assert set(depths[:14]) == {1}
    assert set(depths[14:30]) <= {1, 2} and 2 in depths[14:30]
    assert 3 in depths[30:]
    # The width is TPE's to draw throughout: every value is tried.
    assert {t.params["s0.dim"] for t in study.trials} == {16, 32, 48}

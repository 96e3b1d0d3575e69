"""The share of a job's budget spent, on a fake clock."""

from __future__ import annotations

import pytest

from search.budget_spent import BudgetSpent


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

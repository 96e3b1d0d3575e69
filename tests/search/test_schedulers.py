"""Early stopping: non-dominated sorting and crowding by hand, the multi-objective ASHA rule on
a scripted sequence of results, and the scheduler each job spec asks for."""

from __future__ import annotations

import math

import pytest
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from search.job_spec import EarlyStopping
from search.pareto import crowding_distances, front_ranks, promotion_order
from search.schedulers import MultiObjectiveASHA, make_scheduler, rung_milestones

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def test_front_ranks_by_hand() -> None:
    points = [(0.1, 0.9), (0.5, 0.5), (0.9, 0.1), (0.6, 0.6), (0.95, 0.95), (0.7, 0.7)]
    assert front_ranks(points) == [0, 0, 0, 1, 3, 2]


def test_crowding_distance_by_hand() -> None:
    points = [(0.0, 1.0), (0.2, 0.6), (0.5, 0.4), (1.0, 0.0)]
    d = crowding_distances(points)
    assert d[0] == d[3] == math.inf
    # neighbours' gaps over each objective's range: (0.5 - 0) / 1 + (1.0 - 0.4) / 1
    assert d[1] == pytest.approx(0.5 + 0.6)
    assert d[2] == pytest.approx((1.0 - 0.2) + (0.6 - 0.0))


def test_promotion_order_prefers_front_then_spread() -> None:
    points = [(0.2, 0.6), (0.9, 0.9), (0.0, 1.0), (0.5, 0.4), (1.0, 0.0)]
    order = promotion_order(points)
    assert set(order[:4]) == {0, 2, 3, 4} and order[4] == 1
    assert set(order[:2]) == {2, 4}  # the front's ends come first (infinite crowding)


def test_rung_milestones() -> None:
    assert rung_milestones(1, 3, 10) == [1, 3, 9]
    assert rung_milestones(2, 2, 8) == [2, 4]
    assert rung_milestones(5, 3, 5) == []


def _result(accuracy: float, params: float) -> dict[str, float]:
    return {"accuracy": accuracy, "params": params}


def test_mo_asha_keeps_the_front_not_only_the_most_accurate() -> None:
    sched = MultiObjectiveASHA(["accuracy", "params"], grace=1, reduction_factor=2, max_epochs=4)
    assert sched.milestones == [1, 2]
    # First at the rung: nothing to compare with, it goes on.
    assert sched.decide("a", 1, _result(0.90, 100_000)) == CONTINUE
    # Dominated by a (less accurate and larger): stopped.
    assert sched.decide("b", 1, _result(0.80, 200_000)) == STOP
    # Less accurate than a but far smaller: on the front with a; 2 of 3 go on (ceil(3/2)).
    assert sched.decide("c", 1, _result(0.70, 1_000)) == CONTINUE
    # Dominated by both a and c at the rung: stopped.
    assert sched.decide("d", 1, _result(0.60, 150_000)) == STOP
    # Results between rungs are not judged; a trial judged at a rung is not judged again there.
    assert sched.decide("b", 1, _result(0.10, 10**7)) == CONTINUE
    # At the next rung the same rule runs on that rung's own population.
    assert sched.decide("c", 2, _result(0.75, 1_000)) == CONTINUE
    assert sched.decide("a", 2, _result(0.70, 100_000)) == STOP
    assert sched.stopped == 3


def test_mo_asha_ignores_results_without_the_objectives() -> None:
    sched = MultiObjectiveASHA(["accuracy", "spike_rate"], 1, 2, 4)
    assert sched.decide("a", 1, {"accuracy": 0.5}) == CONTINUE
    assert sched.rungs[1] == {}


def test_make_scheduler() -> None:
    objectives = ["accuracy", "params", "spike_rate"]
    assert make_scheduler(EarlyStopping(), objectives, 8) is None
    asha = make_scheduler(EarlyStopping(kind="asha", grace_epochs=2), objectives, 8)
    assert isinstance(asha, AsyncHyperBandScheduler)
    mo = make_scheduler(EarlyStopping(kind="mo_asha", reduction_factor=2), objectives, 8)
    assert isinstance(mo, MultiObjectiveASHA)
    assert mo.objectives == objectives and mo.milestones == [1, 2, 4]

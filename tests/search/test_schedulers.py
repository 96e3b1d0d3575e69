"""Early stopping: non-dominated sorting, crowding and a rung's winners by hand, the
multi-objective ASHA rule on a scripted sequence of results, and the scheduler each job spec
asks for."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from search.job_spec import EarlyStopping
from search.pareto import costs, crowding_distances, front_ranks
from search.schedulers import (
    MultiObjectiveASHA,
    make_scheduler,
    rung_milestones,
    rung_values,
    rung_winners,
)

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


@pytest.mark.parametrize("by", ["hypervolume", "crowding"])
def test_rung_winners_take_whole_fronts_first(by: str) -> None:
    points = [(0.2, 0.6), (0.9, 0.9), (0.0, 1.0), (0.5, 0.4), (1.0, 0.0)]
    # The first front is {0, 2, 3, 4}; the point of the second front comes last whatever `by`.
    assert rung_winners(points, 4, by) == {0, 2, 3, 4}  # type: ignore[arg-type]
    assert rung_winners(points, 5, by) == {0, 1, 2, 3, 4}  # type: ignore[arg-type]


def test_rung_winners_within_the_cut_front_by_hand() -> None:
    # One front; the ends (0.0, 1.0) and (1.0, 0.0) lie on the reference and enclose nothing.
    points = [(0.0, 1.0), (0.2, 0.6), (0.5, 0.4), (1.0, 0.0)]
    # Exclusive shares of the unit box (tests/search/test_front_arithmetic.py): 0.12 for
    # (0.2, 0.6), 0.10 for (0.5, 0.4), 0 for the ends; a tie goes to the earlier point.
    assert rung_winners(points, 1, "hypervolume") == {1}
    assert rung_winners(points, 2, "hypervolume") == {1, 2}
    assert rung_winners(points, 3, "hypervolume") == {0, 1, 2}
    # Crowding gives both ends an infinite distance: they go first.
    assert rung_winners(points, 2, "crowding") == {0, 3}


def test_hypervolume_promotes_by_what_a_trial_adds_crowding_by_being_an_end() -> None:
    """The case that made hypervolume the default: at an early rung a network that has not
    learnt yet (chance accuracy) sits at an end of the front because its spike rate is the
    lowest, by a hair. Crowding promotes every end first; its share of the volume is tiny."""
    objectives = ["accuracy", "params", "spike_rate"]
    rung = [
        costs({"accuracy": a, "params": p, "spike_rate": r}, objectives)
        for a, p, r in [
            (0.45, 20_000, 0.10),
            (0.80, 50_000, 0.12),
            (0.10, 30_000, 0.09),  # has not learnt yet; the fewest spikes, by a hair
            (0.60, 25_000, 0.15),
            (0.70, 40_000, 0.11),
            (0.55, 22_000, 0.13),
        ]
    ]
    assert front_ranks(rung) == [0] * 6
    assert rung_winners(rung, 3, "crowding") == {0, 1, 2}  # the ends, in order
    assert rung_winners(rung, 3, "hypervolume") == {0, 1, 4}


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


def test_rung_values_estimate_accuracy_from_the_training_loss() -> None:
    reported = {"accuracy": 0.3, "params": 1e4, "train_loss": 1.2}
    assert rung_values(reported, "accuracy") == reported
    estimated = rung_values(reported, "train_loss")
    assert estimated == {
        "accuracy": pytest.approx(math.exp(-1.2)),
        "params": 1e4,
        "train_loss": 1.2,
    }
    # A perfect fit would estimate 1, a uniform guess over 10 classes 1/10.
    assert rung_values({"train_loss": 0.0}, "train_loss")["accuracy"] == 1.0
    assert rung_values({"train_loss": math.log(10)}, "train_loss")["accuracy"] == pytest.approx(0.1)
    # Without a loss there is nothing to estimate from: no accuracy, so no judgement.
    assert "accuracy" not in rung_values({"accuracy": 0.3}, "train_loss")


def test_rung_values_estimate_accuracy_from_the_validation_loss() -> None:
    reported = {"accuracy": 0.3, "params": 1e4, "train_loss": 1.2, "val_loss": 0.7}
    assert rung_values(reported, "val_loss")["accuracy"] == pytest.approx(math.exp(-0.7))
    # The training loss is no stand-in for a missing validation loss (a curve checkpointed
    # before it was measured holds None).
    assert "accuracy" not in rung_values({"accuracy": 0.3, "train_loss": 1.2}, "val_loss")
    assert "accuracy" not in rung_values({"train_loss": 1.2, "val_loss": None}, "val_loss")  # type: ignore[dict-item]


def test_mo_asha_on_training_loss_ranks_by_the_loss_not_the_reported_accuracy() -> None:
    """The same two results, judged by accuracy and by training loss, give opposite verdicts:
    b's validation accuracy dipped at the rung while its loss fell further than a's."""
    a = {"accuracy": 0.40, "params": 1e4, "train_loss": 1.9}
    b = {"accuracy": 0.20, "params": 1e4, "train_loss": 1.5}
    by_accuracy = MultiObjectiveASHA(["accuracy", "params"], 1, 2, 4, rung_metric="accuracy")
    assert by_accuracy.decide("a", 1, a) == CONTINUE
    assert by_accuracy.decide("b", 1, b) == STOP
    by_loss = MultiObjectiveASHA(["accuracy", "params"], 1, 2, 4, rung_metric="train_loss")
    assert by_loss.decide("b", 1, b) == CONTINUE
    assert by_loss.decide("a", 1, a) == STOP
    # A result without a loss is not judged.
    assert by_loss.decide("c", 1, {"accuracy": 0.9, "params": 1e4}) == CONTINUE
    assert set(by_loss.rungs[1]) == {"a", "b"}


@pytest.mark.parametrize("by", ["hypervolume", "crowding"])
def test_mo_asha_promotes_by_what_the_spec_asks(by: str) -> None:
    spec = EarlyStopping(kind="mo_asha", promote_by=by)  # type: ignore[arg-type]
    sched = make_scheduler(spec, ["accuracy", "params"], 8)
    assert isinstance(sched, MultiObjectiveASHA) and sched.promote_by == by


def test_promote_by_is_refused_without_mo_asha() -> None:
    with pytest.raises(ValidationError, match="promote_by applies to kind 'mo_asha' only"):
        EarlyStopping(kind="asha", promote_by="crowding")


def test_make_scheduler() -> None:
    objectives = ["accuracy", "params", "spike_rate"]
    assert make_scheduler(EarlyStopping(), objectives, 8) is None
    asha = make_scheduler(EarlyStopping(kind="asha", grace_epochs=2), objectives, 8)
    assert isinstance(asha, AsyncHyperBandScheduler)
    mo = make_scheduler(EarlyStopping(kind="mo_asha", grace_epochs=1), objectives, 8)
    assert isinstance(mo, MultiObjectiveASHA)
    assert mo.objectives == objectives and mo.milestones == [1, 2, 4]
    assert mo.promote_by == "hypervolume"
    # Both rank by validation accuracy unless the spec asks for the training loss.
    assert mo.rung_metric == "accuracy"
    assert (asha._metric, asha._mode) == ("accuracy", "max")
    asha = make_scheduler(EarlyStopping(kind="asha", rung_metric="train_loss"), objectives, 8)
    assert isinstance(asha, AsyncHyperBandScheduler)
    assert (asha._metric, asha._mode) == ("train_loss", "min")
    mo = make_scheduler(EarlyStopping(kind="mo_asha", rung_metric="train_loss"), objectives, 8)
    assert isinstance(mo, MultiObjectiveASHA) and mo.rung_metric == "train_loss"
    asha = make_scheduler(EarlyStopping(kind="asha", rung_metric="val_loss"), objectives, 8)
    assert isinstance(asha, AsyncHyperBandScheduler)
    assert (asha._metric, asha._mode) == ("val_loss", "min")


def test_default_rungs_start_at_three_tenths_of_the_budget() -> None:
    mo = make_scheduler(EarlyStopping(kind="mo_asha"), ["accuracy", "params"], 10)
    assert isinstance(mo, MultiObjectiveASHA) and mo.milestones == [3, 6]
    asha = make_scheduler(EarlyStopping(kind="asha"), ["accuracy", "params"], 20)
    assert isinstance(asha, AsyncHyperBandScheduler)
    assert sorted(rung for rung, _ in asha._brackets[0]._rungs) == [6, 12]  # Ray's own rungs


@pytest.mark.parametrize(
    ("epochs", "grace"), [(1, 1), (3, 1), (4, 1), (7, 2), (10, 3), (20, 6), (100, 30)]
)
def test_grace_defaults_to_three_tenths_of_the_epochs_unless_given(epochs: int, grace: int) -> None:
    assert EarlyStopping(kind="mo_asha").grace_for(epochs) == grace
    assert EarlyStopping(kind="mo_asha", grace_epochs=2).grace_for(epochs) == 2

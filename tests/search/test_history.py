"""The history is the hypervolume of the trials finished by each completion, kept incrementally
and, with 4 or 5 objectives past EXACT_FRONT points, estimated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from search import pareto
from search.front_arithmetic import hypervolume
from search.history import (
    EXACT_FRONT,
    SAMPLES,
    FinishedTrial,
    HypervolumeTracker,
    completion_order,
    hypervolume_history,
)

OBJECTIVES = ("accuracy", "params", "spike_rate")


def _trials(n: int, seed: int) -> list[FinishedTrial]:
    rng = np.random.default_rng(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    trials = []
    for number in range(n):
        values = {
            "accuracy": float(np.round(rng.random(), 2)),
            "params": float(10 ** rng.uniform(2, 6)),
            "spike_rate": float(np.round(rng.random() * 0.5, 2)),
        }
        done = start + timedelta(seconds=float(rng.uniform(1, 1000)))
        trials.append(FinishedTrial(number, done, values, counts=bool(rng.random() > 0.2)))
    return trials


@pytest.mark.parametrize("seed", range(3))
def test_history_is_the_volume_of_what_had_finished(seed: int) -> None:
    trials = _trials(80, seed)
    started = datetime(2025, 1, 1, tzinfo=UTC)
    history = hypervolume_history(trials, OBJECTIVES, started)
    ordered = completion_order(trials)
    assert [p.number for p in history] == [t.number for t in ordered]
    assert [p.trial for p in history] == list(range(1, 81))
    for i, point in enumerate(history):
        counted = [t.values for t in ordered[: i + 1] if t.counts]
        assert point.hypervolume == pytest.approx(pareto.front_hypervolume(counted, OBJECTIVES))
        costs = [pareto.costs(v, OBJECTIVES) for v in counted]
        assert point.front_size == len(pareto.non_dominated(costs))
        assert point.elapsed_s == (ordered[i].completed_at - started).total_seconds()
    volumes = [p.hypervolume for p in history]
    assert volumes == sorted(volumes)  # a front only grows


def test_completion_order_ties_and_missing_times() -> None:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    trials = [
        FinishedTrial(3, None, {}, False),
        FinishedTrial(2, when, {}, False),
        FinishedTrial(1, when, {}, False),
        FinishedTrial(0, when + timedelta(seconds=1), {}, False),
    ]
    assert [t.number for t in completion_order(trials)] == [1, 2, 0, 3]
    history = hypervolume_history(trials, OBJECTIVES, None)
    assert all(p.hypervolume == 0.0 and p.elapsed_s is None for p in history)


def test_tracker_extends_without_replaying() -> None:
    trials = completion_order(_trials(40, 7))
    whole = hypervolume_history(trials, OBJECTIVES, None)
    tracker = HypervolumeTracker(OBJECTIVES, None)
    for trial in trials[:25]:
        tracker.add(trial)
    for trial in trials[25:]:
        tracker.add(trial)
    assert tracker.points == whole
    assert tracker.numbers == [t.number for t in trials]


def test_duplicate_points_stay_on_the_front() -> None:
    values = {"accuracy": 0.5, "params": 1000.0, "spike_rate": 0.1}
    trials = [FinishedTrial(i, None, values, True) for i in range(3)]
    history = hypervolume_history(trials, OBJECTIVES, None)
    assert [p.front_size for p in history] == [1, 2, 3]
    assert len({p.hypervolume for p in history}) == 1


def test_four_and_five_objectives_exact_then_estimated() -> None:
    objectives = ("accuracy", "params", "spike_rate", "energy", "sops")
    rng = np.random.default_rng(3)
    trials = [
        FinishedTrial(
            n,
            None,
            {
                "accuracy": float(rng.random()),
                "params": float(10 ** rng.uniform(2, 6)),
                "spike_rate": float(rng.random() * 0.5),
                "energy": float(10 ** rng.uniform(3, 9)),
                "sops": float(10 ** rng.uniform(3, 9)),
            },
            True,
        )
        for n in range(120)
    ]
    history = hypervolume_history(trials, objectives, None)
    exact = [p for p in history if p.exact]
    assert exact and len(exact) < len(history)  # the front outgrew EXACT_FRONT
    assert all(p.front_size <= EXACT_FRONT for p in exact)
    for point in exact[-3:]:
        values = [t.values for t in trials[: point.trial]]
        assert point.hypervolume == pytest.approx(pareto.front_hypervolume(values, objectives))
    # The estimate of the last front, against its exact volume (slow, so once).
    last = history[-1]
    points = [pareto.costs(t.values, objectives) for t in trials]
    truth = hypervolume(points, [1.0] * 5)
    assert not last.exact and abs(last.hypervolume - truth) < 5 * 0.5 / np.sqrt(SAMPLES)

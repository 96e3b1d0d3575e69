"""Rungs counted in epochs and in seconds of training, by hand."""

from __future__ import annotations

import pytest

from search.rung_resource import CALIBRATION_TRIALS, EpochRungs, TimeRungs


def _epoch(seconds: float) -> dict[str, float]:
    return {"epoch_time_s": seconds}


def test_epoch_rungs_give_the_highest_milestone_reached() -> None:
    rungs = EpochRungs(grace=2, eta=2, max_epochs=10)
    assert rungs.milestones == [2, 4, 8]
    assert [rungs.rung("a", e, {}) for e in range(1, 11)] == [None, 2, 2, 4, 4, 4, 4, 8, 8, 8]


def _calibrated(grace: int = 1, eta: int = 2, max_epochs: int = 10) -> TimeRungs:
    """Time rungs whose typical epoch is 1 s: the median of the first epochs 0.5, 1, 1, 3."""
    rungs = TimeRungs(grace, eta, max_epochs)
    for i, seconds in enumerate([0.5, 1.0, 1.0, 3.0][:CALIBRATION_TRIALS]):
        rungs.rung(f"calibration-{i}", 1, _epoch(seconds))
    assert rungs.typical_epoch_s == pytest.approx(1.0)
    return rungs


def test_no_trial_stands_at_a_time_rung_before_the_typical_epoch_is_known() -> None:
    rungs = TimeRungs(1, 2, 10)
    # 30 s spent, far past any rung the typical epoch will set: still no rung.
    assert rungs.rung("slow", 1, _epoch(30.0)) is None
    for i in range(CALIBRATION_TRIALS - 2):
        assert rungs.rung(f"t{i}", 1, _epoch(1.0)) is None
    assert rungs.typical_epoch_s is None
    # The fourth first epoch calibrates (median of 30, 1, 1, 1 = 1 s) and is judged at once.
    assert rungs.rung("last", 1, _epoch(1.0)) == pytest.approx(1.0)
    # The slow trial's next report places it by all 30 + 30 s it has spent: 32 <= 60 < 64.
    assert rungs.rung("slow", 2, _epoch(30.0)) == pytest.approx(32.0)


def test_a_costly_trial_reaches_rungs_in_fewer_epochs_than_a_cheap_one() -> None:
    rungs = _calibrated(grace=2, eta=2, max_epochs=10)
    # 5 s an epoch: 5 s spent is past the first rung (2 s), 10 s past the second (4 s) and
    # the third (8 s) both, so it stands at the highest.
    assert rungs.rung("costly", 1, _epoch(5.0)) == pytest.approx(4.0)
    assert rungs.rung("costly", 2, _epoch(5.0)) == pytest.approx(8.0)
    # 0.25 s an epoch: the first rung only after 8 epochs, and its last epoch is never judged.
    cheap = [rungs.rung("cheap", e, _epoch(0.25)) for e in range(1, 11)]
    assert cheap == [None] * 7 + [pytest.approx(2.0), pytest.approx(2.0), None]
    assert rungs.milestones == [pytest.approx(m) for m in (2.0, 4.0, 8.0)]


def test_an_epoch_reported_again_counts_once() -> None:
    """A trial restored from a checkpoint reports the epochs after it again."""
    rungs = _calibrated()
    assert rungs.rung("a", 1, _epoch(0.6)) is None
    assert rungs.rung("a", 2, _epoch(0.6)) == pytest.approx(1.0)
    assert rungs.rung("a", 2, _epoch(0.7)) == pytest.approx(1.0)  # 1.3 s, not 1.9 s
    assert rungs.epoch_s["a"] == {1: 0.6, 2: 0.7}


def test_a_report_without_epoch_time_stands_at_no_rung() -> None:
    rungs = _calibrated()
    assert rungs.rung("a", 3, {"accuracy": 0.5}) is None
    assert "a" not in rungs.epoch_s

"""The hypervolume after each finished trial, by completion time, affordable for jobs of
thousands of trials.

search/pareto.py defines the normalisation, the reference point and the front; the numpy
arithmetic that makes them fast is search/front_arithmetic.py. Here:

- `ParetoArchive` and `HypervolumeTracker`: the front is kept incrementally; a trial dominated
  by the current front leaves the hypervolume unchanged, so it is recomputed only when the front
  changes, and a live job's tracker takes its newly finished trials without replaying the old
  ones. Exact with up to 3 objectives; with 4 or 5, exact for small fronts and estimated past
  EXACT_FRONT points (see there).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from search.front_arithmetic import hypervolume
from search.pareto import REFERENCE_POINT, costs


@dataclass(frozen=True, slots=True)
class FinishedTrial:
    """What the history needs of a finished trial. `counts` is False for a trial that may not
    join the front (stopped early, or missing an objective value): it adds a point to the
    history without changing the hypervolume."""

    number: int
    completed_at: datetime | None
    values: dict[str, float]
    counts: bool


@dataclass(frozen=True, slots=True)
class HypervolumePoint:
    trial: int  # how many trials had finished, this one included (1, 2, ...)
    number: int  # the Optuna trial number of the one that just finished
    completed_at: datetime | None
    elapsed_s: float | None  # seconds from the job's first trial start to this completion
    hypervolume: float
    front_size: int
    exact: bool = True  # False: estimated (4 or 5 objectives and a front past EXACT_FRONT)


# With 4 or 5 objectives an exact volume costs O(n^(d-1)) and fronts grow to hundreds of trials:
# past EXACT_FRONT points the tracker counts which of SAMPLES fixed random points of the unit
# box the front dominates instead (standard error at most 0.5 / sqrt(SAMPLES) = 0.002), which
# costs O(SAMPLES) per trial that joins the front.
EXACT_FRONT = 24
SAMPLES = 1 << 16


@functools.cache
def _samples(dims: int) -> NDArray[np.float64]:
    # Fixed: the same front always gets the same estimate, and a front that grows never shrinks.
    return np.random.default_rng(20240601).random((SAMPLES, dims))


def completion_order(trials: Sequence[FinishedTrial]) -> list[FinishedTrial]:
    """By completion time, then trial number; trials without a time (not possible in an RDB
    study, where Optuna stamps every completion) go last."""
    return sorted(
        trials,
        key=lambda t: (t.completed_at is None, t.completed_at or datetime.min, t.number),
    )


class ParetoArchive:
    """The non-dominated subset of the points added so far (minimisation costs), by key.

    Order does not matter: a point beaten now stays beaten, since whatever beat it stays or is
    beaten in turn. So a live job's front takes each newly finished trial in O(front size).
    """

    def __init__(self, dims: int) -> None:
        self.keys: list[int] = []
        self.points = np.empty((0, dims))

    def add(self, key: int, point: ArrayLike) -> bool:
        """Whether the point joined the front (an equal point joins: duplicates all stay)."""
        p = np.asarray(point, dtype=float)
        front = self.points
        if (np.all(front <= p, axis=1) & np.any(front < p, axis=1)).any():
            return False
        kept = ~(np.all(p <= front, axis=1) & np.any(p < front, axis=1))
        self.keys = [k for k, keep in zip(self.keys, kept, strict=True) if keep] + [key]
        self.points = np.vstack([front[kept], p])
        return True


class HypervolumeTracker:
    """The history, one finished trial at a time: a live job adds its newly finished trials to
    the tracker it already has instead of replaying thousands. Not thread-safe: one owner."""

    def __init__(self, objectives: Sequence[str], started_at: datetime | None) -> None:
        self.objectives = tuple(objectives)
        self.started_at = started_at
        self.points: list[HypervolumePoint] = []
        self._reference = [REFERENCE_POINT] * len(self.objectives)
        self._front = ParetoArchive(len(self.objectives))
        self._volume = 0.0
        self._exact = True
        # Which sample points the front dominates (4 or 5 objectives only).
        self._covered: NDArray[np.bool_] | None = None
        if len(self.objectives) > 3:
            self._covered = np.zeros(SAMPLES, dtype=bool)

    @property
    def numbers(self) -> list[int]:
        """Trial numbers in the order they were added."""
        return [p.number for p in self.points]

    def add(self, trial: FinishedTrial) -> HypervolumePoint:
        cost = costs(trial.values, self.objectives) if trial.counts else None
        if cost is not None and self._front.add(trial.number, cost):
            if self._covered is None or len(self._front.keys) <= EXACT_FRONT:
                self._volume = hypervolume(self._front.points, self._reference)
            else:
                self._exact = False
            if self._covered is not None:
                samples = _samples(len(cost)) * REFERENCE_POINT
                self._covered |= np.all(samples >= np.asarray(cost), axis=1)
                if not self._exact:
                    self._volume = float(self._covered.mean()) * REFERENCE_POINT ** len(cost)
        elapsed = None
        if trial.completed_at is not None and self.started_at is not None:
            elapsed = (trial.completed_at - self.started_at).total_seconds()
        point = HypervolumePoint(
            trial=len(self.points) + 1,
            number=trial.number,
            completed_at=trial.completed_at,
            elapsed_s=elapsed,
            hypervolume=self._volume,
            front_size=len(self._front.keys),
            exact=self._exact,
        )
        self.points.append(point)
        return point


def hypervolume_history(
    trials: Sequence[FinishedTrial], objectives: Sequence[str], started_at: datetime | None
) -> list[HypervolumePoint]:
    """One point per finished trial, in completion order: the hypervolume of the front of the
    trials finished by then, normalised and referenced as in search.pareto."""
    tracker = HypervolumeTracker(objectives, started_at)
    for trial in completion_order(trials):
        tracker.add(trial)
    return tracker.points

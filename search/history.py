"""The hypervolume after each finished trial, by completion time, and the numpy front arithmetic
that makes it affordable for jobs of thousands of trials.

search/pareto.py defines the normalisation, the reference point and the front; its exact
hypervolume and non-dominated filter are pure Python and quadratic or worse, which is right for
the few dozen trials of a demo and minutes of CPU for a 5,000-trial job. The functions here give
the same answers (the tests check them against pareto.py) in a time a web request can afford:

- `non_dominated_mask`: points in lexicographic order can only be dominated by earlier points,
  so each point is compared with the front kept so far, not with every other point.
- `hypervolume`: the dimension sweep of pareto.hypervolume, with the 2-D base case as a numpy
  staircase sum (O(n log n)) instead of a recursion.
- `hypervolume_history`: the front is kept incrementally; a trial dominated by the current
  front leaves the hypervolume unchanged, so it is recomputed only when the front changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from search.pareto import REFERENCE_POINT, costs


def non_dominated_mask(points: ArrayLike) -> NDArray[np.bool_]:
    """True for the points (minimisation costs, shape (n, d)) that no other point dominates.

    The same set as pareto.non_dominated: equal points do not dominate each other, so
    duplicates on the front all stay.
    """
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    pts = pts.reshape(n, -1)
    # np.lexsort sorts by its last key first: reversed columns give column 0 as the primary key.
    order = np.lexsort(pts.T[::-1])
    front = np.empty_like(pts)
    size = 0
    for i in order:
        p = pts[i]
        kept = front[:size]
        if size and np.any(np.all(kept <= p, axis=1) & np.any(kept < p, axis=1)):
            continue
        front[size] = p
        size += 1
        keep[i] = True
    return keep


def _hypervolume_2d(points: NDArray[np.float64], reference: NDArray[np.float64]) -> float:
    # Sorted by the first cost, the best second cost so far traces the front's staircase.
    order = np.lexsort((points[:, 1], points[:, 0]))
    xs = points[order, 0]
    best_y = np.minimum.accumulate(points[order, 1])
    widths = np.diff(np.append(xs, reference[0]))
    return float(np.sum(widths * (reference[1] - best_y)))


def hypervolume(points: ArrayLike, reference: Sequence[float]) -> float:
    """The hypervolume dominated by `points` (minimisation) up to `reference`: the same measure
    as pareto.hypervolume, for fronts of thousands of points in 2 or 3 objectives."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    if len(ref) == 1:
        return float(ref[0] - pts[:, 0].min())
    pts = pts[non_dominated_mask(pts)]
    if len(ref) == 2:
        return _hypervolume_2d(pts, ref)
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    uppers = np.append(pts[1:, -1], ref[-1])
    volume = 0.0
    for i in range(len(pts)):
        height = uppers[i] - pts[i, -1]
        if height > 0:
            volume += height * hypervolume(pts[: i + 1, :-1], ref[:-1])
    return volume


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


def completion_order(trials: Sequence[FinishedTrial]) -> list[FinishedTrial]:
    """By completion time, then trial number; trials without a time (not possible in an RDB
    study, where Optuna stamps every completion) go last."""
    return sorted(
        trials,
        key=lambda t: (t.completed_at is None, t.completed_at or datetime.min, t.number),
    )


def hypervolume_history(
    trials: Sequence[FinishedTrial], objectives: Sequence[str], started_at: datetime | None
) -> list[HypervolumePoint]:
    """One point per finished trial, in completion order: the hypervolume of the front of the
    trials finished by then, normalised and referenced as in search.pareto."""
    reference = [REFERENCE_POINT] * len(objectives)
    front = np.empty((0, len(objectives)))
    volume = 0.0
    history = []
    for i, trial in enumerate(completion_order(trials), start=1):
        if trial.counts:
            p = np.asarray(costs(trial.values, objectives), dtype=float)
            dominated = np.all(front <= p, axis=1) & np.any(front < p, axis=1)
            if not dominated.any():
                # p joins the front and removes what it dominates; an equal point joins too
                # (pareto_front keeps duplicates), which leaves the volume as it was.
                beaten = np.all(p <= front, axis=1) & np.any(p < front, axis=1)
                front = np.vstack([front[~beaten], p])
                volume = hypervolume(front, reference)
        elapsed = None
        if trial.completed_at is not None and started_at is not None:
            elapsed = (trial.completed_at - started_at).total_seconds()
        history.append(
            HypervolumePoint(
                trial=i,
                number=trial.number,
                completed_at=trial.completed_at,
                elapsed_s=elapsed,
                hypervolume=volume,
                front_size=len(front),
            )
        )
    return history

"""Numpy arithmetic of fronts: the non-dominated filter, the exact hypervolume, and each point's
exclusive share of it.

search/pareto.py's exact hypervolume and non-dominated filter are pure Python and quadratic or
worse, which is right for checking and for a few dozen points, and minutes of CPU for a 5,000-
trial job. The functions here give the same answers (tests/search/test_front_arithmetic.py
checks them against pareto.py) in a time a web request or a scheduler's decision can afford:

- `non_dominated_mask`: points in lexicographic order can only be dominated by earlier points,
  so each point is compared with the front kept so far, not with every other point.
- `hypervolume`: the dimension sweep of pareto.hypervolume, with the 2-D case as a numpy
  staircase sum and the 3-D case as all of its slabs in one array expression.
- `hypervolume_contributions`: what the volume loses without each point (SMS-EMOA's
  selection measure, which search/schedulers.py promotes by).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


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


_ROWS_PER_CHUNK = 512  # bounds the (rows, n) work arrays of the 3-D sweep to a few MB


def _hypervolume_3d(points: NDArray[np.float64], reference: NDArray[np.float64]) -> float:
    """Slabs along the third cost, each the 2-D area of the points below it, all slabs at once:
    a point outside a slab's prefix gets the reference as its second cost, so it only splits
    the staircase's steps without raising it. O(n^2) numpy work instead of O(n^2) Python."""
    pts = points[np.argsort(points[:, 2], kind="stable")]  # row index = rank along the 3rd cost
    heights = np.diff(np.append(pts[:, 2], reference[2]))
    by_x = np.lexsort((pts[:, 1], pts[:, 0]))
    widths = np.diff(np.append(pts[by_x, 0], reference[0]))
    ys = pts[by_x, 1]
    volume = 0.0
    for start in range(0, len(pts), _ROWS_PER_CHUNK):
        prefix = np.arange(start, min(len(pts), start + _ROWS_PER_CHUNK))
        inside = by_x[None, :] <= prefix[:, None]
        best_y = np.minimum.accumulate(np.where(inside, ys[None, :], reference[1]), axis=1)
        areas = ((reference[1] - best_y) * widths).sum(axis=1)
        volume += float(areas @ heights[prefix])
    return volume


def _sweep(points: NDArray[np.float64], reference: NDArray[np.float64]) -> float:
    if len(reference) == 1:
        return float(reference[0] - points[:, 0].min())
    if len(reference) == 2:
        return _hypervolume_2d(points, reference)
    if len(reference) == 3:
        return _hypervolume_3d(points, reference)
    # 4 or 5 objectives: pareto.hypervolume's slicing down to the 3-D case, each slab's points
    # filtered to its front. Exact, and O(n^(d-1)): HypervolumeTracker estimates big fronts.
    pts = points[np.argsort(points[:, -1], kind="stable")]
    uppers = np.append(pts[1:, -1], reference[-1])
    volume = 0.0
    for i in range(len(pts)):
        if uppers[i] > pts[i, -1]:
            section = pts[: i + 1, :-1]
            section = section[non_dominated_mask(section)]
            volume += float(uppers[i] - pts[i, -1]) * _sweep(section, reference[:-1])
    return volume


def hypervolume(points: ArrayLike, reference: Sequence[float]) -> float:
    """The hypervolume dominated by `points` (minimisation) up to `reference`: the same measure
    as pareto.hypervolume, for fronts of thousands of points in 2 or 3 objectives (and of a few
    dozen in 4 or 5)."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    if len(ref) > 2:
        pts = pts[non_dominated_mask(pts)]  # dominated points add nothing but work
    return _sweep(pts, ref)


def front_ranks(points: ArrayLike) -> NDArray[np.int64]:
    """Non-dominated sorting (minimisation): 0 for the first front, 1 for the next, ...; the
    same ranks as pareto.front_ranks, from one dominance matrix instead of pairwise calls."""
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    ranks = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return ranks
    pts = pts.reshape(n, -1)
    # dominated_by[i, j]: j dominates i.
    no_worse = np.all(pts[None, :, :] <= pts[:, None, :], axis=2)
    better = np.any(pts[None, :, :] < pts[:, None, :], axis=2)
    dominated_by = no_worse & better
    remaining = np.ones(n, dtype=bool)
    rank = 0
    while remaining.any():
        front = remaining & ~(dominated_by & remaining[None, :]).any(axis=1)
        ranks[front] = rank
        remaining &= ~front
        rank += 1
    return ranks


def hypervolume_contributions(points: ArrayLike, reference: Sequence[float]) -> NDArray[np.float64]:
    """What the hypervolume of `points` loses without each one (its exclusive share): 0 for a
    dominated point, for a point outside the reference, and for each copy of a repeated point
    (the other copy still covers it). Exact: one volume per point of the front."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, len(ref))
    out = np.zeros(len(pts))
    inside = np.flatnonzero(np.all(pts < ref, axis=1))
    # Only a point of the front has a share; without it, the points it alone dominated
    # cover part of its region again, so each volume is taken over all the others.
    total = hypervolume(pts[inside], reference)
    for k in np.flatnonzero(non_dominated_mask(pts[inside])):
        without = np.delete(pts[inside], k, axis=0)
        # Rounding can leave a hair below 0 where the true share is 0.
        out[inside[k]] = max(0.0, total - hypervolume(without, reference))
    return out

"""Pareto fronts and hypervolume on normalised objectives.

Every objective is mapped to a value to minimise in [0, 1], so that one fixed reference point,
(1, ..., 1), serves every job and hypervolumes compare across jobs:
    accuracy   -> 1 - accuracy
    params     -> log10(params) / 8, clipped to [0, 1]   (1e8 parameters or more count as 1)
    spike_rate -> spike_rate, clipped to [0, 1]
    energy     -> log10(pJ per sample) / 12, clipped  (1 J per sample or more counts as 1)
    sops       -> log10(SOPs per sample) / 12, clipped
The hypervolume is the measure of the region those points dominate inside the unit box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

REFERENCE_POINT = 1.0
_PARAMS_DECADES = 8.0
_COST_DECADES = 12.0


def normalise(objective: str, value: float) -> float:
    """An objective's value as a cost in [0, 1] (lower is better)."""
    if objective == "accuracy":
        cost = 1.0 - value
    elif objective == "params":
        cost = math.log10(max(value, 1.0)) / _PARAMS_DECADES
    elif objective == "spike_rate":
        cost = value
    elif objective in ("energy", "sops"):
        cost = math.log10(max(value, 1.0)) / _COST_DECADES
    else:
        raise ValueError(f"no normalisation for objective {objective!r}")
    return min(1.0, max(0.0, cost))


def costs(values: dict[str, float], objectives: Sequence[str]) -> tuple[float, ...]:
    return tuple(normalise(o, values[o]) for o in objectives)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a dominates b when minimising: no worse anywhere and better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def non_dominated(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (duplicates all stay)."""
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by `points` (minimisation) up to `reference`.

    Dimension sweep: sort by the last objective and add slabs whose cross-section is the
    hypervolume of the points seen so far in one dimension fewer. O(n^d log n): fine for
    fronts of hundreds of points in 2 or 3 objectives.
    """
    inside = [tuple(p) for p in points if all(x < r for x, r in zip(p, reference, strict=True))]
    if not inside:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in inside)
    inside.sort(key=lambda p: p[-1])
    volume = 0.0
    for i, point in enumerate(inside):
        upper = inside[i + 1][-1] if i + 1 < len(inside) else reference[-1]
        height = upper - point[-1]
        if height > 0:
            section = [p[:-1] for p in inside[: i + 1]]
            volume += height * hypervolume(non_dominated_points(section), reference[:-1])
    return volume


def non_dominated_points(points: Sequence[Sequence[float]]) -> list[Sequence[float]]:
    return [points[i] for i in non_dominated(points)]


def front_hypervolume(values: Sequence[dict[str, float]], objectives: Sequence[str]) -> float:
    points = [costs(v, objectives) for v in values]
    return hypervolume(points, [REFERENCE_POINT] * len(objectives))


def front_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Non-dominated sorting (minimisation): 0 for the first front, 1 for the next, ..."""
    ranks = [-1] * len(points)
    remaining = set(range(len(points)))
    rank = 0
    while remaining:
        front = [
            i
            for i in remaining
            if not any(dominates(points[j], points[i]) for j in remaining if j != i)
        ]
        for i in front:
            ranks[i] = rank
        remaining.difference_update(front)
        rank += 1
    return ranks


def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance of each point within the set given (one front): the sum over
    objectives of the normalised gap between its neighbours; boundary points get infinity."""
    n = len(points)
    if n <= 2:
        return [math.inf] * n
    distance = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, n - 1):
            gap = points[order[k + 1]][m] - points[order[k - 1]][m]
            distance[order[k]] += gap / (high - low)
    return distance

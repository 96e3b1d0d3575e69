"""Pareto dominance, exact hypervolume and objective normalisation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from search.pareto import (
    costs,
    dominates,
    front_hypervolume,
    hypervolume,
    non_dominated,
    non_dominated_points,
    normalise,
)

# --- dominance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0.1, 0.2), (0.3, 0.4), True),
        ((0.1, 0.4), (0.3, 0.4), True),  # equal in one, better in the other
        ((0.3, 0.4), (0.1, 0.2), False),
        ((0.1, 0.5), (0.3, 0.4), False),  # a trade-off: neither dominates
        ((0.3, 0.4), (0.1, 0.5), False),
        ((0.2, 0.2), (0.2, 0.2), False),  # equal points do not dominate each other
        ((0.5,), (0.6,), True),
        ((0.0, 0.0, 0.9), (0.1, 0.1, 0.8), False),
    ],
)
def test_dominates(a: tuple[float, ...], b: tuple[float, ...], expected: bool) -> None:
    assert dominates(a, b) is expected


def test_dominates_needs_equal_lengths() -> None:
    with pytest.raises(ValueError):
        dominates((0.1, 0.2), (0.1,))


def test_non_dominated_by_hand() -> None:
    points = [
        (0.2, 0.8),  # 0 front
        (0.5, 0.4),  # 1 front
        (0.6, 0.5),  # 2 dominated by 1
        (0.9, 0.1),  # 3 front
        (0.5, 0.4),  # 4 duplicate of 1: stays
        (0.9, 0.9),  # 5 dominated
        (0.2, 0.9),  # 6 dominated by 0
    ]
    assert non_dominated(points) == [0, 1, 3, 4]
    assert non_dominated_points(points) == [points[i] for i in (0, 1, 3, 4)]
    assert non_dominated([]) == []
    assert non_dominated([(0.5, 0.5)]) == [0]


def test_non_dominated_random_agrees_with_definition() -> None:
    rng = np.random.default_rng(0)
    points = [tuple(p) for p in rng.random((60, 3)).round(1)]
    front = set(non_dominated(points))
    for i, p in enumerate(points):
        dominated = any(
            all(q[k] <= p[k] for k in range(3)) and any(q[k] < p[k] for k in range(3))
            for q in points
        )
        assert (i in front) == (not dominated)


# --- hypervolume -------------------------------------------------------------------------------


def test_hypervolume_1d() -> None:
    assert hypervolume([(0.3,), (0.5,)], (1.0,)) == pytest.approx(0.7)
    assert hypervolume([(0.5,)], (2.0,)) == pytest.approx(1.5)


def test_hypervolume_2d_staircase_by_hand() -> None:
    front = [(0.2, 0.8), (0.5, 0.4), (0.9, 0.1)]
    # Columns: x in [0.2, 0.5) height 0.2; [0.5, 0.9) height 0.6; [0.9, 1] height 0.9.
    expected = 0.3 * 0.2 + 0.4 * 0.6 + 0.1 * 0.9
    assert hypervolume(front, (1.0, 1.0)) == pytest.approx(expected, abs=1e-12)
    # Order and dominated points change nothing.
    shuffled = [front[2], (0.6, 0.5), front[0], (0.95, 0.95), front[1]]
    assert hypervolume(shuffled, (1.0, 1.0)) == pytest.approx(expected, abs=1e-12)
    # A single point is a box.
    assert hypervolume([(0.25, 0.5)], (1.0, 2.0)) == pytest.approx(0.75 * 1.5)


def test_hypervolume_3d_two_boxes_inclusion_exclusion() -> None:
    a, b, ref = (0.1, 0.5, 0.3), (0.4, 0.2, 0.6), (1.0, 1.0, 1.0)

    def box(p: tuple[float, ...]) -> float:
        return math.prod(r - x for x, r in zip(p, ref, strict=True))

    overlap = box(tuple(max(x, y) for x, y in zip(a, b, strict=True)))
    assert hypervolume([a, b], ref) == pytest.approx(box(a) + box(b) - overlap, abs=1e-12)


def _grid_volume(points: list[tuple[float, ...]], ref: tuple[float, ...], cells: int) -> float:
    """Exact for points on a 1/cells grid: count the cells whose centre is dominated."""
    pts = np.array(points)
    axes = [np.arange(cells) / cells + 0.5 / cells] * len(ref)
    centres = np.array(list(itertools.product(*axes)))
    inside = (centres[:, None, :] >= pts[None, :, :]).all(axis=2).any(axis=1)
    inside &= (centres < np.array(ref)).all(axis=1)
    return float(inside.sum()) / cells ** len(ref)


def test_hypervolume_3d_against_grid_count() -> None:
    rng = np.random.default_rng(1)
    points = [tuple(p) for p in rng.integers(0, 20, size=(25, 3)) / 20]
    ref = (1.0, 1.0, 1.0)
    assert hypervolume(points, ref) == pytest.approx(_grid_volume(points, ref, 20), abs=1e-9)


def test_hypervolume_3d_against_monte_carlo() -> None:
    rng = np.random.default_rng(2)
    # A curved front: points on the sphere's positive octant, scaled into the box.
    raw = np.abs(rng.normal(size=(30, 3)))
    points = [tuple(p) for p in 0.9 * raw / np.linalg.norm(raw, axis=1, keepdims=True)]
    ref = (1.0, 1.0, 1.0)
    n = 200_000
    samples = rng.random((n, 3))
    pts = np.array(points)
    hit = np.zeros(n, dtype=bool)
    for p in pts:
        hit |= (samples >= p).all(axis=1)
    estimate = hit.mean()
    # Five standard errors of a Bernoulli mean with n samples: fails by chance ~1 in 1.7e6.
    tolerance = 5 * math.sqrt(estimate * (1 - estimate) / n)
    assert abs(hypervolume(points, ref) - estimate) < tolerance


def test_hypervolume_4d_against_grid_count() -> None:
    rng = np.random.default_rng(3)
    points = [tuple(p) for p in rng.integers(0, 8, size=(10, 4)) / 8]
    ref = (1.0, 1.0, 1.0, 1.0)
    assert hypervolume(points, ref) == pytest.approx(_grid_volume(points, ref, 8), abs=1e-9)


def test_points_outside_the_reference_count_zero() -> None:
    ref = (1.0, 1.0)
    assert hypervolume([(1.2, 0.5)], ref) == 0.0
    assert hypervolume([(1.0, 0.5)], ref) == 0.0  # on the boundary: no volume
    assert hypervolume([(0.5, 1.0)], ref) == 0.0
    assert hypervolume([], ref) == 0.0
    inside = [(0.5, 0.5)]
    assert hypervolume([*inside, (1.5, 0.0), (0.0, 1.5)], ref) == pytest.approx(0.25)


def test_duplicates_add_no_volume() -> None:
    ref = (1.0, 1.0, 1.0)
    p, q = (0.2, 0.5, 0.4), (0.6, 0.1, 0.3)
    single = hypervolume([p, q], ref)
    assert hypervolume([p, p, q, q, p], ref) == pytest.approx(single, abs=1e-12)
    assert hypervolume([(0.5, 0.5), (0.5, 0.5)], (1.0, 1.0)) == pytest.approx(0.25)


# --- normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("objective", "value", "expected"),
    [
        ("accuracy", 1.0, 0.0),
        ("accuracy", 0.0, 1.0),
        ("accuracy", 0.75, 0.25),
        ("accuracy", 1.5, 0.0),
        ("accuracy", -0.5, 1.0),
        ("params", 1.0, 0.0),
        ("params", 0.0, 0.0),
        ("params", 1e4, 0.5),
        ("params", 1e8, 1.0),
        ("params", 1e12, 1.0),
        ("spike_rate", 0.0, 0.0),
        ("spike_rate", 0.3, 0.3),
        ("spike_rate", 1.7, 1.0),
        ("spike_rate", -0.1, 0.0),
    ],
)
def test_normalise_bounds(objective: str, value: float, expected: float) -> None:
    assert normalise(objective, value) == pytest.approx(expected)
    assert 0.0 <= normalise(objective, value) <= 1.0


def test_normalise_unknown_objective() -> None:
    with pytest.raises(ValueError, match="latency"):
        normalise("latency", 1.0)


def test_costs_keep_objective_order() -> None:
    values = {"accuracy": 0.9, "params": 1e4, "spike_rate": 0.2}
    assert costs(values, ["spike_rate", "accuracy"]) == pytest.approx((0.2, 0.1))


def test_front_hypervolume_in_unit_interval() -> None:
    objectives = ["accuracy", "params", "spike_rate"]
    rng = np.random.default_rng(4)
    values = [
        {"accuracy": float(a), "params": float(p), "spike_rate": float(s)}
        for a, p, s in zip(rng.random(40), 10 ** rng.uniform(0, 9, 40), rng.random(40), strict=True)
    ]
    hv = front_hypervolume(values, objectives)
    assert 0.0 < hv < 1.0
    perfect = {"accuracy": 1.0, "params": 1.0, "spike_rate": 0.0}
    assert front_hypervolume([perfect], objectives) == pytest.approx(1.0)
    worst = {"accuracy": 0.0, "params": 1e9, "spike_rate": 1.0}
    assert front_hypervolume([worst], objectives) == 0.0
    assert front_hypervolume([], objectives) == 0.0
    assert front_hypervolume([{"accuracy": 0.9}], ["accuracy"]) == pytest.approx(0.9)
    # Adding a point never lowers the hypervolume.
    assert front_hypervolume([*values, perfect], objectives) >= hv

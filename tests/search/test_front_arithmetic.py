"""The numpy front arithmetic gives pareto.py's answers: the non-dominated filter, the
hypervolume, non-dominated ranks; and each point's exclusive share of the hypervolume by hand
and against removing the point."""

from __future__ import annotations

import numpy as np
import pytest

from search import pareto
from search.front_arithmetic import (
    front_ranks,
    hypervolume,
    hypervolume_contributions,
    non_dominated_mask,
)


@pytest.mark.parametrize("dims", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", range(6))
def test_same_front_and_volume_as_pareto(dims: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Coarse values make ties and duplicates common; some points lie outside the reference.
    points = np.round(rng.random((int(rng.integers(0, 40)), dims)) * 1.1, 1)
    reference = [1.0] * dims
    expected = pareto.non_dominated(points.tolist())
    assert np.flatnonzero(non_dominated_mask(points)).tolist() == expected
    assert hypervolume(points, reference) == pytest.approx(
        pareto.hypervolume(points.tolist(), reference), abs=1e-12
    )


def test_volume_by_hand() -> None:
    assert hypervolume([], [1.0, 1.0]) == 0.0
    assert hypervolume([(0.5, 0.5)], [1.0, 1.0]) == pytest.approx(0.25)
    assert hypervolume([(0.5, 0.5, 0.5)], [1.0, 1.0, 1.0]) == pytest.approx(0.125)
    # Two boxes overlapping in a quarter: 0.5 + 0.5 - 0.25.
    assert hypervolume([(0.0, 0.5), (0.5, 0.0)], [1.0, 1.0]) == pytest.approx(0.75)
    assert hypervolume([(1.0, 0.0)], [1.0, 1.0]) == 0.0  # on the reference: nothing dominated


def test_large_front_in_three_objectives_is_fast_and_exact() -> None:
    rng = np.random.default_rng(1)
    # Points on a sphere's octant: all non-dominated, the worst case of a front.
    raw = np.abs(rng.normal(size=(600, 3)))
    points = 1.0 - raw / np.linalg.norm(raw, axis=1, keepdims=True) * 0.9
    assert non_dominated_mask(points).all()
    subset = points[:60]
    assert hypervolume(subset, [1.0] * 3) == pytest.approx(
        pareto.hypervolume(subset.tolist(), [1.0] * 3)
    )
    assert 0.0 < hypervolume(points, [1.0] * 3) < 1.0


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_same_ranks_as_pareto(dims: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = np.round(rng.random((int(rng.integers(0, 40)), dims)), 1)
    assert front_ranks(points).tolist() == pareto.front_ranks(points.tolist())


def test_contributions_by_hand() -> None:
    # Inside the unit box: (0.2, 0.6) and (0.5, 0.4), 0.42 together. Without the first the
    # second covers 0.5 * 0.6 = 0.30, without the second the first 0.8 * 0.4 = 0.32. The ends
    # lie on the reference and the last point is dominated: they add nothing.
    points = [(0.0, 1.0), (0.2, 0.6), (0.5, 0.4), (1.0, 0.0), (0.6, 0.7)]
    shares = hypervolume_contributions(points, [1.0, 1.0])
    assert shares.tolist() == pytest.approx([0.0, 0.12, 0.10, 0.0, 0.0])
    # A repeated point: either copy can go, so neither adds anything of its own.
    assert hypervolume_contributions([(0.5, 0.5), (0.5, 0.5)], [1.0, 1.0]).tolist() == [0, 0]
    assert hypervolume_contributions([], [1.0, 1.0]).tolist() == []


@pytest.mark.parametrize("seed", range(4))
def test_contribution_is_the_volume_lost_without_the_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = np.round(rng.random((25, 3)) * 1.05, 2)
    reference = [1.0, 1.0, 1.0]
    total = pareto.hypervolume(points.tolist(), reference)
    shares = hypervolume_contributions(points, reference)
    for i in range(len(points)):
        rest = np.delete(points, i, axis=0).tolist()
        assert shares[i] == pytest.approx(total - pareto.hypervolume(rest, reference), abs=1e-12)

"""What a progressive search holds back, by hand: the depth cap's thresholds and the mixers
left out before the first one."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.progressive_caps import cap_depth, cap_mixers, depth_cap

MIXERS = CategoricalDistribution(["stm", "ssa", "sdsa", "conv", "pool", "identity"])


@pytest.mark.parametrize(
    ("spent", "cap"), [(0.0, 1), (0.34, 1), (0.35, 2), (0.74, 2), (0.75, 3), (1.0, 3)]
)
def test_depth_cap_of_one_to_three_blocks(spent: float, cap: int) -> None:
    assert depth_cap(1, 3, spent) == cap


def test_depth_cap_spreads_its_thresholds_from_35_to_75_percent() -> None:
    # One level to unlock: at the first threshold.
    assert [depth_cap(1, 2, s) for s in (0.0, 0.34, 0.35, 0.9)] == [1, 1, 2, 2]
    # Four levels: at 0.35, 0.4833, 0.6167 and 0.75.
    assert [depth_cap(1, 5, s) for s in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)] == [1, 2, 3, 3, 4, 5]
    # Nothing to cap: a fixed depth, whatever the budget.
    assert depth_cap(2, 2, 0.0) == 2


def test_cap_depth_allows_the_depths_up_to_the_cap_and_only_for_depth_choices() -> None:
    depth = IntDistribution(1, 3)
    assert list(cap_depth("s0.depth", depth, 0.0) or []) == [1]
    assert list(cap_depth("s1.depth", depth, 0.5) or []) == [1, 2]
    assert cap_depth("s0.depth", depth, 0.8) is None  # every depth open
    assert cap_depth("s0.dim", depth, 0.0) is None  # not a depth
    assert cap_depth("s0.depth", IntDistribution(2, 2), 0.0) is None  # a fixed depth


def test_cap_mixers_leaves_out_the_quadratic_mixers_until_the_first_threshold() -> None:
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.0) == ["conv", "pool", "identity"]
    assert cap_mixers("s2.b1.mixer", MIXERS, 0.34) == ["conv", "pool", "identity"]
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.35) is None
    # Not a mixer, or a mixer choice not drawn from a list: not this cap's.
    assert cap_mixers("s0.b0.heads", CategoricalDistribution([1, 2, 4]), 0.0) is None
    assert cap_mixers("s0.b0.mixer", FloatDistribution(0.0, 1.0), 0.0) is None


@pytest.mark.parametrize("mixers", [["stm", "ssa"], ["conv", "identity"], ["sdsa"]], ids=str)
def test_cap_mixers_holds_nothing_back_where_nothing_or_everything_is_quadratic(
    mixers: list[str],
) -> None:
    assert cap_mixers("s0.b0.mixer", CategoricalDistribution(mixers), 0.0) is None

"""What a progressive search holds back, by hand: the depth and token caps' thresholds, and the
mixers left out before the first one where a block's tokens outnumber its channels."""

from __future__ import annotations

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from search.progressive_caps import (
    CapQuadraticMixers,
    cap_depth,
    cap_tokens,
    depth_cap,
    levels_open,
)

MIXERS = CategoricalDistribution(["stm", "ssa", "sdsa", "conv", "pool", "identity"])
LINEAR = ["conv", "pool", "identity"]
# 8x8 images: 64, 16 or 4 tokens at downsample 1, 2 or 4.
cap_mixers = CapQuadraticMixers((8, 8))
COSTLY = {"downsample": 1, "s0.dim": 48, "s1.dim": 16, "s2.dim": 32}  # 64 tokens


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
    assert list(cap_depth("s0.depth", depth, 0.0, {}) or []) == [1]
    assert list(cap_depth("s1.depth", depth, 0.5, {}) or []) == [1, 2]
    assert cap_depth("s0.depth", depth, 0.8, {}) is None  # every depth open
    assert cap_depth("s0.dim", depth, 0.0, {}) is None  # not a depth
    assert cap_depth("s0.depth", IntDistribution(2, 2), 0.0, {}) is None  # a fixed depth


def test_cap_mixers_leaves_out_the_quadratic_mixers_until_the_first_threshold() -> None:
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.0, COSTLY) == LINEAR
    assert cap_mixers("s2.b1.mixer", MIXERS, 0.34, COSTLY) == LINEAR
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.35, COSTLY) is None
    # Not a mixer, or a mixer choice not drawn from a list: not this cap's.
    assert cap_mixers("s0.b0.heads", CategoricalDistribution([1, 2, 4]), 0.0, COSTLY) is None
    assert cap_mixers("s0.b0.mixer", FloatDistribution(0.0, 1.0), 0.0, COSTLY) is None


@pytest.mark.parametrize(
    ("downsample", "width", "held_back"),
    [(1, 48, True), (2, 16, False), (2, 8, True), (4, 16, False), (4, 2, True)],
)
def test_cap_mixers_holds_back_only_where_the_tokens_outnumber_the_stage_channels(
    downsample: int, width: int, held_back: bool
) -> None:
    # 8x8 at downsample 2 is 16 tokens: held back in a stage of 8 channels, not of 16.
    drawn = {"downsample": downsample, "s0.dim": 64, "s1.dim": width}
    assert cap_mixers("s1.b2.mixer", MIXERS, 0.0, drawn) == (LINEAR if held_back else None)


def test_cap_mixers_reads_the_token_count_of_a_sequence_or_of_channels_first_images() -> None:
    assert (
        CapQuadraticMixers((64,))("s0.b0.mixer", MIXERS, 0.0, {"downsample": 2, "s0.dim": 32})
        is None
    )
    assert CapQuadraticMixers((64,))("s0.b0.mixer", MIXERS, 0.0, {"downsample": 2, "s0.dim": 16})
    # (C, H, W): the channels are not a spatial axis; 2 x (16 x 16) at downsample 4 is 16 tokens.
    assert (
        CapQuadraticMixers((2, 16, 16))("s0.b0.mixer", MIXERS, 0.0, {"downsample": 4, "s0.dim": 16})
        is None
    )


def test_cap_mixers_holds_back_until_the_token_count_and_the_width_are_drawn() -> None:
    """A joint draw comes before any choice: the mixers are left out of it, and drawn on their
    own once the downsampling and the stage's width are known."""
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.0, {}) == LINEAR
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.0, {"downsample": 4}) == LINEAR
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.0, {"s0.dim": 48}) == LINEAR
    # Once the first threshold is passed nothing is held back, drawn or not.
    assert cap_mixers("s0.b0.mixer", MIXERS, 0.5, {}) is None


@pytest.mark.parametrize("mixers", [["stm", "ssa"], ["conv", "identity"], ["sdsa"]], ids=str)
def test_cap_mixers_holds_nothing_back_where_nothing_or_everything_is_quadratic(
    mixers: list[str],
) -> None:
    assert cap_mixers("s0.b0.mixer", CategoricalDistribution(mixers), 0.0, COSTLY) is None


def test_levels_open_one_at_each_threshold_from_35_to_75_percent() -> None:
    assert [levels_open(0, s) for s in (0.0, 1.0)] == [0, 0]
    assert [levels_open(1, s) for s in (0.0, 0.34, 0.35, 1.0)] == [0, 0, 1, 1]
    assert [levels_open(2, s) for s in (0.0, 0.35, 0.74, 0.75)] == [0, 1, 1, 2]


@pytest.mark.parametrize(
    ("spent", "allowed"), [(0.0, [4]), (0.34, [4]), (0.35, [4, 2]), (0.74, [4, 2]), (0.75, None)]
)
def test_cap_tokens_opens_the_finer_grids_one_at_a_time(
    spent: float, allowed: list[int] | None
) -> None:
    # Drawn in any order, the coarsest grid (the largest downsampling) comes first.
    downsample = CategoricalDistribution([2, 1, 4])
    assert cap_tokens("downsample", downsample, spent, {}) == allowed


def test_cap_tokens_holds_nothing_back_of_a_fixed_grid_or_of_another_choice() -> None:
    assert cap_tokens("downsample", CategoricalDistribution([2]), 0.0, {}) is None
    assert cap_tokens("s0.dim", CategoricalDistribution([16, 32]), 0.0, {}) is None
    assert cap_tokens("downsample", IntDistribution(1, 4), 0.0, {}) is None

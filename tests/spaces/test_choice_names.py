"""The names of a draw's choices: each names one choice and nothing else, and a draw names
the choices a sampler reads before the ones it steers."""

from __future__ import annotations

from spaces.choice_names import (
    DOWNSAMPLE_CHOICE,
    depth_choice,
    dim_choice,
    is_depth_choice,
    mixer_choice,
    mixer_choice_stage,
)
from spaces.space import RandomSuggester, SearchSpace, SpaceConstraints

# Two stages of up to three blocks: several stages' names in one draw.
TWO_STAGES = SpaceConstraints(
    mixers=("stm", "ssa", "conv"), dims=(16, 32), max_depth=3, max_stages=2
)


def test_depth_choices_are_named_per_stage() -> None:
    assert depth_choice(0) == "s0.depth" and depth_choice(12) == "s12.depth"
    assert is_depth_choice("s0.depth") and is_depth_choice("s12.depth")
    for name in ("depth", "s0.dim", "s0.b1.depth", "sx.depth", "s.depth", "s0.depth2"):
        assert not is_depth_choice(name), name


def test_mixer_choices_are_named_per_block() -> None:
    assert mixer_choice(0, 0) == "s0.b0.mixer" and mixer_choice(2, 11) == "s2.b11.mixer"
    assert mixer_choice_stage("s0.b0.mixer") is not None
    assert mixer_choice_stage("s2.b11.mixer") is not None
    for name in ("mixer", "s0.mixer", "s0.b0.heads", "s0.bx.mixer", "b0.s0.mixer", "s0.b0.mixer.x"):
        assert mixer_choice_stage(name) is None, name
    assert mixer_choice_stage("s0.b0.mixer") == 0 and mixer_choice_stage("s2.b11.mixer") == 2


def test_a_draw_names_its_depths_and_mixers_as_samplers_look_them_up() -> None:
    """search/progressive_caps.py steers choices by these names: every stage's depth and every
    block's mixer of a draw carry them, and nothing else does."""
    suggester = RandomSuggester(4)
    arch = SearchSpace(TWO_STAGES, (8, 8), 10).sample(suggester)
    depths = [n for n in suggester.params if is_depth_choice(n)]
    mixers = [n for n in suggester.params if mixer_choice_stage(n) is not None]
    assert depths == [depth_choice(s) for s in range(len(arch.stages))]
    assert mixers == [
        mixer_choice(s, b) for s, stage in enumerate(arch.stages) for b in range(len(stage.blocks))
    ]
    assert [suggester.params[n] for n in mixers] == [
        block.mixer.kind for stage in arch.stages for block in stage.blocks
    ]


def test_a_draw_names_the_downsampling_and_a_stage_width_before_the_stage_mixers() -> None:
    """search/progressive_caps.py reads the token count and the stage's width from the choices
    drawn so far when it draws a mixer."""
    for seed in range(20):
        suggester = RandomSuggester(seed)
        arch = SearchSpace(TWO_STAGES, (8, 8), 10).sample(suggester)
        order = list(suggester.params)
        assert suggester.params[DOWNSAMPLE_CHOICE] == arch.downsample
        for s, stage in enumerate(arch.stages):
            assert suggester.params[dim_choice(s)] == stage.dim
            first_mixer = order.index(mixer_choice(s, 0))
            assert order.index(DOWNSAMPLE_CHOICE) < first_mixer
            assert order.index(dim_choice(s)) < first_mixer

"""The search space: seeded sampling gives valid specs inside the constraints; impossible
constraints fail early, naming the field."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from spaces.arch import BUILT_MIXERS, ArchSpec
from spaces.build import build_model
from spaces.errors import SpecError
from spaces.space import (
    DEFAULT_ALPHA,
    EVENT_DRIVEN_MIXERS,
    HEADED_MIXERS,
    KERNEL_MIXERS,
    RandomSuggester,
    SearchSpace,
    SpaceConstraints,
)

SEEDS = range(50)

WIDE = SpaceConstraints(
    mixers=("stm", "ssa", "sdsa", "conv", "pool", "identity"),
    dims=(16, 24, 40),
    min_depth=2,
    max_depth=3,
    max_stages=2,
    mlp_ratios=(0.5, 2.0),
    heads=(2, 3, 8),
    kernels=(5, 7),
    neurons=("lif", "plif", "klif"),
    surrogates=("sigmoid", "atan", "rect", "triangle", "erf", "dspike"),
    time_steps=(1, 3, 6),
    downsample=(1, 2, 4, 8),
    max_tokens=16,
)


def _check(spec: ArchSpec, space: SearchSpace) -> None:
    c = space.constraints
    assert spec.input_shape == space.input_shape
    assert spec.num_classes == space.num_classes
    assert spec.time_steps in c.time_steps
    assert spec.downsample in c.downsample
    assert all(size % spec.downsample == 0 for size in spec.spatial_shape)
    assert spec.num_tokens <= c.max_tokens
    assert 1 <= len(spec.stages) <= c.max_stages
    assert spec.neuron.kind in c.neurons
    assert spec.neuron.surrogate in c.surrogates
    assert spec.neuron.alpha == DEFAULT_ALPHA[spec.neuron.surrogate]
    for stage in spec.stages:
        assert stage.dim in c.dims
        assert c.min_depth <= len(stage.blocks) <= c.max_depth
        for block in stage.blocks:
            mixer = block.mixer
            assert mixer.kind in space.mixers
            assert block.mlp_ratio in c.mlp_ratios
            assert stage.dim % mixer.heads == 0
            if mixer.kind in HEADED_MIXERS:
                assert mixer.heads in c.heads or mixer.heads == 1
            if mixer.kind in KERNEL_MIXERS:
                assert mixer.kernel in c.kernels
    # Valid as data: the spec survives re-validation from its JSON form.
    assert ArchSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize("input_shape", [(16, 16), (12, 12), (64,), (3, 16, 8)], ids=str)
def test_samples_are_valid_and_respect_constraints(input_shape: tuple[int, ...]) -> None:
    space = SearchSpace(WIDE, input_shape, num_classes=7)
    seen: dict[str, set[Any]] = {"mixer": set(), "downsample": set(), "stages": set()}
    for seed in SEEDS:
        spec = space.sample(RandomSuggester(seed))
        _check(spec, space)
        seen["downsample"].add(spec.downsample)
        seen["stages"].add(len(spec.stages))
        seen["mixer"].update(b.mixer.kind for s in spec.stages for b in s.blocks)
    # 50 draws cover the choices: the checks above are not vacuous.
    assert seen["mixer"] == set(WIDE.mixers)
    assert seen["downsample"] == set(space.downsample)
    assert seen["stages"] == {1, 2}


def test_allowed_downsample_divides_input_and_caps_tokens() -> None:
    assert SearchSpace(WIDE, (16, 16), 7).downsample == (4, 8)  # 1 and 2 give > 16 tokens
    assert SearchSpace(WIDE, (12, 12), 7).downsample == (4,)  # 8 does not divide 12
    assert SearchSpace(WIDE, (64,), 7).downsample == (4, 8)
    assert SearchSpace(WIDE, (3, 16, 8), 7).downsample == (4, 8)  # channels are not spatial


def test_sampled_specs_build() -> None:
    space = SearchSpace(WIDE, (8, 8), num_classes=3)
    for seed in range(8):
        spec = space.sample(RandomSuggester(seed))
        model = build_model(spec, seed=seed)
        assert sum(p.numel() for p in model.parameters()) > 0


def test_sampling_is_deterministic_per_seed() -> None:
    space = SearchSpace(WIDE, (16, 16), num_classes=7)
    for seed in range(10):
        a, b = RandomSuggester(seed), RandomSuggester(seed)
        assert space.sample(a) == space.sample(b)
        assert a.params == b.params
    distinct = {space.sample(RandomSuggester(s)).model_dump_json() for s in SEEDS}
    assert len(distinct) > 40


def test_suggester_sees_stable_names() -> None:
    space = SearchSpace(WIDE, (16, 16), num_classes=7)
    suggester = RandomSuggester(5)
    spec = space.sample(suggester)
    params = suggester.params
    for name in ("neuron", "surrogate", "time_steps", "downsample", "stages"):
        assert name in params
    assert params["downsample"] == spec.downsample
    assert params["stages"] == len(spec.stages)
    for s, stage in enumerate(spec.stages):
        assert params[f"s{s}.dim"] == stage.dim
        assert params[f"s{s}.depth"] == len(stage.blocks)
        for b, block in enumerate(stage.blocks):
            assert params[f"s{s}.b{b}.mixer"] == block.mixer.kind
            assert params[f"s{s}.b{b}.mlp_ratio"] == block.mlp_ratio


def test_heads_fall_back_to_one_when_none_divides_dim() -> None:
    c = SpaceConstraints(mixers=("stm",), dims=(16,), heads=(3, 5), max_depth=1)
    space = SearchSpace(c, (8, 8), 2)
    for seed in range(10):
        assert space.sample(RandomSuggester(seed)).stages[0].blocks[0].mixer.heads == 1


def test_event_driven_only_removes_unfriendly_mixers() -> None:
    c = WIDE.model_copy(update={"event_driven_only": True})
    space = SearchSpace(c, (16, 16), 7)
    assert set(space.mixers) == set(WIDE.mixers) & EVENT_DRIVEN_MIXERS
    assert not {"ssa", "sdsa"} & set(space.mixers)
    for seed in SEEDS:
        spec = space.sample(RandomSuggester(seed))
        assert all(b.mixer.kind in EVENT_DRIVEN_MIXERS for s in spec.stages for b in s.blocks)


def test_event_driven_only_with_no_friendly_mixer_left() -> None:
    c = SpaceConstraints(mixers=("ssa", "sdsa"), event_driven_only=True)
    with pytest.raises(SpecError, match=r"space\.mixers"):
        SearchSpace(c, (8, 8), 2)


def test_min_depth_above_max_depth_is_a_spec_error() -> None:
    c = SpaceConstraints(min_depth=4, max_depth=2)
    with pytest.raises(SpecError, match=r"min_depth \(4\).*max_depth \(2\)"):
        SearchSpace(c, (8, 8), 2)


@pytest.mark.parametrize(
    ("constraints", "input_shape"),
    [
        ({"downsample": (4, 8)}, (6, 6)),  # divides nothing
        ({"downsample": (1, 2), "max_tokens": 8}, (8, 8)),  # too many tokens
        ({"downsample": (2,)}, (3, 9, 9)),
    ],
)
def test_no_valid_downsample_is_a_spec_error(
    constraints: dict[str, Any], input_shape: tuple[int, ...]
) -> None:
    with pytest.raises(SpecError, match=r"space\.downsample"):
        SearchSpace(SpaceConstraints(**constraints), input_shape, 2)


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(SpecError, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dims", (16, 16)),
        ("mixers", ("stm", "stm")),
        ("time_steps", (2, 2)),
        ("heads", (1, 1)),
        ("mlp_ratios", (2.0, 2.0)),
        ("downsample", (2, 2)),
        ("neurons", ("lif", "lif")),
        ("surrogates", ("atan", "atan")),
        ("kernels", (3, 3)),
    ],
)
def test_constraints_reject_repeated_values(field: str, value: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError, match=rf"{field}[\s\S]*repeated"):
        SpaceConstraints(**{field: value})


@pytest.mark.parametrize("dims", [(12,), (16, 20), (4,), (2048,), (0,)])
def test_constraints_reject_bad_dims(dims: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match=r"dims[\s\S]*multiples of 8"):
        SpaceConstraints(dims=dims)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("downsample", (3,)),
        ("time_steps", (0,)),
        ("heads", (65,)),
        ("mlp_ratios", (9.0,)),
        ("mixers", ("mamba",)),
        ("kernels", (4,)),
        ("max_tokens", 0),
        ("unknown", 1),
    ],
)
def test_constraints_reject_out_of_range(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        SpaceConstraints(**{field: value})


def test_max_params_is_enforced() -> None:
    """A draw above space.max_params is refused (SpecError) or never made; never returned."""
    c = SpaceConstraints(dims=(64,), min_depth=2, max_depth=3, max_params=5000)
    space = SearchSpace(c, (8, 8), 10)
    for seed in range(5):
        try:
            spec = space.sample(RandomSuggester(seed))
        except SpecError as e:
            assert "max_params" in str(e)
            continue
        params = sum(p.numel() for p in build_model(spec, seed=0).parameters())
        assert params <= 5000, f"seed {seed}: a {params}-parameter network was sampled"


def test_default_constraints_are_event_driven_and_built() -> None:
    c = SpaceConstraints()
    assert set(c.mixers) <= EVENT_DRIVEN_MIXERS
    assert set(c.mixers) <= set(BUILT_MIXERS)
    space = SearchSpace(c, (8, 8), 10)
    spec = space.sample(RandomSuggester(0))
    assert math.prod(spec.token_grid) <= c.max_tokens


# --- the input encoding, fixed per job ----------------------------------------------------------


@pytest.mark.parametrize("encoding", ["direct", "rate", "events"])
def test_every_sample_carries_the_jobs_encoding(encoding: str) -> None:
    frames = 6 if encoding == "events" else None
    space = SearchSpace(WIDE, (2, 16, 16), 7, encoding=encoding, frames=frames)  # type: ignore[arg-type]
    for seed in range(10):
        spec = space.sample(RandomSuggester(seed))
        assert spec.encoding == encoding
        assert spec.input_shape == (2, 16, 16)  # one frame, whatever the frame count
        _check(spec, space)


def test_events_search_only_time_steps_that_divide_the_frames() -> None:
    c = SpaceConstraints(time_steps=(2, 3, 4, 8))
    space = SearchSpace(c, (8, 8), 2, encoding="events", frames=12)
    assert space.time_steps == (2, 3, 4)
    assert {space.sample(RandomSuggester(s)).time_steps for s in range(40)} == {2, 3, 4}
    # Static data keeps every choice.
    assert SearchSpace(c, (8, 8), 2).time_steps == (2, 3, 4, 8)


def test_no_time_steps_dividing_the_frames_is_a_spec_error() -> None:
    c = SpaceConstraints(time_steps=(4, 8))
    with pytest.raises(SpecError, match=r"space\.time_steps.*\[4, 8\].*6 frames"):
        SearchSpace(c, (8, 8), 2, encoding="events", frames=6)


@pytest.mark.parametrize(
    ("encoding", "frames"), [("events", None), ("direct", 4), ("rate", 4)], ids=str
)
def test_frames_and_the_events_encoding_go_together(encoding: str, frames: int | None) -> None:
    with pytest.raises(SpecError, match=rf"encoding '{encoding}'"):
        SearchSpace(WIDE, (8, 8), 2, encoding=encoding, frames=frames)  # type: ignore[arg-type]

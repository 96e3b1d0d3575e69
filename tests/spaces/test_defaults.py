"""The default architecture: builds and runs for sequences, grey and colour images, uses only
event-driven friendly mixers, stays small, and refuses impossible geometries by name."""

from __future__ import annotations

import pytest
import torch

from spaces.build import build_model
from spaces.costs import spec_params
from spaces.defaults import MAX_TOKENS, default_arch, default_downsample
from spaces.errors import SpecError
from spaces.mixers import MIXERS
from spaces.space import EVENT_DRIVEN_MIXERS

# input shape -> (downsample, token count) the default should pick
SHAPES: dict[tuple[int, ...], tuple[int, int]] = {
    (8, 8): (2, 16),
    (3, 32, 32): (4, 64),
    (64,): (2, 32),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_builds_and_runs(shape: tuple[int, ...]) -> None:
    spec = default_arch(shape, num_classes=10)
    assert spec.input_shape == shape
    assert (spec.downsample, spec.num_tokens) == SHAPES[shape]
    model = build_model(spec, seed=0)
    x = torch.rand(3, *shape)
    logits = model(x)
    assert logits.shape == (3, 10)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("shape", list(SHAPES))
def test_event_driven_friendly(shape: tuple[int, ...]) -> None:
    spec = default_arch(shape, num_classes=10)
    kinds = [block.mixer.kind for stage in spec.stages for block in stage.blocks]
    assert set(kinds) <= EVENT_DRIVEN_MIXERS
    assert all(MIXERS[kind].event_driven for kind in kinds)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_parameter_count_is_modest(shape: tuple[int, ...]) -> None:
    params = spec_params(default_arch(shape, num_classes=10))
    assert 10_000 < params < 250_000


def test_json_round_trip_and_determinism() -> None:
    spec = default_arch((8, 8), 10)
    assert default_arch((8, 8), 10) == spec
    assert type(spec).model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("spatial", "expected"),
    [((8, 8), 2), ((32, 32), 4), ((28, 28), 4), ((7, 7), 1), ((6,), 2), ((1000,), 8)],
)
def test_downsample_rule(spatial: tuple[int, ...], expected: int) -> None:
    assert default_downsample(spatial) == expected
    tokens = 1
    for size in spatial:
        tokens *= size // expected
    # Either the grid is small enough, or no larger power of two divides the input.
    assert tokens <= MAX_TOKENS or any(size % (2 * expected) for size in spatial)


@pytest.mark.parametrize(
    ("shape", "classes", "word"),
    [
        ((), 10, "input_shape"),
        ((1, 2, 3, 4), 10, "input_shape"),
        ((8, 0), 10, "input_shape"),
        ((8, 8), 1, "num_classes"),
    ],
)
def test_bad_arguments_are_named(shape: tuple[int, ...], classes: int, word: str) -> None:
    with pytest.raises(SpecError, match=word):
        default_arch(shape, classes)

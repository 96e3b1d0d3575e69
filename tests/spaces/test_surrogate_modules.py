"""Surrogate modules: placement by depth, shapes, no spiking neurons, kept out of the deployable
model, and gradients that reach the SNN before each tap but not after it."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from spaces.arch import ArchSpec
from spaces.blocks import EncoderBlock
from spaces.build import build_model
from spaces.network import SpikingNetwork
from spaces.neurons import SpikingNeuron
from spaces.surrogate_modules import (
    SurrogateModules,
    build_surrogate_modules,
    surrogate_taps,
)


def _spec(
    depths: tuple[int, ...] = (2,),
    dims: tuple[int, ...] = (16,),
    input_shape: tuple[int, ...] = (8, 8),
    downsample: int = 2,
    mixer: str = "conv",
    num_classes: int = 5,
) -> ArchSpec:
    blocks: list[dict[str, Any]] = [{"mixer": {"kind": mixer, "heads": 2}, "mlp_ratio": 1.0}]
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": num_classes,
            "time_steps": 2,
            "downsample": downsample,
            "stages": [
                {"dim": dim, "blocks": blocks * depth}
                for depth, dim in zip(depths, dims, strict=True)
            ],
        }
    )


EXPECTED_TAPS = {
    1: (0,),
    2: (0,),
    3: (0,),
    4: (0, 2),
    5: (0, 2),
    6: (0, 2, 4),
    7: (0, 2, 4),
    8: (0, 2, 4, 6),
}


@pytest.mark.parametrize("depth", sorted(EXPECTED_TAPS))
def test_number_and_placement(depth: int) -> None:
    assert surrogate_taps(depth) == EXPECTED_TAPS[depth]
    sms = build_surrogate_modules(_spec(depths=(depth,), dims=(8,), input_shape=(8,)), seed=0)
    assert sms.taps == EXPECTED_TAPS[depth]
    assert len(sms) == max(1, depth // 2)
    assert all(tap < depth for tap in sms.taps)  # never the last block: the head reads it


def test_taps_need_a_block() -> None:
    with pytest.raises(ValueError, match="depth"):
        surrogate_taps(0)


@pytest.mark.parametrize(("input_shape", "downsample"), [((16,), 2), ((8, 8), 2), ((3, 8, 8), 4)])
def test_shapes_one_and_two_dimensional(input_shape: tuple[int, ...], downsample: int) -> None:
    spec = _spec(depths=(4,), input_shape=input_shape, downsample=downsample)
    model, sms = build_model(spec, seed=0), build_surrogate_modules(spec, seed=0)
    x = torch.rand(3, *input_shape)
    steps, features = model.forward_with_features(x, sms.taps)
    assert steps.shape == (2, 3, 5)
    assert [f.shape for f in features] == [(2, 3, spec.num_tokens, 16)] * 2  # [T, B, N, D]
    logits = sms(features)
    assert [o.shape for o in logits] == [(3, 5), (3, 5)]


def test_multi_stage_widths() -> None:
    # Blocks: 1, 2 at width 8 | 3, 4 at width 16 | 5, 6 at width 24; taps 0, 2, 4.
    spec = _spec(depths=(2, 2, 2), dims=(8, 16, 24))
    model, sms = build_model(spec, seed=0), build_surrogate_modules(spec, seed=0)
    assert sms.taps == (0, 2, 4)
    _, features = model.forward_with_features(torch.rand(2, 8, 8), sms.taps)
    # A tap at the end of a stage reads that stage's width (before the transition) ...
    assert [f.shape[3] for f in features] == [8, 8, 16]  # [T, B, N, D]
    # ... and its module stands in for the next block, at the next block's width.
    widths = [sm.fc.in_features for sm in sms.surrogates]
    assert widths == [8, 16, 24]
    assert [o.shape for o in sms(features)] == [(2, 5)] * 3


def test_forward_with_features_matches_forward() -> None:
    spec = _spec(depths=(2, 1), dims=(8, 16))
    model = build_model(spec, seed=0).eval()
    x = torch.rand(4, 8, 8)
    steps, features = model.forward_with_features(x, (3, 0, 1))
    assert torch.equal(steps, model.forward_steps(x))
    assert torch.equal(steps.mean(0), model(x))
    assert torch.equal(features[1], model.embed(x.reshape(4, 1, 8, 8), 2))
    assert torch.equal(features[2], model.blocks[0](features[1]))
    with pytest.raises(ValueError, match="taps"):
        model.forward_with_features(x, (4,))


@pytest.mark.parametrize("mixer", ["stm", "ssa", "sdsa", "conv", "pool", "identity"])
def test_no_spiking_neurons(mixer: str) -> None:
    sms = build_surrogate_modules(_spec(depths=(4,), mixer=mixer), seed=0)
    assert not any(isinstance(m, SpikingNeuron) for m in sms.modules())
    assert any(isinstance(m, nn.GELU) for m in sms.modules())
    assert all(isinstance(sm.block, EncoderBlock) for sm in sms.surrogates)


def test_kept_out_of_the_deployable_model() -> None:
    spec = _spec(depths=(4,))
    model, sms = build_model(spec, seed=0), build_surrogate_modules(spec, seed=0)
    assert isinstance(sms, SurrogateModules) and not isinstance(model, SurrogateModules)
    sm_params = {id(p) for p in sms.parameters()}
    assert not sm_params & {id(p) for p in model.parameters()}
    fresh = SpikingNetwork(spec.model_dump(mode="json"))
    assert list(model.state_dict()) == list(fresh.state_dict())
    assert not any(isinstance(m, SurrogateModules) for m in model.modules())


def test_seeded_and_leaves_global_rng_alone() -> None:
    spec = _spec(depths=(4,))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b = build_surrogate_modules(spec, seed=7), build_surrogate_modules(spec, seed=7)
    assert torch.equal(torch.random.get_rng_state(), before)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def _grad_norm(module: nn.Module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(sum(g.abs().sum() for g in grads)) if grads else 0.0


def test_gradients_reach_blocks_before_the_tap_only() -> None:
    spec = _spec(depths=(4,))
    model, sms = build_model(spec, seed=0), build_surrogate_modules(spec, seed=0)
    x = torch.rand(8, 8, 8)
    # The module at tap 2 (after blocks 1 and 2) alone.
    _, features = model.forward_with_features(x, (2,))
    logits = sms.surrogates[1](features[0])
    nn.functional.cross_entropy(logits, torch.arange(8) % 5).backward()
    blocks = list(model.blocks)
    assert _grad_norm(model.embed) > 0
    assert _grad_norm(blocks[0]) > 0 and _grad_norm(blocks[1]) > 0  # not detached
    assert _grad_norm(blocks[2]) == 0 and _grad_norm(blocks[3]) == 0
    assert _grad_norm(model.head) == 0
    assert _grad_norm(sms.surrogates[1]) > 0

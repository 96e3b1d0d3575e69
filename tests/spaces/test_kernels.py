"""The fused multi-step kernel against the step-by-step reference loop.

For every neuron, surrogate, reset (hard to 0, hard to another value, soft), detach_reset and
LIF convention: spikes identical bit for bit, input gradients and the gradients of PLIF's decay
and KLIF's k equal to autograd's through the reference loop (float64: to 1e-12, float32: to
float rounding). Also: the block-wise walk over neurons gives the same answer as one block, and
the op keeps only the pre-reset potentials and the spikes for backward.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import spaces.kernels.fused as fused
from spaces.neurons import NEURONS, SpikingNeuron
from tests.spaces.neuron_cases import CASES, RESETS, make_neuron


@pytest.fixture(autouse=True)
def _fused_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """This module tests fused.py: on a float32 CPU tensor a neuron would otherwise run the C
    kernel (tested against fused.py in test_kernels_native.py)."""
    monkeypatch.setenv("SPIKENAS_NATIVE_CPU", "0")


def _run(
    neuron: SpikingNeuron, x: torch.Tensor, upstream: torch.Tensor, fused_path: bool
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    leaf = x.clone().requires_grad_()
    params = list(neuron.parameters())
    out = neuron(leaf) if fused_path else neuron.step_by_step(leaf)
    grads = torch.autograd.grad(out, [leaf, *params], upstream, allow_unused=True)
    return out.detach(), grads[0], [g if g is not None else torch.zeros(()) for g in grads[1:]]


def _inputs(dtype: torch.dtype, t: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, 3, 50, generator=gen, dtype=torch.float64) * 3.0 - 0.7).to(dtype)
    upstream = torch.randn(t, 3, 50, generator=gen, dtype=torch.float64).to(dtype)
    return x, upstream


@pytest.mark.parametrize(
    ("kind", "surrogate", "reset", "detach", "decay_input"),
    CASES,
    ids=["-".join(map(str, c)) for c in CASES],
)
def test_fused_equals_step_by_step(
    kind: str, surrogate: str, reset: str, detach: bool, decay_input: bool
) -> None:
    neuron = make_neuron(kind, surrogate, reset, detach, decay_input).double()
    x, upstream = _inputs(torch.float64)
    s_ref, gx_ref, gp_ref = _run(neuron, x, upstream, fused_path=False)
    s_fused, gx_fused, gp_fused = _run(neuron, x, upstream, fused_path=True)
    rate = float(s_ref.mean())
    assert 0.05 < rate < 0.95, f"the input does not exercise firing and reset (rate {rate})"
    assert torch.equal(s_fused, s_ref)
    assert float(gx_ref.abs().max()) > 0
    torch.testing.assert_close(gx_fused, gx_ref, rtol=1e-12, atol=1e-12)
    for g_fused, g_ref in zip(gp_fused, gp_ref, strict=True):
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-10, atol=1e-12)
        if kind in ("plif", "klif"):
            assert float(g_ref.abs()) > 0, "the learnable parameter gets no gradient"


@pytest.mark.parametrize("kind", sorted(NEURONS))
@pytest.mark.parametrize("reset", sorted(RESETS))
def test_fused_equals_step_by_step_in_float32(kind: str, reset: str) -> None:
    """The product trains in float32: spikes still identical, gradients to float rounding."""
    neuron = make_neuron(kind, "sigmoid", reset, False, True)
    x, upstream = _inputs(torch.float32, t=16, seed=1)
    s_ref, gx_ref, gp_ref = _run(neuron, x, upstream, fused_path=False)
    s_fused, gx_fused, gp_fused = _run(neuron, x, upstream, fused_path=True)
    assert torch.equal(s_fused, s_ref)
    torch.testing.assert_close(gx_fused, gx_ref, rtol=1e-5, atol=1e-6)
    for g_fused, g_ref in zip(gp_fused, gp_ref, strict=True):
        torch.testing.assert_close(g_fused, g_ref, rtol=1e-4, atol=1e-5)


def test_blocks_give_the_same_answer_as_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    neuron = make_neuron("klif", "atan", "soft", False, True)
    x, upstream = _inputs(torch.float32, t=5, seed=2)
    whole = _run(neuron, x, upstream, fused_path=True)
    # 150 neurons per step in blocks of 16 columns: ten blocks, the last one partial.
    monkeypatch.setattr(fused, "FORWARD_BLOCK_ELEMENTS", 16 * 5)
    monkeypatch.setattr(fused, "BACKWARD_BLOCK_ELEMENTS", 16 * 5)
    monkeypatch.setattr(fused, "MIN_BLOCK_COLUMNS", 16)
    assert len(list(fused._blocks(150, 5, fused.FORWARD_BLOCK_ELEMENTS))) == 10
    blocked = _run(neuron, x, upstream, fused_path=True)
    assert torch.equal(whole[0], blocked[0])
    assert torch.equal(whole[1], blocked[1])
    torch.testing.assert_close(whole[2][0], blocked[2][0], rtol=1e-5, atol=1e-6)


def test_saves_only_potentials() -> None:
    """Training memory: one float per neuron and step (backward recomputes the spikes from
    it), against the reference loop's several floats per step (the benchmark reports the
    measured ratio)."""
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    neuron = make_neuron("lif", "sigmoid", "hard0", False, True)
    x = torch.rand(16, 4, 32, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        neuron(x)
    big = [t for t in saved if t.numel() > 1]
    assert [str(t.dtype) for t in big] == ["torch.float32"]
    assert big[0].numel() == x.numel()


def test_inference_keeps_no_potentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under no_grad the op needs one step of scratch, not T steps of potentials."""
    kept: list[bool] = []
    forward_block = fused._forward_block

    def spy(*args: Any) -> None:
        kept.append(args[4] is not None)  # h_out: where the potentials would be kept
        forward_block(*args)

    monkeypatch.setattr(fused, "_forward_block", spy)
    neuron = make_neuron("lif", "sigmoid", "hard0", False, True)
    x = torch.rand(16, 4, 32)
    with torch.no_grad():
        out = neuron(x)
    neuron(x.clone().requires_grad_())
    assert kept == [False, True]
    assert torch.equal(out, neuron.step_by_step(x))


def test_eval_forward_without_grad_equals_reference() -> None:
    neuron = make_neuron("plif", "erf", "hard-0.3", False, False)
    x, _ = _inputs(torch.float32, t=9, seed=4)
    with torch.no_grad():
        assert torch.equal(neuron(x), neuron.step_by_step(x))

"""Multi-step neurons: parity with SpikingJelly 2.0, the pure step function, both LIF conventions,
PLIF and KLIF, and a zero state at the start of every call (snn-methods.md section 1)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from spaces.arch import NeuronKind
from spaces.neurons import KLIF, LIF, NEURONS, PLIF, SpikingNeuron, lif_step
from spaces.surrogates import SURROGATE_GRADS


def _input(t: int, seed: int = 0, b: int = 3, n: int = 40, scale: float = 3.0) -> torch.Tensor:
    """Non-negative drive strong enough that neurons fire at a moderate rate."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(t, b, n, generator=gen) * scale


def _grad(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, upstream: torch.Tensor):
    leaf = x.detach().clone().requires_grad_()
    out = module(leaf)
    (grad,) = torch.autograd.grad(out, leaf, upstream)
    return out.detach(), grad


# --- parity with SpikingJelly 2.0 -------------------------------------------------------------

PARITY_CASES: dict[str, dict[str, Any]] = {
    "hard-reset": {},
    "soft-reset": {"v_reset": None},
    "detach-reset": {"detach_reset": True},
    "leak-factor": {"decay_input": False},
    "soft-detach-leak": {"v_reset": None, "detach_reset": True, "decay_input": False},
}


@pytest.mark.parametrize("t", [4, 8])
@pytest.mark.parametrize("case", sorted(PARITY_CASES))
def test_lif_matches_spikingjelly(case: str, t: int) -> None:
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except Exception as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"spikingjelly cannot be imported: {e!r}")
    cfg: dict[str, Any] = {
        "tau": 2.0,
        "v_threshold": 1.0,
        "v_reset": 0.0,
        "decay_input": True,
        "detach_reset": False,
    }
    cfg.update(PARITY_CASES[case])
    # SpikingJelly 2.0's LIFNode has no `backend` argument: on CPU it runs its torch path.
    sj = neuron.LIFNode(surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m", **cfg)
    ours = LIF(surrogate="sigmoid", alpha=4.0, **cfg)

    for seed in range(3):
        x = _input(t, seed=seed)
        upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(100 + seed))
        functional.reset_net(sj)
        s_sj, g_sj = _grad(sj, x, upstream)
        s_ours, g_ours = _grad(ours, x, upstream)
        rate = float(s_ours.mean())
        assert 0.05 < rate < 0.95, f"input does not exercise firing and reset (rate {rate})"
        assert torch.equal(s_ours, s_sj)
        torch.testing.assert_close(g_ours, g_sj, rtol=0, atol=1e-6)


# --- the pure step function and the module agree ---------------------------------------------

STEP_CASES = [
    {},
    {"v_reset": None},
    {"detach_reset": True},
    {"decay_input": False},
    {"tau": 3.0, "v_threshold": 0.7, "surrogate": "atan", "alpha": 2.0},
    {"v_reset": -0.2, "surrogate": "dspike", "alpha": 2.5},
]


@pytest.mark.parametrize(
    "cfg", STEP_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default"
)
def test_lif_step_loop_equals_module(cfg: dict[str, Any]) -> None:
    x = _input(6, seed=3) - 0.5  # some negative drive as well
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))

    leaf = x.clone().requires_grad_()
    v = torch.zeros_like(x[0])
    spikes = []
    for xt in leaf:
        s, v = lif_step(xt, v, **cfg)
        spikes.append(s)
    loop = torch.stack(spikes)
    (g_loop,) = torch.autograd.grad(loop, leaf, upstream)

    # The module's reference loop is the same graph: equal bit for bit, gradients included. Its
    # forward (the fused kernel) is compared with this loop in tests/spaces/test_kernels.py.
    module_out, g_module = _grad(LIF(**cfg).step_by_step, x, upstream)
    assert 0 < float(loop.detach().mean()) < 1
    assert torch.equal(loop.detach(), module_out)
    assert torch.equal(g_loop, g_module)


def test_decay_input_convention_by_hand() -> None:
    """decay-input: H = V + (X - V) / tau; hard reset to 0."""
    x = _input(8, seed=5, b=2, n=16).double()
    v = torch.zeros_like(x[0])
    expected = []
    for xt in x:
        h = v + (xt - v) / 2.0
        s = (h >= 1.0).double()
        v = h * (1 - s)
        expected.append(s)
    out = LIF(tau=2.0)(x)
    assert torch.equal(out, torch.stack(expected))


def test_leak_factor_convention_by_hand() -> None:
    """leak-factor (decay_input=False, tau=2): u = 0.5 u + x, fire at 1, hard reset to 0."""
    x = _input(8, seed=6, b=2, n=16, scale=1.2)
    u = torch.zeros_like(x[0])
    expected = []
    for xt in x:
        u = 0.5 * u + xt
        s = (u >= 1.0).to(x)
        u = u * (1 - s)
        expected.append(s)
    out = LIF(tau=2.0, decay_input=False)(x)
    assert 0.05 < float(out.mean()) < 0.95
    assert torch.equal(out, torch.stack(expected))


def test_soft_reset_subtracts_threshold_by_hand() -> None:
    x = torch.tensor([[3.0], [0.0], [0.0], [2.0]]).unsqueeze(-1)  # [T=4, B=1, N=1]
    # H0 = 1.5 -> spike, V = 0.5; H1 = 0.25; H2 = 0.125; H3 = 0.0625 + 1 = 1.0625 -> spike.
    out = LIF(tau=2.0, v_reset=None)(x)
    assert out.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    hard = LIF(tau=2.0, v_reset=0.0)(x)
    assert hard.flatten().tolist() == [1.0, 0.0, 0.0, 1.0]
    x3 = torch.tensor([[3.0], [1.6]]).unsqueeze(-1)
    # soft: V0 = .5, H1 = .5 + (1.6 - .5)/2 = 1.05 -> spike; hard: H1 = .8 -> no spike.
    assert LIF(tau=2.0, v_reset=None)(x3).flatten().tolist() == [1.0, 1.0]
    assert LIF(tau=2.0, v_reset=0.0)(x3).flatten().tolist() == [1.0, 0.0]


# --- every registered neuron ------------------------------------------------------------------


def test_registry_matches_spec_literal() -> None:
    assert set(NEURONS) == set(NeuronKind.__args__)


@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_neuron_interface(kind: str) -> None:
    neuron = NEURONS[kind]()
    assert isinstance(neuron, SpikingNeuron)
    x = _input(4, seed=9, b=2, n=8) - 0.3
    x = x.unsqueeze(-1).expand(4, 2, 8, 3)  # any trailing shape
    leaf = x.clone().requires_grad_()
    out = neuron(leaf)
    assert out.shape == x.shape
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
    assert leaf.grad.abs().sum() > 0
    for p in neuron.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("surrogate", sorted(SURROGATE_GRADS))
@pytest.mark.parametrize("kind", sorted(NEURONS))
def test_each_call_starts_from_zero_state(kind: str, surrogate: str) -> None:
    neuron = NEURONS[kind](surrogate=surrogate)
    x = _input(5, seed=11)
    first = neuron(x)
    neuron(_input(5, seed=12, scale=10.0))  # leaves a different state behind, if any is kept
    second = neuron(x)
    assert torch.equal(first, second)
    # A sequence is the prefix of a longer one: the first steps do not depend on later input.
    longer = neuron(torch.cat([x, _input(3, seed=13)]))
    assert torch.equal(longer[:5], first)


def test_lif_rejects_tau_not_above_one() -> None:
    with pytest.raises(ValueError, match="tau"):
        LIF(tau=1.0)
    with pytest.raises(ValueError, match="init_tau"):
        PLIF(init_tau=0.5)


# --- PLIF -------------------------------------------------------------------------------------


@pytest.mark.parametrize("decay_input", [True, False])
def test_plif_with_init_tau_two_equals_lif(decay_input: bool) -> None:
    plif = PLIF(init_tau=2.0, decay_input=decay_input)
    assert plif.w.item() == 0.0
    assert plif.decay().item() == 0.5
    x = _input(6, seed=21)
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(22))
    s_plif, g_plif = _grad(plif, x, upstream)
    s_lif, g_lif = _grad(LIF(tau=2.0, decay_input=decay_input), x, upstream)
    assert torch.equal(s_plif, s_lif)
    torch.testing.assert_close(g_plif, g_lif, rtol=0, atol=1e-7)


def test_plif_init_and_learnable_decay() -> None:
    plif = PLIF(init_tau=4.0)
    assert math.isclose(plif.decay().item(), 0.25, rel_tol=1e-6)
    out = plif(_input(6, seed=23))
    out.sum().backward()
    assert plif.w.grad is not None and float(plif.w.grad) != 0.0


# --- KLIF -------------------------------------------------------------------------------------


def test_klif_gradient_wrt_k_is_non_zero() -> None:
    klif = KLIF()
    out = klif(_input(6, seed=31))
    assert 0 < out.mean().item() < 1
    (out * torch.randn(out.shape, generator=torch.Generator().manual_seed(32))).sum().backward()
    assert klif.k.grad is not None
    assert torch.isfinite(klif.k.grad) and float(klif.k.grad) != 0.0


def test_klif_with_k_one_on_non_negative_input_equals_lif() -> None:
    x = _input(6, seed=33)  # H stays >= 0, so ReLU(1 * H) = H
    assert torch.equal(KLIF()(x), LIF()(x))


def test_klif_surrogate_is_scaled_by_k() -> None:
    """One step, decay-input tau=2: H = x/2, dS/dx = k g'(k H - V_th) / 2 where k H > 0."""
    klif = KLIF(surrogate="sigmoid", alpha=4.0)
    with torch.no_grad():
        klif.k.fill_(1.5)
    x = torch.linspace(0.1, 3.0, 30).reshape(1, 1, 30).requires_grad_()
    (grad,) = torch.autograd.grad(klif(x).sum(), x)
    h = x.detach() / 2.0
    expected = 1.5 * SURROGATE_GRADS["sigmoid"](1.5 * h - 1.0, 4.0) / 2.0
    torch.testing.assert_close(grad, expected)
    # Negative potentials are cut by the ReLU: no spike and no gradient.
    xn = (-torch.linspace(0.1, 3.0, 30)).reshape(1, 1, 30).requires_grad_()
    out = klif(xn)
    (grad_n,) = torch.autograd.grad(out.sum(), xn)
    assert out.sum() == 0
    assert torch.equal(grad_n, torch.zeros_like(grad_n))

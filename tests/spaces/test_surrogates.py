"""Surrogate gradients: Heaviside forward, and g' equal to the derivative of a smooth primitive.

The primitives live here (not in the product) so that each g' is checked against an independent
formula (snn-methods.md section 2) by a central finite difference in float64. Every registered
surrogate must have a primitive below: registering a new one without one fails these tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch

from spaces.arch import SurrogateKind
from spaces.space import DEFAULT_ALPHA
from spaces.surrogates import SURROGATE_GRADS, spike

Primitive = Callable[[torch.Tensor, float], torch.Tensor]


def _triangle(x: torch.Tensor, a: float) -> torch.Tensor:
    left = 0.5 * (a * x + 1.0) ** 2
    right = 1.0 - 0.5 * (1.0 - a * x) ** 2
    y = torch.where(x < 0, left, right)
    y = torch.where(x <= -1.0 / a, torch.zeros_like(x), y)
    return torch.where(x >= 1.0 / a, torch.ones_like(x), y)


def _dspike(x: torch.Tensor, a: float) -> torch.Tensor:
    y = (torch.tanh(a * x) / math.tanh(a) + 1.0) / 2.0
    y = torch.where(x < -1.0, torch.zeros_like(x), y)
    return torch.where(x > 1.0, torch.ones_like(x), y)


PRIMITIVES: dict[str, Primitive] = {
    "sigmoid": lambda x, a: torch.sigmoid(a * x),
    "atan": lambda x, a: torch.atan(math.pi / 2.0 * a * x) / math.pi + 0.5,
    "rect": lambda x, a: (a * x + 0.5).clamp(0.0, 1.0),
    "triangle": _triangle,
    "erf": lambda x, a: (1.0 + torch.erf(a * x)) / 2.0,
    "dspike": _dspike,
}

# Points where g' is discontinuous (a finite difference straddling one is meaningless).
KINKS: dict[str, Callable[[float], list[float]]] = {
    "sigmoid": lambda a: [],
    "atan": lambda a: [],
    "rect": lambda a: [-0.5 / a, 0.5 / a],
    "triangle": lambda a: [-1.0 / a, 0.0, 1.0 / a],
    "erf": lambda a: [],
    "dspike": lambda a: [-1.0, 1.0],
}

ALPHAS = (0.5, 1.0, 2.5, 4.0, 8.0)
STEP = 1e-6


def _points(name: str, alpha: float) -> torch.Tensor:
    """Points over the support of g' and beyond it, at least 1e-3 away from every kink."""
    gen = torch.Generator().manual_seed(1234)
    u = torch.rand(400, generator=gen, dtype=torch.float64) * 2.0 - 1.0
    # Half on the scale of the surrogate's width (1/alpha), half on the scale of |x| <= 1.5.
    x = torch.cat([u[:200] * 1.5 / alpha, u[200:] * 1.5])
    far = torch.ones_like(x, dtype=torch.bool)
    for kink in KINKS[name](alpha):
        far &= (x - kink).abs() > 1e-3
    return x[far]


def test_every_surrogate_has_a_primitive_and_a_default_alpha() -> None:
    assert set(PRIMITIVES) == set(SURROGATE_GRADS)
    assert set(SurrogateKind.__args__) == set(SURROGATE_GRADS)
    assert set(DEFAULT_ALPHA) == set(SURROGATE_GRADS)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("name", sorted(SURROGATE_GRADS))
def test_gradient_is_derivative_of_primitive(name: str, alpha: float) -> None:
    primitive = PRIMITIVES.get(name)
    assert primitive is not None, f"surrogate {name!r} has no primitive in this test"
    x = _points(name, alpha)
    assert len(x) > 300
    fd = (primitive(x + STEP, alpha) - primitive(x - STEP, alpha)) / (2 * STEP)

    leaf = x.clone().requires_grad_()
    out = spike(leaf, name, alpha)
    (grad,) = torch.autograd.grad(out.sum(), leaf)

    assert grad.dtype == torch.float64
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-7)
    # The check must see the surrogate's support, not only flat regions of it.
    assert (grad > 0).sum() > 50


@pytest.mark.parametrize("name", sorted(SURROGATE_GRADS))
def test_gradient_uses_alpha(name: str) -> None:
    x = torch.tensor([0.05, 0.2], dtype=torch.float64, requires_grad=True)
    (g1,) = torch.autograd.grad(spike(x, name, 1.0).sum(), x)
    (g3,) = torch.autograd.grad(spike(x, name, 3.0).sum(), x)
    assert not torch.equal(g1, g3)


@pytest.mark.parametrize("name", sorted(SURROGATE_GRADS))
def test_backward_scales_the_incoming_gradient(name: str) -> None:
    alpha = DEFAULT_ALPHA[name]
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(64, generator=gen, dtype=torch.float64) - 0.5).requires_grad_()
    upstream = torch.randn(64, generator=gen, dtype=torch.float64)
    (grad,) = torch.autograd.grad(spike(x, name, alpha), x, upstream)
    torch.testing.assert_close(grad, upstream * SURROGATE_GRADS[name](x.detach(), alpha))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SURROGATE_GRADS))
def test_forward_is_exactly_heaviside(name: str, dtype: torch.dtype) -> None:
    tiny = torch.finfo(dtype).tiny
    x = torch.tensor(
        [-2.0, -1.0, -1e-7, -tiny, -0.0, 0.0, tiny, 1e-7, 0.5, 3.0, -math.inf, math.inf],
        dtype=dtype,
    )
    out = spike(x, name, DEFAULT_ALPHA[name])
    assert out.dtype == dtype
    expected = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1], dtype=dtype)
    assert torch.equal(out, expected)

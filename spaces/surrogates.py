"""Surrogate gradients: a Heaviside spike forward, a smooth derivative backward.

Each surrogate is a pure function g'(x, alpha) of x = H - V_th (snn-methods.md section 2); its
smooth primitive lives in tests, which check g' against a finite difference of it. The registry
maps a name to its g'; `spike` is the only entry point the neurons use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

SurrogateGrad = Callable[[torch.Tensor, float], torch.Tensor]


# Each g' makes one new tensor with its first operation and works in place after that: the
# fused neuron op calls these over whole blocks of neurons and time steps, where every extra
# pass over memory costs as much as the arithmetic.


def sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.mul(x, alpha).sigmoid_()
    # aten's sigmoid_backward computes alpha * s * (1 - s) in one pass instead of three.
    return torch.ops.aten.sigmoid_backward.grad_input(
        s.new_tensor(alpha).expand_as(s), s, grad_input=s
    )


def atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # alpha / (2 (1 + (pi/2 alpha x)^2))
    return torch.mul(x, math.pi / 2.0 * alpha).square_().add_(1.0).reciprocal_().mul_(alpha / 2.0)


def rect_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # alpha where |x| < 1 / (2 alpha)
    window = torch.abs(x)
    return torch.lt(window, 0.5 / alpha, out=window).mul_(alpha)


def triangle_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # max(0, alpha - alpha^2 |x|)
    return torch.abs(x).mul_(-alpha * alpha).add_(alpha).clamp_(min=0.0)


def erf_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # alpha / sqrt(pi) exp(-alpha^2 x^2)
    return torch.square(x).mul_(-(alpha * alpha)).exp_().mul_(alpha / math.sqrt(math.pi))


def dspike_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # Li et al., NeurIPS 2021: alpha plays the role of the paper's temperature gamma.
    # alpha (1 - tanh(alpha x)^2) / (2 tanh(alpha)) on |x| <= 1, else 0.
    inside = torch.abs(x)
    torch.le(inside, 1.0, out=inside)
    g = torch.mul(x, alpha).tanh_().square_().neg_().add_(1.0)
    return g.mul_(inside).mul_(alpha / (2.0 * math.tanh(alpha)))


SURROGATE_GRADS: dict[str, SurrogateGrad] = {
    "sigmoid": sigmoid_grad,
    "atan": atan_grad,
    "rect": rect_grad,
    "triangle": triangle_grad,
    "erf": erf_grad,
    "dspike": dspike_grad,
}


class SpikeFunction(torch.autograd.Function):
    """Heaviside(x) forward (a spike where x >= 0); g'(x, alpha) times the incoming grad back."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: float, grad_fn: SurrogateGrad) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        ctx.grad_fn = grad_fn
        return (x >= 0).to(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad_output * ctx.grad_fn(x, ctx.alpha), None, None


def spike(x: torch.Tensor, surrogate: str, alpha: float) -> torch.Tensor:
    """Fire where x >= 0, with the named surrogate gradient."""
    return SpikeFunction.apply(x, alpha, SURROGATE_GRADS[surrogate])

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


def sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1.0 - s)


def atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha / (2.0 * (1.0 + (math.pi / 2.0 * alpha * x) ** 2))


def rect_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha * (x.abs() < 0.5 / alpha).to(x)


def triangle_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha - alpha * alpha * x.abs()).clamp(min=0.0)


def erf_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return alpha / math.sqrt(math.pi) * torch.exp(-(alpha * alpha) * x * x)


def dspike_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    # Li et al., NeurIPS 2021: alpha plays the role of the paper's temperature gamma.
    t = torch.tanh(alpha * x)
    g = alpha * (1.0 - t * t) / (2.0 * math.tanh(alpha))
    return torch.where(x.abs() <= 1.0, g, torch.zeros_like(g))


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

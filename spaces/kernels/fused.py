"""The whole multi-step neuron loop as one autograd op with a hand-written backward.

The step-by-step path records about ten small autograd nodes per time step and keeps every
intermediate. This op runs the same charge/fire/reset arithmetic under no_grad (so its forward
is bit-identical to the step-by-step forward), saves only the pre-reset potentials H[t], and
walks time backwards in its backward, recomputing spikes, surrogate gradients and V[t-1] from
H. It covers LIF (decay-input and leak-factor), PLIF (learnable decay) and KLIF (learnable k),
hard and soft reset, detach_reset, and every registered surrogate.

Backward, per step (u = H, or ReLU(k H) for KLIF; sg = g'(u - V_th)):
    hard reset V = u (1 - S) + V_r S:   dV/du = 1 - S,  dV/dS = V_r - u
    soft reset V = u - V_th S:          dV/du = 1,      dV/dS = -V_th
    grad_u = (grad_S + grad_V dV/dS) sg + grad_V dV/du      (no dV/dS term with detach_reset)
    grad_H = grad_u (times k 1[k H > 0] for KLIF)
    grad_X = grad_H d (decay-input) or grad_H;  grad_V[t-1] = grad_H (1 - d)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from spaces.neurons import charge, reset
from spaces.surrogates import SURROGATE_GRADS


class NeuronConfig(NamedTuple):
    v_threshold: float
    v_reset: float | None
    decay_input: bool
    detach_reset: bool
    surrogate: str
    alpha: float
    klif: bool


def _fire_input(h: torch.Tensor, k: torch.Tensor | None) -> torch.Tensor:
    return h if k is None else torch.relu(k * h)


class FusedNeuronFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x_seq: torch.Tensor,
        decay: torch.Tensor,
        k: torch.Tensor | None,
        cfg: NeuronConfig,
    ) -> torch.Tensor:
        d: float | torch.Tensor = decay if decay.requires_grad else float(decay)
        h_seq = torch.empty_like(x_seq)
        s_seq = torch.empty_like(x_seq)
        v = torch.zeros_like(x_seq[0])
        for t in range(x_seq.shape[0]):
            h = charge(x_seq[t], v, d, cfg.v_reset, cfg.decay_input)
            h_seq[t] = h
            u = _fire_input(h, k)
            s = (u - cfg.v_threshold >= 0).to(u)
            s_seq[t] = s
            v = reset(u, s, cfg.v_threshold, cfg.v_reset, cfg.detach_reset)
        ctx.save_for_backward(h_seq, decay, k if k is not None else torch.empty(0))
        ctx.cfg = cfg
        ctx.has_k = k is not None
        return s_seq

    @staticmethod
    def backward(ctx: Any, grad_s_seq: torch.Tensor) -> tuple[Any, ...]:
        h_seq, decay, k_saved = ctx.saved_tensors
        cfg: NeuronConfig = ctx.cfg
        k = k_saved if ctx.has_k else None
        d = float(decay)
        grad_fn = SURROGATE_GRADS[cfg.surrogate]
        rest = 0.0 if cfg.v_reset is None else cfg.v_reset
        want_decay = ctx.needs_input_grad[1]
        want_k = ctx.has_k and ctx.needs_input_grad[2]
        grad_x = torch.empty_like(h_seq)
        grad_v = torch.zeros_like(h_seq[0])
        grad_decay = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
        grad_k = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
        for t in range(h_seq.shape[0] - 1, -1, -1):
            h = h_seq[t]
            u = _fire_input(h, k)
            x = u - cfg.v_threshold
            s = (x >= 0).to(u)
            sg = grad_fn(x, cfg.alpha)
            if cfg.v_reset is None:
                grad_u = grad_v if cfg.detach_reset else grad_v - cfg.v_threshold * grad_v * sg
                grad_u = grad_u + grad_s_seq[t] * sg
            else:
                grad_u = grad_v * (1.0 - s)
                spike_grad = (
                    grad_s_seq[t]
                    if cfg.detach_reset
                    else grad_s_seq[t] + grad_v * (cfg.v_reset - u)
                )
                grad_u = grad_u + spike_grad * sg
            if k is not None:
                active = (k * h > 0).to(h)
                if want_k:
                    grad_k += (grad_u * h * active).sum()
                grad_h = grad_u * k * active
            else:
                grad_h = grad_u
            grad_x[t] = grad_h * d if cfg.decay_input else grad_h
            if want_decay:
                v_prev = _previous_v(h_seq, t, k, cfg)
                dh_dd = (h - v_prev) / d if cfg.decay_input else -(v_prev - rest)
                grad_decay += (grad_h * dh_dd).sum()
            grad_v = grad_h * (1.0 - d)
        return (
            grad_x,
            grad_decay if want_decay else None,
            grad_k if want_k else None,
            None,
        )


def _previous_v(
    h_seq: torch.Tensor, t: int, k: torch.Tensor | None, cfg: NeuronConfig
) -> torch.Tensor:
    """V[t-1], recomputed from H[t-1] (V[-1] = 0)."""
    if t == 0:
        return torch.zeros_like(h_seq[0])
    u = _fire_input(h_seq[t - 1], k)
    s = (u - cfg.v_threshold >= 0).to(u)
    return reset(u, s, cfg.v_threshold, cfg.v_reset, cfg.detach_reset)


def fused_multistep(
    x_seq: torch.Tensor, decay: float | torch.Tensor, k: torch.Tensor | None, cfg: NeuronConfig
) -> torch.Tensor:
    """Spikes [T, ...] of a neuron over x_seq [T, ...], through the fused op."""
    decay_t = decay if isinstance(decay, torch.Tensor) else torch.tensor(decay)
    return FusedNeuronFunction.apply(x_seq, decay_t, k, cfg)

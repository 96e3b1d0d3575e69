"""The whole multi-step neuron loop as one autograd op with a hand-written backward.

The step-by-step path records about ten small autograd nodes per time step, keeps three
tensors per step for backward and makes a pass over memory for every one of them. This op:

- forward: per step the same charge arithmetic as `spaces.neurons.charge` (same operations in
  the same order, so the membrane values and spikes are identical to the step-by-step path),
  then the threshold test into a boolean and the reset as a select. It keeps only the
  pre-reset potentials H[t] (float) and the spikes (bool) for backward.
- backward: everything that does not depend on the recurrence (surrogate gradient, reset
  derivatives, KLIF's slope) is computed for all steps at once; the recurrence itself is one
  fused multiply-add per step, walking time backwards:
      gH[t] = B[t] + gH[t+1] * A'[t],   A'[t] = (1 - d) * dV[t]/dH[t] (total, through the spike)
- both walk the neurons in column blocks small enough that a block's T steps stay in the
  last-level cache, so the many passes over a block cost cache bandwidth, not DRAM bandwidth.

Per step (u = H, or ReLU(k H) for KLIF; sg = g'(u - V_th)):
    hard reset V = u (1 - S) + V_r S:   dV/du = 1 - S,  dV/dS = V_r - u
    soft reset V = u - V_th S:          dV/du = 1,      dV/dS = -V_th
    dL/du = gS sg + gV (dV/du + dV/dS sg)          (no dV/dS term with detach_reset)
    gH = dL/du (times k 1[k H > 0] for KLIF);  gX = gH d (decay-input) or gH;  gV[t-1] = gH (1 - d)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import torch

from spaces.surrogates import SURROGATE_GRADS

# Elements of one (T, columns) block. Backward holds about six such float blocks at once, so
# 2**19 elements (2 MiB each) keep a block's working set inside a 32 MiB last-level cache.
BLOCK_ELEMENTS = 1 << 19
MIN_BLOCK_COLUMNS = 1 << 14  # below this, per-op overhead outweighs the cache win


class NeuronConfig(NamedTuple):
    v_threshold: float
    v_reset: float | None
    decay_input: bool
    detach_reset: bool
    surrogate: str
    alpha: float
    klif: bool


def _blocks(columns: int, steps: int) -> Iterator[slice]:
    width = max(MIN_BLOCK_COLUMNS, BLOCK_ELEMENTS // max(1, steps))
    for start in range(0, columns, width):
        yield slice(start, min(columns, start + width))


def _forward_block(
    x: torch.Tensor,
    d: float,
    k: float | None,
    cfg: NeuronConfig,
    h_out: torch.Tensor,
    fired_out: torch.Tensor,
) -> None:
    """Run T steps over one block of neurons: x, h_out (T, n) float, fired_out (T, n) bool."""
    rest = 0.0 if cfg.v_reset is None else cfg.v_reset
    v = torch.zeros_like(x[0])
    scratch = torch.empty_like(v)
    u = torch.empty_like(v) if k is not None else None
    reset_to = v.new_tensor(rest)
    for t in range(x.shape[0]):
        h = h_out[t]
        leak = v if rest == 0.0 else torch.sub(v, rest, out=scratch)
        # The operations of spaces.neurons.charge, in its order (identical rounding).
        if cfg.decay_input:
            torch.sub(x[t], leak, out=h)
            h.mul_(d)
            h.add_(v)
        else:
            torch.mul(leak, d, out=h)
            torch.sub(v, h, out=h)
            h.add_(x[t])
        fire_on = h
        if u is not None and k is not None:
            torch.mul(h, k, out=u)
            u.relu_()
            fire_on = u
        fired = fired_out[t]
        torch.ge(fire_on, cfg.v_threshold, out=fired)
        if cfg.v_reset is None:
            torch.where(fired, fire_on - cfg.v_threshold, fire_on, out=v)
        else:
            torch.where(fired, reset_to, fire_on, out=v)


def _backward_block(
    h: torch.Tensor,
    fired: torch.Tensor,
    grad_s: torch.Tensor,
    d: float,
    k: float | None,
    cfg: NeuronConfig,
    want_decay: bool,
    want_k: bool,
) -> tuple[torch.Tensor, float, float]:
    """(grad of x for the block, its share of grad decay, its share of grad k)."""
    spikes = fired.to(h.dtype)
    slope = None  # dU/dH for KLIF: k where k H > 0
    u = h
    if k is not None:
        u = torch.relu(h * k)
        slope = (h * k > 0).to(h.dtype) * k
    sg = SURROGATE_GRADS[cfg.surrogate](u - cfg.v_threshold, cfg.alpha)
    spike_term = grad_s * sg  # dL/du from the spike itself
    # dV/du in total, through the spike unless the reset is detached.
    if cfg.v_reset is None:
        through = torch.ones_like(h) if cfg.detach_reset else 1.0 - cfg.v_threshold * sg
    else:
        through = 1.0 - spikes
        if not cfg.detach_reset:
            through = through + (cfg.v_reset - u) * sg
    keep = 1.0 - d
    if slope is not None:
        grad_h = spike_term * slope
        coef = through * slope * keep
    else:
        grad_h = spike_term
        coef = through * keep
    for t in range(h.shape[0] - 2, -1, -1):
        grad_h[t].addcmul_(grad_h[t + 1], coef[t])
    grad_decay = grad_k = 0.0
    if want_decay or want_k:
        rest = 0.0 if cfg.v_reset is None else cfg.v_reset
        # With k = 0 no neuron is active (k H > 0 nowhere): grad k is 0, as initialised.
        if want_k and slope is not None and k:
            grad_v = torch.zeros_like(h)
            grad_v[:-1] = grad_h[1:] * keep
            grad_u = spike_term + grad_v * through
            grad_k = float((grad_u * h * slope).sum()) / k
        if want_decay:
            if cfg.v_reset is None:
                v_after = u - cfg.v_threshold * spikes
            else:
                v_after = torch.where(fired, u.new_tensor(cfg.v_reset), u)
            v_prev = torch.zeros_like(h)
            v_prev[1:] = v_after[:-1]
            dh_dd = (h - v_prev) / d if cfg.decay_input else rest - v_prev
            grad_decay = float((grad_h * dh_dd).sum())
    grad_x = grad_h * d if cfg.decay_input else grad_h
    return grad_x, grad_decay, grad_k


class FusedNeuronFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x_seq: torch.Tensor,
        decay: torch.Tensor,
        k: torch.Tensor | None,
        cfg: NeuronConfig,
    ) -> torch.Tensor:
        steps = x_seq.shape[0]
        x = x_seq.detach().reshape(steps, -1)
        d = float(decay)
        k_value = None if k is None else float(k)
        h_seq = torch.empty_like(x)
        fired = torch.empty(x.shape, dtype=torch.bool, device=x.device)
        for cols in _blocks(x.shape[1], steps):
            _forward_block(x[:, cols], d, k_value, cfg, h_seq[:, cols], fired[:, cols])
        ctx.save_for_backward(h_seq, fired, decay, k if k is not None else torch.empty(0))
        ctx.cfg = cfg
        ctx.has_k = k is not None
        ctx.shape = x_seq.shape
        return fired.to(x_seq.dtype).view(x_seq.shape)

    @staticmethod
    def backward(ctx: Any, grad_s_seq: torch.Tensor) -> tuple[Any, ...]:
        h_seq, fired, decay, k_saved = ctx.saved_tensors
        cfg: NeuronConfig = ctx.cfg
        d = float(decay)
        k_value = float(k_saved) if ctx.has_k else None
        want_decay = ctx.needs_input_grad[1]
        want_k = ctx.has_k and ctx.needs_input_grad[2]
        grad_s = grad_s_seq.reshape(h_seq.shape)
        grad_x = torch.empty_like(h_seq)
        grad_decay = grad_k = 0.0
        for cols in _blocks(h_seq.shape[1], h_seq.shape[0]):
            gx, gd, gk = _backward_block(
                h_seq[:, cols],
                fired[:, cols],
                grad_s[:, cols],
                d,
                k_value,
                cfg,
                want_decay,
                want_k,
            )
            grad_x[:, cols] = gx
            grad_decay += gd
            grad_k += gk
        return (
            grad_x.view(ctx.shape),
            decay.new_tensor(grad_decay) if want_decay else None,
            k_saved.new_tensor(grad_k) if want_k else None,
            None,
        )


def fused_multistep(
    x_seq: torch.Tensor, decay: float | torch.Tensor, k: torch.Tensor | None, cfg: NeuronConfig
) -> torch.Tensor:
    """Spikes [T, ...] of a neuron over x_seq [T, ...], through the fused op."""
    return FusedNeuronFunction.apply(x_seq, decay_tensor(decay), k, cfg)


def decay_tensor(decay: float | torch.Tensor) -> torch.Tensor:
    """The decay as the ops take it: a learnable one as is, a fixed one in float64, so that
    float(decay) inside an op is exactly the Python number the reference loop multiplies by."""
    return decay if isinstance(decay, torch.Tensor) else torch.tensor(decay, dtype=torch.float64)

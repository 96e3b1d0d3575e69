"""The whole multi-step neuron loop as one autograd op with a hand-written backward.

The step-by-step path records about ten small autograd nodes per time step, keeps three
tensors per step for backward and makes a pass over memory for every one of them. This op:

- forward: per step the same charge arithmetic as `spaces.neurons.charge` (same operations in
  the same order, so the membrane values and spikes are identical to the step-by-step path),
  then the threshold test straight into the float spikes and the reset as exact arithmetic on
  them. It keeps only the pre-reset potentials H[t] for backward, which recomputes the spikes.
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
from typing import Any

import torch

from spaces.kernels.op_context import NeuronConfig, keep_for_backward, saved_for_backward
from spaces.surrogates import SURROGATE_GRADS

# Elements of one (T, columns) block. Backward makes about ten passes over a block, so a block
# sized for the per-core L2 caches (about 2 MiB each here) keeps them off the slower shared
# cache; the forward streams once per step and only wants rows long enough to amortise each
# operation's fixed cost. Measured by benchmarks/neurons.py on a 2-core Xeon.
FORWARD_BLOCK_ELEMENTS = 1 << 22
BACKWARD_BLOCK_ELEMENTS = 1 << 18
MIN_BLOCK_COLUMNS = 1 << 13  # below this, per-op overhead outweighs the cache win


def _blocks(columns: int, steps: int, elements: int) -> Iterator[slice]:
    width = max(MIN_BLOCK_COLUMNS, elements // max(1, steps))
    for start in range(0, columns, width):
        yield slice(start, min(columns, start + width))


def _reset(
    fire_on: torch.Tensor,
    spikes: torch.Tensor,
    cfg: NeuronConfig,
    out: torch.Tensor,
    rest: torch.Tensor | None = None,
) -> torch.Tensor:
    """V[t] from the potential the reset acts on and the float spikes (0 or 1). Both forms are
    exact for spikes in {0, 1}, so they equal `spaces.neurons.reset` bit for bit:
        hard: lerp(u, V_r, S) is u where S = 0 and exactly V_r where S = 1
        soft: u - V_th S
    """
    if cfg.v_reset is None:
        return torch.add(fire_on, spikes, alpha=-cfg.v_threshold, out=out)
    if rest is None:
        rest = fire_on.new_tensor(cfg.v_reset).expand_as(fire_on)
    return torch.lerp(fire_on, rest, spikes, out=out)


def _forward_block(
    x: torch.Tensor,
    d: float,
    k: float | None,
    cfg: NeuronConfig,
    h_out: torch.Tensor | None,
    spikes_out: torch.Tensor,
) -> None:
    """Run T steps over one block of neurons: x, spikes_out (T, n); h_out (T, n) or None when
    nothing will call backward.

    Three passes over the block per step for LIF (lerp, compare, lerp), all of them vectorised
    in PyTorch's CPU kernels; boolean masks and `where` are avoided because their CPU kernels
    are several times slower than float arithmetic. The charge is `spaces.neurons.charge`'s
    operations, so the membrane values and spikes are identical to the step-by-step path.
    """
    rest = 0.0 if cfg.v_reset is None else cfg.v_reset
    v = torch.zeros_like(x[0])
    # Without backward, every step's potentials go to one row of scratch (a stride-0 view).
    h_rows = h_out if h_out is not None else torch.empty_like(v).expand(x.shape[0], -1)
    u = torch.empty_like(v) if k is not None else None
    rest_v = v.new_tensor(rest).expand_as(v)
    shifted = torch.empty_like(v) if cfg.decay_input and rest != 0.0 else None
    for t in range(x.shape[0]):
        h = h_rows[t]
        if cfg.decay_input:
            target = x[t] if shifted is None else torch.add(x[t], rest, out=shifted)
            torch.lerp(v, target, d, out=h)
        else:
            torch.lerp(v, rest_v, d, out=h)
            h.add_(x[t])
        fire_on = h
        if u is not None and k is not None:
            torch.mul(h, k, out=u)
            u.relu_()
            fire_on = u
        spikes = spikes_out[t]
        torch.ge(fire_on, cfg.v_threshold, out=spikes)
        _reset(fire_on, spikes, cfg, out=v, rest=rest_v)


def _through_reset(u: torch.Tensor, sg: torch.Tensor, cfg: NeuronConfig) -> torch.Tensor:
    """dV/du in total, through the spike unless the reset is detached, in at most two passes:
    hard (1 - S) + (V_r - u) sg, soft 1 - V_th sg."""
    if cfg.v_reset is None:
        if cfg.detach_reset:
            return torch.ones_like(u)
        return torch.mul(sg, -cfg.v_threshold).add_(1.0)
    # 1 - S is the complement of the forward's comparison: u < V_th, as 0 or 1.
    through = torch.lt(u, cfg.v_threshold, out=torch.empty_like(u))
    if not cfg.detach_reset:
        if cfg.v_reset == 0.0:
            through.addcmul_(u, sg, value=-1.0)
        else:
            through.addcmul_(torch.sub(cfg.v_reset, u), sg)
    return through


def _backward_block(
    h: torch.Tensor,
    grad_s: torch.Tensor,
    d: float,
    k: float | None,
    cfg: NeuronConfig,
    want_decay: bool,
    want_k: bool,
    grad_x: torch.Tensor,
) -> tuple[float, float]:
    """Write the block's grad of x into grad_x; return its shares of grad decay and grad k.

    About ten passes over the block for LIF, each a vectorised PyTorch kernel; the recurrence
    over time is one fused multiply-add per step."""
    slope = None  # dU/dH for KLIF: k where k H > 0
    u = h
    if k is not None:
        u = torch.relu(h * k)
        slope = (h * k > 0).to(h.dtype) * k
    sg = SURROGATE_GRADS[cfg.surrogate](u - cfg.v_threshold, cfg.alpha)
    keep = 1.0 - d
    # dV/du through the reset; times the slope for KLIF, where gradients reach H through u.
    coef = _through_reset(u, sg, cfg)
    # grad_h starts as dL/du from the spike itself and is accumulated in place over time.
    # The recurrence is linear, so a decay-input neuron's final grad_x = d grad_h can start
    # scaled by d instead: one pass fewer. Not where grad_h itself feeds grad decay or k.
    fold_d = cfg.decay_input and not (want_decay or want_k)
    if fold_d:
        grad_h = torch.addcmul(grad_s.new_zeros(()), grad_s, sg, value=d, out=grad_x)
    else:
        grad_h = torch.mul(grad_s, sg, out=grad_x)
    spike_term = grad_h.clone() if want_k else None
    if slope is not None:
        grad_h.mul_(slope)
        coef.mul_(slope)
    for t in range(h.shape[0] - 2, -1, -1):
        grad_h[t].addcmul_(grad_h[t + 1], coef[t], value=keep)
    grad_decay = grad_k = 0.0
    if want_decay or want_k:
        rest = 0.0 if cfg.v_reset is None else cfg.v_reset
        # With k = 0 no neuron is active (k H > 0 nowhere): grad k is 0, as initialised.
        if want_k and slope is not None and spike_term is not None and k:
            # dL/du = spike term + gV[t] dV/du, with gV[t] = gH[t+1] (1 - d). coef holds
            # dV/du times the slope (k or 0): over k it is dV/du where the slope is k, and
            # where the slope is 0 the sum below multiplies the term by 0.
            grad_u = spike_term
            grad_u[:-1].addcmul_(grad_h[1:], coef[:-1], value=keep / k)
            grad_k = float((grad_u * h * slope).sum()) / k
        if want_decay:
            spikes = torch.ge(u, cfg.v_threshold, out=torch.empty_like(u))
            v_after = _reset(u, spikes, cfg, out=spikes)
            v_prev = torch.zeros_like(h)
            v_prev[1:] = v_after[:-1]
            dh_dd = (h - v_prev) / d if cfg.decay_input else rest - v_prev
            grad_decay = float((grad_h * dh_dd).sum())
    if cfg.decay_input and not fold_d:
        grad_x.mul_(d)
    return grad_decay, grad_k


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
        # Inference (no grad anywhere) keeps no potentials: one step's scratch is enough.
        needs_grad = any(ctx.needs_input_grad[:3])
        h_seq = torch.empty_like(x) if needs_grad else None
        spikes = torch.empty_like(x)
        for cols in _blocks(x.shape[1], steps, FORWARD_BLOCK_ELEMENTS):
            h_block = None if h_seq is None else h_seq[:, cols]
            _forward_block(x[:, cols], d, k_value, cfg, h_block, spikes[:, cols])
        if h_seq is not None:
            keep_for_backward(ctx, x_seq, h_seq, decay, k, cfg)
        return spikes.view(x_seq.shape)

    @staticmethod
    def backward(ctx: Any, grad_s_seq: torch.Tensor) -> tuple[Any, ...]:
        saved = saved_for_backward(ctx)
        h_seq = saved.h_seq
        k_value = None if saved.k is None else float(saved.k)
        grad_s = grad_s_seq.reshape(h_seq.shape)
        grad_x = torch.empty_like(h_seq)
        grad_decay = grad_k = 0.0
        for cols in _blocks(h_seq.shape[1], h_seq.shape[0], BACKWARD_BLOCK_ELEMENTS):
            gd, gk = _backward_block(
                h_seq[:, cols],
                grad_s[:, cols],
                float(saved.decay),
                k_value,
                saved.cfg,
                saved.want_decay,
                saved.want_k,
                grad_x[:, cols],
            )
            grad_decay += gd
            grad_k += gk
        return saved.input_grads(grad_x, grad_decay, grad_k)


def fused_multistep(
    x_seq: torch.Tensor, decay: float | torch.Tensor, k: torch.Tensor | None, cfg: NeuronConfig
) -> torch.Tensor:
    """Spikes [T, ...] of a neuron over x_seq [T, ...], through the fused op."""
    return FusedNeuronFunction.apply(x_seq, decay_tensor(decay), k, cfg)


def decay_tensor(decay: float | torch.Tensor) -> torch.Tensor:
    """The decay as the ops take it: a learnable one as is, a fixed one in float64, so that
    float(decay) inside an op is exactly the Python number the reference loop multiplies by."""
    return decay if isinstance(decay, torch.Tensor) else torch.tensor(decay, dtype=torch.float64)

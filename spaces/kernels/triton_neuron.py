"""The fused multi-step neuron op as two Triton kernels, for CUDA tensors where Triton is present.

Same arithmetic and the same autograd contract as spaces/kernels/fused.py (read its docstring
for the derivation), but each kernel keeps a block of neurons in registers for all T steps: the
forward reads X and writes H and S once, the backward reads H and dL/dS and writes dL/dX once,
which is the least memory traffic the op allows. PLIF's decay and KLIF's k get their gradients
as per-block partial sums, added up by torch.

Importing this module needs Triton; spaces.kernels imports it only if Triton imports. The
kernels also run in Triton's interpreter (TRITON_INTERPRET=1) on CPU tensors, which is how the
tests check them on machines without a GPU.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl

from spaces.kernels.fused import decay_tensor
from spaces.kernels.op_context import NeuronConfig, keep_for_backward, saved_for_backward

BLOCK = 1024
SURROGATE_IDS = {"sigmoid": 0, "atan": 1, "rect": 2, "triangle": 3, "erf": 4, "dspike": 5}


@triton.jit
def _surrogate(x, alpha, tanh_alpha, KIND: tl.constexpr):
    """g'(x) of spaces/surrogates.py, by its id in SURROGATE_IDS."""
    if KIND == 0:
        s = tl.sigmoid(alpha * x)
        g = alpha * s * (1.0 - s)
    elif KIND == 1:
        z = 1.5707963267948966 * alpha * x
        g = alpha / (2.0 * (1.0 + z * z))
    elif KIND == 2:
        g = tl.where(tl.abs(x) < 0.5 / alpha, alpha, 0.0)
    elif KIND == 3:
        g = tl.maximum(alpha - alpha * alpha * tl.abs(x), 0.0)
    elif KIND == 4:
        g = alpha / 1.7724538509055159 * tl.exp(-(alpha * alpha) * x * x)
    else:
        t = 2.0 * tl.sigmoid(2.0 * alpha * x) - 1.0  # tanh(alpha x)
        g = tl.where(tl.abs(x) <= 1.0, alpha * (1.0 - t * t) / (2.0 * tanh_alpha), 0.0)
    return g


@triton.jit
def _forward_kernel(
    x_ptr,
    h_ptr,
    s_ptr,
    n,
    steps,
    d,
    v_th,
    rest,
    k,
    DECAY_INPUT: tl.constexpr,
    HARD: tl.constexpr,
    KLIF: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    v = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for t in range(steps):
        x = tl.load(x_ptr + t * n + offs, mask=mask, other=0.0).to(tl.float32)
        leak = v - rest
        if DECAY_INPUT:  # noqa: SIM108 (a constexpr branch: Triton compiles only one side)
            h = (x - leak) * d + v
        else:
            h = v - leak * d + x
        tl.store(h_ptr + t * n + offs, h, mask=mask)
        u = h
        if KLIF:
            u = tl.maximum(k * h, 0.0)
        fired = u >= v_th
        tl.store(s_ptr + t * n + offs, fired.to(tl.float32), mask=mask)
        if HARD:  # noqa: SIM108
            v = tl.where(fired, rest, u)
        else:
            v = tl.where(fired, u - v_th, u)


@triton.jit
def _backward_kernel(
    h_ptr,
    gs_ptr,
    gx_ptr,
    partial_ptr,
    n,
    steps,
    d,
    v_th,
    rest,
    k,
    alpha,
    tanh_alpha,
    DECAY_INPUT: tl.constexpr,
    HARD: tl.constexpr,
    KLIF: tl.constexpr,
    DETACH: tl.constexpr,
    SURROGATE: tl.constexpr,
    WANT_DECAY: tl.constexpr,
    WANT_K: tl.constexpr,
    BLOCK_SIZE: tl.constexpr,
):
    pid = tl.program_id(0)
    offs = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < n
    grad_v = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    acc_decay = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    acc_k = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for i in range(steps):
        t = steps - 1 - i
        h = tl.load(h_ptr + t * n + offs, mask=mask, other=0.0)
        gs = tl.load(gs_ptr + t * n + offs, mask=mask, other=0.0).to(tl.float32)
        u = h
        slope = tl.full([BLOCK_SIZE], 1.0, tl.float32)
        if KLIF:
            u = tl.maximum(k * h, 0.0)
            slope = tl.where(k * h > 0.0, k, 0.0)
        xm = u - v_th
        spikes = (xm >= 0.0).to(tl.float32)
        sg = _surrogate(xm, alpha, tanh_alpha, SURROGATE)
        if HARD:
            through = 1.0 - spikes
            if not DETACH:
                through += (rest - u) * sg
        else:
            through = tl.full([BLOCK_SIZE], 1.0, tl.float32)
            if not DETACH:
                through -= v_th * sg
        grad_u = gs * sg + grad_v * through
        grad_h = grad_u * slope
        if DECAY_INPUT:
            tl.store(gx_ptr + t * n + offs, grad_h * d, mask=mask)
        else:
            tl.store(gx_ptr + t * n + offs, grad_h, mask=mask)
        if WANT_K:
            acc_k += tl.where(k * h > 0.0, grad_u * h, 0.0)
        if WANT_DECAY:
            # V[t-1], recomputed from H[t-1]; V[-1] = 0.
            earlier = mask & (tl.full([BLOCK_SIZE], t, tl.int32) > 0)
            h_prev = tl.load(h_ptr + (t - 1) * n + offs, mask=earlier, other=0.0)
            u_prev = h_prev
            if KLIF:
                u_prev = tl.maximum(k * h_prev, 0.0)
            fired_prev = u_prev >= v_th
            if HARD:
                v_prev = tl.where(fired_prev, rest, u_prev)
            else:
                v_prev = tl.where(fired_prev, u_prev - v_th, u_prev)
            v_prev = tl.where(earlier, v_prev, 0.0)
            if DECAY_INPUT:
                acc_decay += grad_h * ((h - v_prev) / d)
            else:
                acc_decay += grad_h * (rest - v_prev)
        grad_v = grad_h * (1.0 - d)
    tl.store(partial_ptr + pid, tl.sum(tl.where(mask, acc_decay, 0.0), axis=0))
    tl.store(partial_ptr + tl.num_programs(0) + pid, tl.sum(tl.where(mask, acc_k, 0.0), axis=0))


class TritonNeuronFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x_seq: torch.Tensor,
        decay: torch.Tensor,
        k: torch.Tensor | None,
        cfg: NeuronConfig,
    ) -> torch.Tensor:
        steps = x_seq.shape[0]
        x = x_seq.detach().contiguous().reshape(steps, -1)
        n = x.shape[1]
        h_seq = torch.empty(x.shape, dtype=torch.float32, device=x.device)
        s_seq = torch.empty(x.shape, dtype=x_seq.dtype, device=x.device)
        d = float(decay)
        rest = 0.0 if cfg.v_reset is None else cfg.v_reset
        _forward_kernel[(triton.cdiv(n, BLOCK),)](
            x,
            h_seq,
            s_seq,
            n,
            steps,
            d,
            cfg.v_threshold,
            rest,
            1.0 if k is None else float(k),
            DECAY_INPUT=cfg.decay_input,
            HARD=cfg.v_reset is not None,
            KLIF=k is not None,
            BLOCK_SIZE=BLOCK,
        )
        keep_for_backward(ctx, x_seq, h_seq, decay, k, cfg)
        ctx.dtype = x_seq.dtype
        return s_seq.view(x_seq.shape)

    @staticmethod
    def backward(ctx: Any, grad_s_seq: torch.Tensor) -> tuple[Any, ...]:
        saved = saved_for_backward(ctx)
        h_seq, cfg = saved.h_seq, saved.cfg
        steps, n = h_seq.shape
        grad_s = grad_s_seq.contiguous().reshape(steps, n)
        grad_x = torch.empty((steps, n), dtype=ctx.dtype, device=h_seq.device)
        programs = triton.cdiv(n, BLOCK)
        partial = torch.zeros(2 * programs, dtype=torch.float32, device=h_seq.device)
        _backward_kernel[(programs,)](
            h_seq,
            grad_s,
            grad_x,
            partial,
            n,
            steps,
            float(saved.decay),
            cfg.v_threshold,
            0.0 if cfg.v_reset is None else cfg.v_reset,
            1.0 if saved.k is None else float(saved.k),
            cfg.alpha,
            math.tanh(cfg.alpha),
            DECAY_INPUT=cfg.decay_input,
            HARD=cfg.v_reset is not None,
            KLIF=saved.k is not None,
            DETACH=cfg.detach_reset,
            SURROGATE=SURROGATE_IDS[cfg.surrogate],
            WANT_DECAY=saved.want_decay,
            WANT_K=saved.want_k,
            BLOCK_SIZE=BLOCK,
        )
        # The parameter gradients stay on the device (no host sync), unlike Saved.input_grads.
        return (
            grad_x.view(saved.shape),
            partial[:programs].sum().to(saved.decay.dtype) if saved.want_decay else None,
            partial[programs:].sum().to(saved.k.dtype)
            if saved.want_k and saved.k is not None
            else None,
            None,
        )


def triton_multistep(
    x_seq: torch.Tensor, decay: float | torch.Tensor, k: torch.Tensor | None, cfg: NeuronConfig
) -> torch.Tensor:
    """Spikes [T, ...] of a neuron over x_seq [T, ...], through the Triton kernels (float32)."""
    return TritonNeuronFunction.apply(x_seq, decay_tensor(decay), k, cfg)

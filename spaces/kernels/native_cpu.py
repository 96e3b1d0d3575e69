"""The multi-step neuron op on CPU in float32 as a compiled C kernel (lif_cpu.c).

Same contract as the fused op (fused.py), whose configurations it all covers: one autograd node,
spikes identical to the step-by-step loop, gradients of x, PLIF's decay and KLIF's k equal to
autograd's through that loop up to float rounding, and only the pre-reset potentials H kept for
backward. What differs is the cost: the fused op makes about three passes over memory per time
step forward and ten backward, each a PyTorch kernel; this one reads x once and writes H and the
spikes once forward, and reads H and dL/dS once and writes dL/dX once backward, with the
neurons split over torch.get_num_threads() OpenMP threads.

The library is compiled on first use (native_build.py). Where that cannot happen (no compiler),
and for anything other than float32 CPU tensors or a surrogate it does not know, the op is the
fused one: `native_multistep` always returns the same spikes, only slower.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path
from typing import Any

import torch

from spaces.kernels import native_build
from spaces.kernels.fused import decay_tensor, fused_multistep
from spaces.kernels.op_context import NeuronConfig, keep_for_backward, saved_for_backward

SOURCE = Path(__file__).with_name("lif_cpu.c")
# The surrogates' numbers in lif_cpu.c's enum.
SURROGATE_IDS = {"sigmoid": 0, "atan": 1, "rect": 2, "triangle": 3, "erf": 4, "dspike": 5}

_f32, _i32, _i64, _ptr = ctypes.c_float, ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p


class LifConfig(ctypes.Structure):
    """lif_cpu.c's lif_config."""

    _fields_ = [
        ("v_threshold", _f32),
        ("v_reset", _f32),
        ("hard_reset", _i32),
        ("decay_input", _i32),
        ("detach_reset", _i32),
        ("surrogate", _i32),
        ("klif", _i32),
        ("alpha", ctypes.c_double),
    ]


@functools.cache
def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None where they cannot be had; tried once per process."""
    lib = native_build.load(SOURCE)
    if lib is None:
        return None
    lib.lif_forward.restype = None
    lib.lif_forward.argtypes = [_ptr, _ptr, _ptr, _ptr, _i64, _i64, _f32, _f32, _i32]
    lib.lif_backward.restype = None
    lib.lif_backward.argtypes = [_ptr, _ptr, _ptr, _ptr, _i64, _i64, _f32, _f32, _i32, _i32, _ptr]
    return lib


def runs_on(x_seq: torch.Tensor) -> bool:
    """Whether the compiled op can take x_seq: float32 on the CPU, with the library built."""
    return x_seq.device.type == "cpu" and x_seq.dtype == torch.float32 and library() is not None


def supports(x_seq: torch.Tensor, cfg: NeuronConfig) -> bool:
    return cfg.surrogate in SURROGATE_IDS and runs_on(x_seq)


def c_config(cfg: NeuronConfig) -> LifConfig:
    return LifConfig(
        v_threshold=cfg.v_threshold,
        v_reset=0.0 if cfg.v_reset is None else cfg.v_reset,
        hard_reset=cfg.v_reset is not None,
        decay_input=cfg.decay_input,
        detach_reset=cfg.detach_reset,
        surrogate=SURROGATE_IDS[cfg.surrogate],
        klif=cfg.klif,
        alpha=cfg.alpha,
    )


def _ptr_of(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class NativeNeuronFunction(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x_seq: torch.Tensor,
        decay: torch.Tensor,
        k: torch.Tensor | None,
        cfg: NeuronConfig,
    ) -> torch.Tensor:
        lib = library()
        assert lib is not None, "native_multistep checks supports() first"
        steps = x_seq.shape[0]
        x = x_seq.detach().reshape(steps, -1).contiguous()
        # Inference (no grad anywhere) keeps no potentials.
        needs_grad = any(ctx.needs_input_grad[:3])
        h_seq = torch.empty_like(x) if needs_grad else None
        spikes = torch.empty_like(x)
        c_cfg = c_config(cfg)
        k_value = 1.0 if k is None else float(k)
        lib.lif_forward(
            ctypes.byref(c_cfg),
            x.data_ptr(),
            _ptr_of(h_seq),
            spikes.data_ptr(),
            steps,
            x.shape[1],
            float(decay),
            k_value,
            torch.get_num_threads(),
        )
        if h_seq is not None:
            keep_for_backward(ctx, x_seq, h_seq, decay, k, cfg)
        return spikes.view(x_seq.shape)

    @staticmethod
    def backward(ctx: Any, grad_s_seq: torch.Tensor) -> tuple[Any, ...]:
        lib = library()
        assert lib is not None
        saved = saved_for_backward(ctx)
        h_seq = saved.h_seq
        grad_s = grad_s_seq.reshape(h_seq.shape).to(torch.float32).contiguous()
        grad_x = torch.empty_like(h_seq)
        grads = (ctypes.c_double * 2)()
        c_cfg = c_config(saved.cfg)
        lib.lif_backward(
            ctypes.byref(c_cfg),
            h_seq.data_ptr(),
            grad_s.data_ptr(),
            grad_x.data_ptr(),
            h_seq.shape[0],
            h_seq.shape[1],
            float(saved.decay),
            1.0 if saved.k is None else float(saved.k),
            saved.want_decay or saved.want_k,
            torch.get_num_threads(),
            grads,
        )
        return saved.input_grads(grad_x, grads[0], grads[1])


def native_multistep(
    x_seq: torch.Tensor, decay: float | torch.Tensor, k: torch.Tensor | None, cfg: NeuronConfig
) -> torch.Tensor:
    """Spikes [T, ...] of a neuron over x_seq [T, ...]: the compiled op where it applies, the
    fused op everywhere else."""
    if not supports(x_seq, cfg):
        return fused_multistep(x_seq, decay, k, cfg)
    return NativeNeuronFunction.apply(x_seq, decay_tensor(decay), k, cfg)

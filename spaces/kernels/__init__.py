"""Multi-step neuron kernels, and the one place where a neuron's time loop is chosen.

`multistep(neuron, x_seq)` is what every neuron's forward calls. On a CUDA tensor, with Triton
importable, the op runs as two Triton kernels (triton_neuron.py); on a float32 CPU tensor as a
C kernel compiled on first use (native_cpu.py), where a C compiler is found and
SPIKENAS_NATIVE_CPU is not 0; everywhere else as the fused op of PyTorch operations (fused.py).
All are one autograd node with a hand-written backward; the fused and C ops' forward is
identical to the step-by-step loop, the Triton kernels' equal to it up to float rounding, and
all backwards equal autograd's through that loop up to rounding.
The step-by-step loop (`SpikingNeuron.step_by_step`) stays the reference that tests compare
against, and what an exported module runs, since it needs nothing but torch. Either kernel runs
on x_seq as it is stored (e.g. a channels-last image) and returns spikes in that layout.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from spaces.kernels import native_cpu
from spaces.kernels.fused import fused_multistep
from spaces.kernels.op_context import NeuronConfig

if TYPE_CHECKING:
    from spaces.neurons import SpikingNeuron

__all__ = ["NeuronConfig", "choose_kernel", "fused_multistep", "multistep"]


Kernel = Callable[
    [torch.Tensor, "float | torch.Tensor", "torch.Tensor | None", NeuronConfig], torch.Tensor
]
TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@functools.cache
def triton_kernel() -> Kernel | None:
    """The Triton op, or None where Triton does not import (CPU-only installs). Imported on the
    first CUDA call rather than with spaces, so CPU processes never pay for it."""
    try:
        from spaces.kernels.triton_neuron import triton_multistep
    except Exception:  # ImportError, or a Triton that cannot initialise its backend
        return None
    return triton_multistep


def choose_kernel(x_seq: torch.Tensor) -> Kernel:
    """The one place where the implementation of a neuron's time loop is chosen."""
    if x_seq.is_cuda and x_seq.dtype in TRITON_DTYPES:
        kernel = triton_kernel()
        if kernel is not None:
            return kernel
    # The library is compiled on the first call; without a compiler it is None.
    if os.environ.get("SPIKENAS_NATIVE_CPU", "1") != "0" and native_cpu.runs_on(x_seq):
        return native_cpu.native_multistep
    return fused_multistep


def multistep(neuron: SpikingNeuron, x_seq: torch.Tensor) -> torch.Tensor:
    """Spikes [T, ...] of `neuron` over x_seq [T, ...] from a zero state."""
    if x_seq.shape[0] == 0 or x_seq.numel() == 0:
        return neuron.step_by_step(x_seq)
    slope = neuron.slope()
    cfg = NeuronConfig(
        v_threshold=neuron.v_threshold,
        v_reset=neuron.v_reset,
        decay_input=neuron.decay_input,
        detach_reset=neuron.detach_reset,
        surrogate=neuron.surrogate,
        alpha=neuron.alpha,
        klif=slope is not None,
    )
    # Elementwise over the neurons: run on the tensor as it is stored (a channels-last image,
    # say) and hand the spikes back in that same layout, instead of copying to and from
    # the default layout, which the kernels' flat view of x_seq would otherwise do.
    order = storage_order(x_seq)
    stored = x_seq.permute(order)
    spikes = choose_kernel(stored)(stored, neuron.decay(), slope, cfg)
    return spikes.permute(sorted(range(len(order)), key=order.__getitem__))


def storage_order(x: torch.Tensor) -> list[int]:
    """The permutation of x's dimensions in which it is contiguous, time (dim 0) kept first;
    the identity where there is none (x is then read through a copy)."""
    strides = x.stride()
    inner = sorted(range(1, x.dim()), key=lambda d: -strides[d])
    order = [0, *inner]
    return order if x.permute(order).is_contiguous() else list(range(x.dim()))

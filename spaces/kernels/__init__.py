"""Multi-step neuron kernels, and the one place where a neuron's time loop is chosen.

`multistep(neuron, x_seq)` is what every neuron's forward calls. The fused op (one autograd
node, hand-written backward, see fused.py) runs wherever it can: its forward is identical to
the step-by-step loop, its backward equal to autograd's through that loop up to rounding.
The step-by-step loop (`SpikingNeuron.step_by_step`) stays the reference that tests compare
against, and what an exported module runs, since it needs nothing but torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from spaces.kernels.fused import NeuronConfig, fused_multistep

if TYPE_CHECKING:
    from spaces.neurons import SpikingNeuron

__all__ = ["NeuronConfig", "fused_multistep", "multistep"]


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
    return fused_multistep(x_seq, neuron.decay(), slope, cfg)

"""Small building blocks shared by mixers, blocks and embeddings.

Multi-step tensors are [T, B, C, N] (N tokens); stateless layers run once over T*B by folding
time into the batch (SpikingJelly's SeqToANNContainer pattern).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# Builds the configured neuron; keyword arguments (e.g. v_threshold) override the config.
NeuronFactory = Callable[..., nn.Module]


def over_time(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a stateless module to [T, B, ...] by folding T into the batch."""
    t, b = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.view(t, b, *y.shape[1:])


class PointwiseConv(nn.Conv1d):
    """A 1x1 convolution over tokens, (B, C_in, N) -> (B, C_out, N), computed as the batched
    matrix product it amounts to, which PyTorch's CPU convolution with a kernel of 1 is slower
    than by 15-40% on the shapes of benchmarks/train_step.py (forward and backward). It stays a
    Conv1d, so its weights, forward hooks and exports are those of a convolution."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One weight matrix per sample as a stride-0 view: a batched product with no copy of
        # x (matmul would fold the batch into a transposed copy), and the weight's gradient
        # is the sum over the batch.
        weight = self.weight.squeeze(-1)
        return torch.bmm(weight.expand(x.shape[0], *weight.shape), x)


class PointwiseBN(nn.Sequential):
    """1x1 convolution over tokens (a per-token linear map) followed by batch norm."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(PointwiseConv(in_dim, out_dim), nn.BatchNorm1d(out_dim))

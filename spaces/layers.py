"""Small building blocks shared by mixers, blocks and embeddings.

Multi-step tensors are token-major, [T, B, N, C] (N tokens, C channels last): a 1x1 convolution
over the tokens is then one matrix product over all T*B*N rows, and a batch norm reduces over
contiguous rows, which on CPU is several times faster, forward and backward, than the same
layers on [T, B, C, N] with its short rows of N tokens. Layers that need the token grid
(convolutions, pooling) see it through `grid_view`, without a copy.
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


def grid_view(x: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    """Tokens (M, N, C) as the channels-first image (M, C, *grid) that convolutions and pooling
    take: a view with channels-last strides, which PyTorch's CPU kernels read as they are."""
    return x.unflatten(1, grid).movedim(-1, 1)


def tokens_of(y: torch.Tensor) -> torch.Tensor:
    """The inverse of `grid_view`: (M, C, *grid) -> (M, N, C), a view where y is channels-last,
    else one copy."""
    return y.movedim(1, -1).flatten(1, -2)


def norm_rows(norm: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """A BatchNorm1d over token-major y (..., C): statistics over every token of every sample
    and step, read as (rows, C), and the result in y's shape."""
    return norm(y.reshape(-1, y.shape[-1])).view(y.shape)


class PointwiseConv(nn.Conv1d):
    """A 1x1 convolution over token-major input, (..., C_in) -> (..., C_out): one matrix
    product over all tokens (a single GEMM forward and for each gradient), not a product per
    sample. It stays a Conv1d, so its weights, state_dict keys and exports are those of a
    convolution."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight.squeeze(-1))


class PointwiseBN(nn.Sequential):
    """1x1 convolution over tokens (a per-token linear map) followed by batch norm, on
    token-major input of any leading shape, (..., C_in) -> (..., C_out)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(PointwiseConv(in_dim, out_dim), nn.BatchNorm1d(out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return norm_rows(self[1], self[0](x))

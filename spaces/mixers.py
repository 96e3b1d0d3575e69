"""Token mixers: the per-block choice of the search space (snn-methods.md section 3).

Every mixer reads the residual stream [T, B, N, C] (token-major, spaces/layers.py; batch-norm
outputs, not spikes), starts with a spiking neuron, and returns a batch-norm output of the same
shape, so that the block can add it back. `event_driven` says whether an asynchronous chip can
run it (no spike-by-spike products, no max-pooling); the space can be restricted to those.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from spaces.layers import NeuronFactory, PointwiseBN, grid_view, norm_rows, tokens_of


class TokenMixer(nn.Module):
    """Interface of a token mixer: built from (dim, grid, neuron, options), shape-preserving."""

    event_driven: ClassVar[bool] = True
    # Names of the MixerSpec options this mixer takes as keyword arguments.
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, dim: int, grid: tuple[int, ...], neuron: NeuronFactory) -> None:
        super().__init__()
        self.dim = dim
        self.grid = tuple(grid)
        self.num_tokens = math.prod(self.grid)

    def token_ops(self) -> tuple[tuple[str, str, str, int], ...]:
        """Work of forward() done outside Conv, Linear and pooling modules, for the cost metrics
        (spaces/energy.py): (name, kind, the submodule whose output spikes the operation reads,
        multiply-accumulates per sample and time step). Empty when modules do all the work."""
        return ()


def mix_tokens(s: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """STM's token mixing: out[..., m, c] = sum_n weight[h, n, m] s[..., n, c] for every channel
    c of head h, on token-major s (..., N, C) with weight (H, N, N).

    Computed head-major, (H, N, rows * C/H): one matrix product per head over every sample and
    step (and one per head for the weight's gradient), instead of tiny N x N products per
    sample and head whose weight gradient autograd would first expand over the batch."""
    *lead, n, c = s.shape
    heads = weight.shape[0]
    per_head = s.reshape(-1, n, heads, c // heads).permute(2, 1, 0, 3).reshape(heads, n, -1)
    mixed = torch.bmm(weight.transpose(1, 2), per_head)
    return mixed.view(heads, n, -1, c // heads).permute(2, 1, 0, 3).reshape(*lead, n, c)


class STMMixer(TokenMixer):
    """Spiking token mixing (STMixer, Deng et al. NeurIPS 2024).

    LIF -> 1x1 -> BN -> LIF -> per-head bias-free N x N token matrix -> LIF -> 1x1 -> BN.
    Only accumulates of spikes with weights: event-driven friendly.
    """

    options = ("heads",)

    def __init__(
        self, dim: int, grid: tuple[int, ...], neuron: NeuronFactory, heads: int = 1
    ) -> None:
        super().__init__(dim, grid, neuron)
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        self.heads = heads
        self.in_neuron = neuron()
        self.proj_in = PointwiseBN(dim, dim)
        self.mix_neuron = neuron()
        n = self.num_tokens
        self.token_weight = nn.Parameter(torch.empty(heads, n, n).uniform_(-1, 1) / math.sqrt(n))
        self.out_neuron = neuron()
        self.proj_out = PointwiseBN(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.mix_neuron(self.proj_in(self.in_neuron(x)))
        return self.proj_out(self.out_neuron(mix_tokens(s, self.token_weight)))

    def token_ops(self) -> tuple[tuple[str, str, str, int], ...]:
        # Per head (C/H x N) @ (N x N); every spike of s adds one row of the matrix.
        return (("token_mix", "matmul", "mix_neuron", self.dim * self.num_tokens**2),)


class PoolMixer(TokenMixer):
    """PoolFormer-style mixing on spikes: BN(avgpool(s) - s) with s = LIF(x); no weights but BN."""

    options = ("kernel",)

    def __init__(
        self, dim: int, grid: tuple[int, ...], neuron: NeuronFactory, kernel: int = 3
    ) -> None:
        super().__init__(dim, grid, neuron)
        self.neuron = neuron()
        pool = nn.AvgPool1d if len(self.grid) == 1 else nn.AvgPool2d
        self.pool = pool(kernel, stride=1, padding=kernel // 2, count_include_pad=False)
        self.norm = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = grid_view(self.neuron(x).flatten(0, 1), self.grid)
        return norm_rows(self.norm, tokens_of(self.pool(s) - s)).view(x.shape)


class ConvMixer(TokenMixer):
    """Spiking depthwise convolution over the tokens: LIF, dw conv(k), BN, LIF, 1x1, BN."""

    options = ("kernel",)

    def __init__(
        self, dim: int, grid: tuple[int, ...], neuron: NeuronFactory, kernel: int = 3
    ) -> None:
        super().__init__(dim, grid, neuron)
        conv = nn.Conv1d if len(self.grid) == 1 else nn.Conv2d
        norm = nn.BatchNorm1d if len(self.grid) == 1 else nn.BatchNorm2d
        self.in_neuron = neuron()
        self.spatial = nn.Sequential(
            conv(dim, dim, kernel, padding=kernel // 2, groups=dim, bias=False), norm(dim)
        )
        self.out_neuron = neuron()
        self.proj = PointwiseBN(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = grid_view(self.in_neuron(x).flatten(0, 1), self.grid)
        y = tokens_of(self.spatial(s)).view(x.shape)
        return self.proj(self.out_neuron(y))


class _QKV(nn.Module):
    """Spiking queries, keys and values: LIF(BN(1x1(s))) each, split into heads (T*B, H, N, C/H)."""

    def __init__(self, dim: int, heads: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.heads = heads
        self.q = PointwiseBN(dim, dim)
        self.k = PointwiseBN(dim, dim)
        self.v = PointwiseBN(dim, dim)
        self.q_neuron = neuron()
        self.k_neuron = neuron()
        self.v_neuron = neuron()

    def _split(self, s: torch.Tensor) -> torch.Tensor:
        t, b, n, c = s.shape
        return s.reshape(t * b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = self._split(self.q_neuron(self.q(s)))
        k = self._split(self.k_neuron(self.k(s)))
        v = self._split(self.v_neuron(self.v(s)))
        return q, k, v


class SSAMixer(TokenMixer):
    """Spiking self-attention (Spikformer, Zhou et al. ICLR 2023): Q K^T V * 0.125, no softmax.

    The attention map multiplies spikes by spikes: not event-driven friendly.
    """

    event_driven = False
    options = ("heads",)
    scale = 0.125

    def __init__(
        self, dim: int, grid: tuple[int, ...], neuron: NeuronFactory, heads: int = 1
    ) -> None:
        super().__init__(dim, grid, neuron)
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        self.in_neuron = neuron()
        self.qkv = _QKV(dim, heads, neuron)
        self.attn_neuron = neuron(v_threshold=0.5)
        self.proj = PointwiseBN(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.in_neuron(x))
        out = (q @ k.transpose(-1, -2)) @ v * self.scale  # (T*B, H, N, C/H)
        out = out.transpose(1, 2).reshape(x.shape)
        return self.proj(self.attn_neuron(out))

    def token_ops(self) -> tuple[tuple[str, str, str, int], ...]:
        # Q K^T: each spike of q adds a column of K; (Q K^T) V: each spike of v adds a column of the
        # map. The 0.125 scale folds into the threshold of attn_neuron.
        macs = self.dim * self.num_tokens**2
        return (("qk", "matmul", "qkv.q_neuron", macs), ("attn_v", "matmul", "qkv.v_neuron", macs))


class SDSAMixer(TokenMixer):
    """Spike-driven self-attention (Yao et al. NeurIPS 2023): Q * LIF(sum over tokens of K * V).

    Linear in the token count, but Q * kv and K * V are spike-by-spike products.
    """

    event_driven = False
    options = ("heads",)

    def __init__(
        self, dim: int, grid: tuple[int, ...], neuron: NeuronFactory, heads: int = 1
    ) -> None:
        super().__init__(dim, grid, neuron)
        if dim % heads:
            raise ValueError(f"heads ({heads}) must divide dim ({dim})")
        self.in_neuron = neuron()
        self.qkv = _QKV(dim, heads, neuron)
        self.kv_neuron = neuron(v_threshold=0.5)
        self.proj = PointwiseBN(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        q, k, v = self.qkv(self.in_neuron(x))
        kv = (k * v).sum(dim=-2, keepdim=True)  # (T*B, H, 1, C/H)
        kv = self.kv_neuron(kv.reshape(t, b, -1)).reshape(kv.shape)
        out = (q * kv).transpose(1, 2).reshape(x.shape)
        return self.proj(out)

    def token_ops(self) -> tuple[tuple[str, str, str, int], ...]:
        # K * V summed over the tokens is one multiply-accumulate per (token, channel), done on
        # the spikes of k; Q * kv masks q channel by channel, one operation per spike of q.
        macs = self.dim * self.num_tokens
        return (
            ("kv", "elementwise", "qkv.k_neuron", macs),
            ("q_kv", "elementwise", "qkv.q_neuron", macs),
        )


class IdentityMixer(TokenMixer):
    """No token mixing at all (the block keeps only its channel mixer): the cheapest choice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


MIXERS: dict[str, type[TokenMixer]] = {
    "stm": STMMixer,
    "ssa": SSAMixer,
    "sdsa": SDSAMixer,
    "conv": ConvMixer,
    "pool": PoolMixer,
    "identity": IdentityMixer,
}

"""The encoder block, the patch embeddings and the head of a spiking MetaFormer.

Pre-activation blocks whose residual stream carries batch-norm outputs (STMixer):
    x = x + TokenMixer(x);  x = x + ChannelMixer(x)
The patch embedding is IPSPS ("information protection"): a conv-BN(-LIF) main path to 7D/8
channels plus a shortcut conv from the raw input to D/8 channels, concatenated to D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spaces.layers import NeuronFactory, PointwiseBN, over_time


class ChannelMixer(nn.Module):
    """LIF -> 1x1 (D -> rD) -> BN -> LIF -> 1x1 (rD -> D) -> BN."""

    def __init__(self, dim: int, hidden: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.neuron1 = neuron()
        self.fc1 = PointwiseBN(dim, hidden)
        self.neuron2 = neuron()
        self.fc2 = PointwiseBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.neuron2(self.fc1(self.neuron1(x))))


class EncoderBlock(nn.Module):
    """One MetaFormer block with its token mixer given by the caller."""

    def __init__(
        self, dim: int, token_mixer: nn.Module, mlp_ratio: float, neuron: NeuronFactory
    ) -> None:
        super().__init__()
        self.token_mixer = token_mixer
        self.channel_mixer = ChannelMixer(dim, max(1, round(dim * mlp_ratio)), neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.token_mixer(x)
        return x + self.channel_mixer(x)


class StageTransition(nn.Module):
    """LIF -> 1x1 -> BN between stages of different widths (same token grid)."""

    def __init__(self, in_dim: int, out_dim: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.neuron = neuron()
        self.proj = PointwiseBN(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.neuron(x))


def _conv_bn(
    ndim: int, cin: int, cout: int, kernel: int, stride: int, padding: int
) -> nn.Sequential:
    conv = nn.Conv1d if ndim == 1 else nn.Conv2d
    norm = nn.BatchNorm1d if ndim == 1 else nn.BatchNorm2d
    return nn.Sequential(conv(cin, cout, kernel, stride, padding, bias=False), norm(cout))


class PatchEmbed(nn.Module):
    """IPSPS patch embedding for 1-D sequences (ndim=1) or 2-D images (ndim=2).

    Main path channels D/8, D/4, D/2, D, 7D/8 with strided layers placed from the second layer
    on until the requested downsampling is reached; LIF after the first four layers. The first
    layer and the shortcut read the encoded input (spaces/encoding.py): a static input (direct
    encoding) makes them run once per sample and their output is repeated over the T time
    steps instead of being computed T times; an input per step (rate, events) makes them run
    at every step.
    """

    def __init__(
        self, in_channels: int, dim: int, ndim: int, downsample: int, neuron: NeuronFactory
    ) -> None:
        super().__init__()
        halvings = int(math.log2(downsample))
        if 2**halvings != downsample or halvings > 6:
            raise ValueError(f"downsample must be a power of two up to 64, got {downsample}")
        # Halvings go to layers 2, 3, 4, 5, 1, then 2 again (stride 4 there): the first layer
        # keeps full resolution as long as it can.
        strides = [1] * 5
        for i in range(halvings):
            strides[(i + 1) % 5] *= 2
        widths = [dim // 8, dim // 4, dim // 2, dim, dim - dim // 8]
        cins = [in_channels, *widths[:-1]]
        self.stem = _conv_bn(ndim, in_channels, widths[0], 3, strides[0], 1)
        self.body = nn.ModuleList(
            _conv_bn(ndim, cins[i], widths[i], 3, strides[i], 1) for i in range(1, 5)
        )
        self.neurons = nn.ModuleList(neuron() for _ in range(4))
        self.shortcut = _conv_bn(ndim, in_channels, dim // 8, downsample, downsample, 0)
        self.ndim = ndim

    @staticmethod
    def _over_steps(
        layer: nn.Module, x: torch.Tensor, time_steps: int, static: bool
    ) -> torch.Tensor:
        """A layer reading the encoded input, (T, B, C, *spatial): a static input is run once
        and the output repeated over time as a view (the reader makes the one copy)."""
        if not static:
            return over_time(layer, x)
        y = layer(x)
        return y.unsqueeze(0).expand(time_steps, *y.shape)

    def _stored_for_body(self, y: torch.Tensor) -> torch.Tensor:
        """The stem's output over time, (T, B, C, *spatial), copied once (which also repeats a
        static output over T): for images with the channels stored last, where PyTorch's CPU
        convolutions and batch norms are faster, and every later layer of the body keeps
        that layout (the neurons run on tensors as stored, spaces/kernels)."""
        if self.ndim != 2:
            return y.contiguous()
        return y.movedim(2, -1).contiguous().movedim(-1, 2)

    def forward(self, x: torch.Tensor, time_steps: int) -> torch.Tensor:
        """x: (B, C, *spatial), static, or (T, B, C, *spatial), per step -> (T, B, N, D)."""
        static = x.dim() == self.ndim + 2
        y = self._over_steps(self.stem, x, time_steps, static)
        y = self._stored_for_body(y)
        for neuron, layer in zip(self.neurons, self.body, strict=False):
            y = over_time(layer, neuron(y))
        shortcut = self._over_steps(self.shortcut, x, time_steps, static)
        # Token-major in one pass: cat writes its output contiguous from the transposed views.
        return torch.cat([y.flatten(3).transpose(2, 3), shortcut.flatten(3).transpose(2, 3)], 3)


class Head(nn.Module):
    """LIF -> mean over tokens -> Linear; the caller averages the logits over time."""

    def __init__(self, dim: int, num_classes: int, neuron: NeuronFactory) -> None:
        super().__init__()
        self.neuron = neuron()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(T, B, N, D) -> per-step logits (T, B, K)."""
        return self.fc(self.neuron(x).mean(dim=2))

"""The deployable spiking network, built from an architecture given as a plain dict.

The constructor takes the ArchSpec's JSON form (not the pydantic object) so that an exported
module can build the identical network from its `ARCH` literal with torch alone.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from spaces.blocks import EncoderBlock, Head, PatchEmbed, StageTransition
from spaces.encoding import ENCODINGS
from spaces.layers import NeuronFactory
from spaces.mixers import MIXERS
from spaces.neurons import NEURONS


def neuron_factory(cfg: dict[str, Any]) -> NeuronFactory:
    """A zero-argument constructor of the configured neuron (PLIF calls its tau init_tau)."""
    options = {k: v for k, v in cfg.items() if k not in ("kind", "tau")}
    tau_name = "init_tau" if cfg["kind"] == "plif" else "tau"
    return functools.partial(NEURONS[cfg["kind"]], **{tau_name: cfg["tau"]}, **options)


class SpikingNetwork(nn.Module):
    """Input encoding -> patch embedding -> stages of encoder blocks -> head; logits averaged
    over time. The input is (B, *input_shape), or (B, T_data, *input_shape) event frames."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        self.input_shape = tuple(arch["input_shape"])
        self.time_steps = int(arch["time_steps"])
        spatial = self.input_shape[1:] if len(self.input_shape) == 3 else self.input_shape
        self.in_channels = self.input_shape[0] if len(self.input_shape) == 3 else 1
        self.spatial = tuple(spatial)
        downsample = int(arch["downsample"])
        grid = tuple(size // downsample for size in spatial)
        neuron = neuron_factory(arch["neuron"])
        self.encoding = str(arch["encoding"])
        self.encode = ENCODINGS[self.encoding](self.in_channels, self.spatial)
        stages = arch["stages"]
        self.embed = PatchEmbed(self.in_channels, stages[0]["dim"], len(grid), downsample, neuron)
        layers: list[nn.Module] = []
        for i, stage in enumerate(stages):
            dim = stage["dim"]
            if i > 0:
                layers.append(StageTransition(stages[i - 1]["dim"], dim, neuron))
            for block in stage["blocks"]:
                mixer_cfg = dict(block["mixer"])
                mixer_cls = MIXERS[mixer_cfg.pop("kind")]
                options = {k: v for k, v in mixer_cfg.items() if k in mixer_cls.options}
                mixer = mixer_cls(dim, grid, neuron, **options)
                layers.append(EncoderBlock(dim, mixer, block["mlp_ratio"], neuron))
        self.blocks = nn.Sequential(*layers)
        self.head = Head(stages[-1]["dim"], int(arch["num_classes"]), neuron)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> logits per time step (T, B, K), for losses such as TET."""
        tokens = self.embed(self.encode(x, self.time_steps), self.time_steps)
        return self.head(self.blocks(tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(dim=0)

    def forward_with_features(
        self, x: torch.Tensor, taps: tuple[int, ...]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-step logits (T, B, K) and the residual stream (T, B, N, D) at each tap, in the
        order of `taps`, for training-only branches such as surrogate modules.

        Tap 0 is the patch embedding's output, tap k the output of the k-th encoder block
        (counted over all stages, before any stage transition that follows it). The features
        are not detached: a loss on them trains the layers before the tap.
        """
        depth = sum(isinstance(layer, EncoderBlock) for layer in self.blocks)
        for tap in taps:
            if not 0 <= tap <= depth:
                raise ValueError(f"taps must lie in 0..{depth} (the depth), got {tap}")
        tokens = self.embed(self.encode(x, self.time_steps), self.time_steps)
        found = {0: tokens}
        done = 0
        for layer in self.blocks:
            tokens = layer(tokens)
            if isinstance(layer, EncoderBlock):
                done += 1
                found[done] = tokens
        return self.head(tokens), [found[tap] for tap in taps]

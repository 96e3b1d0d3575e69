"""Surrogate modules: training-only ANN branches for surrogate module learning.

SML (Deng, Lin, Li, Gu, ICML 2023; snn-methods.md section 4) attaches small ANN branches to
intermediate SNN features. Their gradient reaches the SNN layers before each tap through a path
with no surrogate gradient of its own, which cuts the error that surrogate gradients compound
through depth. The modules are built beside the network from the same ArchSpec and are never
part of the deployable model: they are not submodules of it, they are not counted in its
parameters and they are never exported.

Placement, following STMixer (depth/2 modules, the first after the patch embedding, the others
after every second encoder block): for a network of depth D there are n = max(1, D // 2)
modules at taps 0, 2, 4, ..., 2(n - 1), where tap 0 is the patch embedding's output and tap k
the output of the k-th encoder block counted over all stages. Every tap lies before the last
block, whose output the SNN head itself reads. Depth 1 to 8 gives taps (0,), (0,), (0,),
(0, 2), (0, 2), (0, 2, 4), (0, 2, 4), (0, 2, 4, 6).

Each module stands in for the rest of the network from the block after its tap: it averages
the tapped feature over time (not detached), maps it with 1x1 conv + BN + GELU to the width of
that next block, runs one ANN copy of that block (the block's mlp ratio; GELU wherever the SNN
has a spiking neuron; as token mixer the conv mixer, a depthwise 3-wide convolution and a 1x1,
whatever mixer the SNN block has, because it is cheap and valid for any 1-D or 2-D token grid),
takes the mean over tokens and ends in a Linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from spaces.arch import ArchSpec, BlockSpec
from spaces.blocks import EncoderBlock
from spaces.layers import PointwiseBN
from spaces.mixers import ConvMixer

# The surrogate block's token mixer kernel: a depthwise convolution of this width.
MIXER_KERNEL = 3


def gelu() -> nn.Module:
    """The ANN stand-in for a spiking neuron, as a neuron factory."""
    return nn.GELU()


def surrogate_taps(depth: int) -> tuple[int, ...]:
    """Where the surrogate modules read the network: depth // 2 taps (at least one), at the
    patch embedding (0) and after every second encoder block (2, 4, ...)."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    return tuple(range(0, 2 * max(1, depth // 2), 2))


class SurrogateModule(nn.Module):
    """Time mean -> 1x1 conv + BN + GELU -> one ANN encoder block -> token mean -> Linear."""

    def __init__(
        self,
        in_dim: int,
        dim: int,
        grid: tuple[int, ...],
        mlp_ratio: float,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.proj = PointwiseBN(in_dim, dim)
        self.act = nn.GELU()
        mixer = ConvMixer(dim, grid, gelu, kernel=MIXER_KERNEL)
        self.block = EncoderBlock(dim, mixer, mlp_ratio, gelu)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        """(T, B, N, D_in) SNN feature -> (B, K) logits."""
        x = self.act(self.proj(feature.mean(dim=0)))
        # The encoder block works on [T, B, N, C]; the time-averaged feature is one step.
        x = self.block(x.unsqueeze(0)).squeeze(0)
        return self.fc(x.mean(dim=1))


class SurrogateModules(nn.Module):
    """All surrogate modules of one network, with the taps they read (`taps[i]` feeds
    `surrogates[i]`): pass `taps` to `SpikingNetwork.forward_with_features`."""

    def __init__(self, taps: tuple[int, ...], modules: list[SurrogateModule]) -> None:
        super().__init__()
        if len(taps) != len(modules):
            raise ValueError(f"one tap per module: got {len(taps)} taps, {len(modules)} modules")
        self.taps = tuple(taps)
        self.surrogates = nn.ModuleList(modules)

    def __len__(self) -> int:
        return len(self.surrogates)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """One feature per tap, (T, B, N, D) each -> one (B, K) logits tensor per module."""
        if len(features) != len(self.surrogates):
            raise ValueError(
                f"expected {len(self.surrogates)} features (taps {self.taps}), got {len(features)}"
            )
        return [sm(f) for sm, f in zip(self.surrogates, features, strict=True)]


def _make(spec: ArchSpec) -> SurrogateModules:
    # (width, block) of every encoder block in order, over all stages.
    blocks: list[tuple[int, BlockSpec]] = [
        (stage.dim, block) for stage in spec.stages for block in stage.blocks
    ]
    taps = surrogate_taps(len(blocks))
    modules = []
    for tap in taps:
        in_dim = spec.stages[0].dim if tap == 0 else blocks[tap - 1][0]
        dim, block = blocks[tap]  # the block after the tap (every tap precedes the last block)
        modules.append(
            SurrogateModule(in_dim, dim, spec.token_grid, block.mlp_ratio, spec.num_classes)
        )
    return SurrogateModules(taps, modules)


def build_surrogate_modules(spec: ArchSpec, seed: int | None = None) -> SurrogateModules:
    """The surrogate modules of `spec`'s network; with a seed, their initial weights are
    reproducible and the caller's global random state is left as it was."""
    if seed is None:
        return _make(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _make(spec)

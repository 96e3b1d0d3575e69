"""Spec -> deployable nn.Module, deterministic given a seed."""

from __future__ import annotations

import torch

from spaces.arch import ArchSpec
from spaces.network import SpikingNetwork


def build_model(spec: ArchSpec, seed: int | None = None) -> SpikingNetwork:
    """Build the network of `spec`; with a seed, its initial weights are reproducible and the
    caller's global random state is left as it was."""
    arch = spec.model_dump(mode="json")
    if seed is None:
        return SpikingNetwork(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SpikingNetwork(arch)

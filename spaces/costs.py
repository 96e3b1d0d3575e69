"""Cost metrics of a candidate: parameter count and spike rates.

Spike rate (snn-methods.md section 5): the fraction of non-zero elements in every spike tensor,
averaged over layers weighted by size and over T, i.e. total spikes / total spike elements.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import torch
from torch import nn

from spaces.arch import ArchSpec
from spaces.network import SpikingNetwork
from spaces.neurons import SpikingNeuron


def count_params(model: nn.Module) -> int:
    """Parameters of the deployable network (surrogate modules are never part of it)."""
    return sum(p.numel() for p in model.parameters())


def spec_params(spec: ArchSpec) -> int:
    """Parameters of the network `spec` describes, without allocating its weights (the model is
    built on the meta device), so that a sampler can check a size limit before training."""
    with torch.device("meta"):
        return count_params(SpikingNetwork(spec.model_dump(mode="json")))


class SpikeMonitor:
    """Counts spikes of every neuron in a model while active (a context manager).

    with SpikeMonitor(model) as monitor:
        model(x)
    monitor.rate, monitor.per_layer, monitor.spikes_per_sample
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.spikes: dict[str, float] = {}
        self.elements: dict[str, int] = {}
        self.samples = 0
        self._handles: list[Any] = []

    def __enter__(self) -> SpikeMonitor:
        for name, module in self.model.named_modules():
            if isinstance(module, SpikingNeuron):
                self.spikes[name] = 0.0
                self.elements[name] = 0
                self._handles.append(module.register_forward_hook(self._hook(name)))
        self._handles.append(self.model.register_forward_pre_hook(self._count_samples))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, name: str) -> Any:
        def record(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self.spikes[name] += float(output.detach().count_nonzero())
            self.elements[name] += output.numel()

        return record

    def _count_samples(self, module: nn.Module, inputs: Any) -> None:
        self.samples += int(inputs[0].shape[0])

    @property
    def rate(self) -> float:
        total = sum(self.elements.values())
        return sum(self.spikes.values()) / total if total else 0.0

    @property
    def per_layer(self) -> dict[str, float]:
        return {n: self.spikes[n] / e if e else 0.0 for n, e in self.elements.items()}

    @property
    def spikes_per_sample(self) -> float:
        return sum(self.spikes.values()) / self.samples if self.samples else 0.0

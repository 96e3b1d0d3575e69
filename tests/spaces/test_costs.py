"""Cost metrics: parameter count and the spike monitor (snn-methods.md section 5)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import SpikeMonitor, count_params
from spaces.neurons import LIF, NEURONS


def _tiny(mixer: str = "stm", neuron: str = "lif") -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": (8, 8),
            "num_classes": 4,
            "time_steps": 3,
            "downsample": 2,
            "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": mixer, "heads": 2}}]}],
            "neuron": {"kind": neuron},
        }
    )


@pytest.mark.parametrize("mixer", ["stm", "identity", "ssa"])
def test_count_params_is_the_sum_of_numel(mixer: str) -> None:
    model = build_model(_tiny(mixer), seed=0)
    expected = 0
    for module in model.modules():
        for p in module.parameters(recurse=False):
            expected += p.numel()
    assert count_params(model) == expected > 0


def test_count_params_by_hand() -> None:
    model = nn.Sequential(nn.Linear(3, 4), LIF(), nn.Linear(4, 2, bias=False))
    assert count_params(model) == 3 * 4 + 4 + 4 * 2
    shared = nn.Linear(5, 5)
    assert count_params(nn.Sequential(shared, shared)) == 30  # a shared layer counts once


class _Recorder:
    """Independent counts: forward hooks on every registered neuron type."""

    def __init__(self, model: nn.Module) -> None:
        self.spikes: dict[str, float] = {}
        self.elements: dict[str, int] = {}
        self.handles = []
        kinds = tuple(NEURONS.values())
        for name, module in model.named_modules():
            if isinstance(module, kinds):
                self.handles.append(module.register_forward_hook(self._record(name)))

    def _record(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            out = output.detach()
            assert set(out.unique().tolist()) <= {0.0, 1.0}
            self.spikes[name] = self.spikes.get(name, 0.0) + float(out.sum())
            self.elements[name] = self.elements.get(name, 0) + out.numel()

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


@pytest.mark.parametrize("neuron", sorted(NEURONS))
def test_spike_monitor_counts_every_neuron(neuron: str) -> None:
    model = build_model(_tiny("conv", neuron), seed=0).train()  # batch statistics: it fires
    x1 = torch.rand(5, 8, 8, generator=torch.Generator().manual_seed(0)) * 3
    x2 = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1)) * 3
    recorder = _Recorder(model)
    with torch.no_grad(), SpikeMonitor(model) as monitor:
        model(x1)
        model(x2)
    recorder.close()

    total_spikes = sum(recorder.spikes.values())
    total_elements = sum(recorder.elements.values())
    assert total_spikes > 0
    assert len(recorder.spikes) >= 8  # embedding, mixer, channel mixer and head neurons
    assert monitor.rate == pytest.approx(total_spikes / total_elements, rel=1e-12)
    assert 0.0 < monitor.rate < 1.0
    assert monitor.per_layer.keys() == recorder.spikes.keys()
    for name, spikes in recorder.spikes.items():
        assert monitor.per_layer[name] == pytest.approx(spikes / recorder.elements[name])
    assert monitor.samples == 7
    assert monitor.spikes_per_sample == pytest.approx(total_spikes / 7, rel=1e-12)


def test_spike_monitor_removes_its_hooks() -> None:
    model = build_model(_tiny(), seed=0).eval()
    x = torch.rand(2, 8, 8) * 3

    def hook_count() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    before = hook_count()
    with torch.no_grad(), SpikeMonitor(model) as monitor:
        assert hook_count() > before
        model(x)
    assert hook_count() == before
    rate, spikes, samples = monitor.rate, dict(monitor.spikes), monitor.samples
    with torch.no_grad():
        model(x)
    assert (monitor.rate, monitor.spikes, monitor.samples) == (rate, spikes, samples)


def test_spike_monitor_removes_hooks_on_error() -> None:
    model = build_model(_tiny(), seed=0)
    with pytest.raises(RuntimeError), SpikeMonitor(model):
        model(torch.rand(2, 5, 5))  # wrong input size
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_spike_monitor_empty() -> None:
    monitor = SpikeMonitor(build_model(_tiny(), seed=0))
    with monitor:
        pass
    assert monitor.rate == 0.0
    assert monitor.spikes_per_sample == 0.0


def test_spike_monitor_by_hand() -> None:
    """One LIF layer, decay-input tau=2: a constant drive of 3 fires at t = 0 and t = 2 only."""
    lif = LIF()
    model = nn.Sequential(lif)
    x = torch.tensor([3.0, 0.0]).view(1, 1, 2).expand(4, 1, 2)  # [T=4, B=1, N=2]
    # neuron 0: H = 1.5 S, H = 1.5 S, ... (reset to 0, drive 3): fires every step -> 4 spikes
    # neuron 1: never fires.
    with SpikeMonitor(model) as monitor:
        out = model(x)
    assert out[:, 0, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out[:, 0, 1].sum() == 0
    assert monitor.rate == 0.5
    assert monitor.per_layer == {"0": 0.5}
    assert monitor.samples == 4  # the pre-hook counts the leading axis of the model's input

"""Export an architecture as a standalone Python module that needs torch alone.

The module carries the source of exactly the classes and functions the spec uses, taken from
this library, so the exported network is the built network: same code, same state_dict keys,
bit-identical outputs. Registries are narrowed to the kinds the spec names. The module defines
ARCH, INPUT_SHAPE, NUM_CLASSES, TIME_STEPS and build_model().
"""

from __future__ import annotations

import inspect
import pprint
import re
from collections.abc import Callable, Iterable
from typing import Any

from spaces import blocks, layers, mixers, network, neurons, surrogates
from spaces.arch import ArchSpec

_HEADER = '''"""{name}: a spiking network found by spikenas.

Generated code: torch is its only dependency. Load the trained weights with
    model = build_model()
    model.load_state_dict(torch.load("weights.pt", weights_only=True))
    model.eval()
    logits = model(x)  # x: (batch, *INPUT_SHAPE) -> (batch, NUM_CLASSES)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

SurrogateGrad = Callable[[torch.Tensor, float], torch.Tensor]
NeuronFactory = Callable[..., nn.Module]


def multistep(neuron: SpikingNeuron, x_seq: torch.Tensor) -> torch.Tensor:
    # spikenas trains with a fused multi-step kernel whose forward is identical to this loop.
    return neuron.step_by_step(x_seq)
'''

_TYPE_IGNORE = re.compile(r"  # type: ignore\[[^\]]*\]")


def _source(obj: Any) -> str:
    return _TYPE_IGNORE.sub("", inspect.getsource(obj)).rstrip() + "\n"


def _registry(name: str, entries: dict[str, Callable[..., Any]]) -> str:
    items = ", ".join(f'"{key}": {value.__name__}' for key, value in entries.items())
    return f"{name} = {{{items}}}\n"


def _used_objects(spec: ArchSpec) -> Iterable[Any]:
    surrogate = spec.neuron.surrogate
    neuron_kind = spec.neuron.kind
    mixer_kinds = sorted({b.mixer.kind for s in spec.stages for b in s.blocks})
    yield surrogates.SURROGATE_GRADS[surrogate]
    yield surrogates.SpikeFunction
    yield surrogates.spike
    yield neurons.charge
    yield neurons.reset
    yield neurons.SpikingNeuron
    if neuron_kind == "klif":
        yield neurons.LIF
    yield neurons.NEURONS[neuron_kind]
    yield layers.over_time
    yield layers.PointwiseBN
    yield mixers.TokenMixer
    if {"ssa", "sdsa"} & set(mixer_kinds):
        yield mixers._QKV
    for kind in mixer_kinds:
        yield mixers.MIXERS[kind]
    yield blocks.ChannelMixer
    yield blocks.EncoderBlock
    if len(spec.stages) > 1:
        yield blocks.StageTransition
    yield blocks._conv_bn
    yield blocks.PatchEmbed
    yield blocks.Head
    yield network.neuron_factory
    yield network.SpikingNetwork


def generate_module(spec: ArchSpec) -> str:
    """Python source of a module that rebuilds `spec` with torch alone."""
    mixer_kinds = sorted({b.mixer.kind for s in spec.stages for b in s.blocks})
    parts = [_HEADER.format(name=spec.name)]
    parts.extend(_source(obj) for obj in _used_objects(spec))
    parts.append(
        _registry(
            "SURROGATE_GRADS",
            {spec.neuron.surrogate: surrogates.SURROGATE_GRADS[spec.neuron.surrogate]},
        )
        + _registry("NEURONS", {spec.neuron.kind: neurons.NEURONS[spec.neuron.kind]})
        + _registry("MIXERS", {k: mixers.MIXERS[k] for k in mixer_kinds})
    )
    arch = pprint.pformat(spec.model_dump(mode="json"), indent=4, width=96, sort_dicts=False)
    parts.append(
        f"ARCH: dict[str, Any] = {arch}\n"
        'INPUT_SHAPE: tuple[int, ...] = tuple(ARCH["input_shape"])\n'
        'NUM_CLASSES: int = ARCH["num_classes"]\n'
        'TIME_STEPS: int = ARCH["time_steps"]\n'
    )
    parts.append(
        "def build_model() -> nn.Module:\n"
        '    """The network of ARCH, with freshly initialised weights."""\n'
        "    return SpikingNetwork(ARCH)\n"
    )
    return "\n\n".join(parts)

"""Export an architecture as a standalone Python module that needs torch alone.

The module carries the source of exactly the classes and functions the spec uses, taken from
this library, so the exported network is the built network: same code, same state_dict keys,
bit-identical outputs (for the stochastic rate encoding: after the same torch.manual_seed).
Registries are narrowed to the kinds the spec names. The module defines ARCH, ENCODING,
FRAME_SHAPE, INPUT_SHAPE, NUM_CLASSES, TIME_STEPS and build_model(); its docstring says what
input the network expects.
"""

from __future__ import annotations

import inspect
import pprint
import re
from collections.abc import Callable, Iterable
from typing import Any

from spaces import blocks, encoding, layers, mixers, network, neurons, surrogates
from spaces.arch import ArchSpec

_HEADER = '''"""{name}: a spiking network found by spikenas.

Generated code: torch is its only dependency. Load the trained weights with
    model = build_model()
    model.load_state_dict(torch.load("weights.pt", weights_only=True))
    model.eval()
    logits = model(x)  # x: (batch, *INPUT_SHAPE) -> (batch, NUM_CLASSES)

{input_doc}
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

# What each encoding expects of x, for the module's docstring (spaces/encoding.py).
_INPUT_DOCS = {
    "direct": (
        "Input (encoding 'direct'): a static sample shaped INPUT_SHAPE, the same at each of the\n"
        "TIME_STEPS steps."
    ),
    "rate": (
        "Input (encoding 'rate'): a static sample shaped INPUT_SHAPE with values in [0, 1]; at\n"
        "each of the TIME_STEPS steps every value fires a spike with that probability. The\n"
        "draws come from torch's global generator: call torch.manual_seed first for repeatable\n"
        "outputs. Values outside [0, 1] act as 0 or 1."
    ),
    "events": (
        "Input (encoding 'events'): event frames shaped (T, *FRAME_SHAPE) per sample, i.e.\n"
        "x: (batch, T, *FRAME_SHAPE) with T a multiple of TIME_STEPS (INPUT_SHAPE is the case\n"
        "T = TIME_STEPS). Each group of T // TIME_STEPS consecutive frames is summed into one\n"
        "time step; the first layers run at every step."
    ),
}
# INPUT_SHAPE: the shape of one sample, built from the names defined before it.
_INPUT_SHAPES = {
    "direct": "FRAME_SHAPE",
    "rate": "FRAME_SHAPE",
    "events": "(TIME_STEPS, *FRAME_SHAPE)",
}

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
    yield encoding.InputEncoding
    yield encoding.ENCODINGS[spec.encoding]
    yield layers.over_time
    yield layers.grid_view
    yield layers.tokens_of
    yield layers.norm_rows
    yield layers.PointwiseConv
    yield layers.PointwiseBN
    yield mixers.TokenMixer
    if "stm" in mixer_kinds:
        yield mixers.mix_tokens
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
    parts = [_HEADER.format(name=spec.name, input_doc=_INPUT_DOCS[spec.encoding])]
    parts.extend(_source(obj) for obj in _used_objects(spec))
    parts.append(
        _registry(
            "SURROGATE_GRADS",
            {spec.neuron.surrogate: surrogates.SURROGATE_GRADS[spec.neuron.surrogate]},
        )
        + _registry("NEURONS", {spec.neuron.kind: neurons.NEURONS[spec.neuron.kind]})
        + _registry("MIXERS", {k: mixers.MIXERS[k] for k in mixer_kinds})
        + _registry("ENCODINGS", {spec.encoding: encoding.ENCODINGS[spec.encoding]})
    )
    arch = pprint.pformat(spec.model_dump(mode="json"), indent=4, width=96, sort_dicts=False)
    parts.append(
        f"ARCH: dict[str, Any] = {arch}\n"
        'ENCODING: str = ARCH["encoding"]\n'
        'NUM_CLASSES: int = ARCH["num_classes"]\n'
        'TIME_STEPS: int = ARCH["time_steps"]\n'
        "# One static sample, or one event frame.\n"
        'FRAME_SHAPE: tuple[int, ...] = tuple(ARCH["input_shape"])\n'
        f"INPUT_SHAPE: tuple[int, ...] = {_INPUT_SHAPES[spec.encoding]}\n"
    )
    parts.append(
        "def build_model() -> nn.Module:\n"
        '    """The network of ARCH, with freshly initialised weights."""\n'
        "    return SpikingNetwork(ARCH)\n"
    )
    return "\n\n".join(parts)

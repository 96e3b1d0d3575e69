"""Cost metrics: FLOPs, SOPs and energy per layer and in total (snn-methods.md section 5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import SpikeMonitor
from spaces.energy import E_AC_PJ, E_MAC_PJ, CostReport, measure_costs
from spaces.mixers import MIXERS, TokenMixer
from spaces.network import SpikingNetwork
from spaces.neurons import SpikingNeuron

KINDS = sorted(MIXERS)
# input shape -> downsample giving a 16-token grid
SHAPES: dict[tuple[int, ...], int] = {(32,): 2, (8, 8): 2}
MIXER = "blocks.0.token_mixer."


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spec(
    kind: str = "stm",
    input_shape: tuple[int, ...] = (8, 8),
    time_steps: int = 2,
    encoding: str = "direct",
) -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": 4,
            "time_steps": time_steps,
            "encoding": encoding,
            "downsample": SHAPES[input_shape],
            "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": kind, "heads": 2}}]}],
        }
    )


def _input(spec: ArchSpec, batch: int = 3, seed: int = 0) -> torch.Tensor:
    """Static samples in [0, 3) (in [0, 1) for rate), or T frames of event counts 0..2."""
    gen = torch.Generator().manual_seed(seed)
    if spec.encoding == "events":
        shape = (batch, spec.time_steps, *spec.input_shape)
        return torch.randint(0, 3, shape, generator=gen).float()
    scale = 1.0 if spec.encoding == "rate" else 3.0
    return torch.rand(batch, *spec.input_shape, generator=gen) * scale


def _calibrated(spec: ArchSpec) -> SpikingNetwork:
    """A network with realistic, sparse firing in eval mode: batch norms hold the statistics of
    one batch and scale to a spread of 2, as after some training."""
    model = build_model(spec, seed=0)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # running statistics = those of the one batch seen
            nn.init.constant_(module.weight, 2.0)
    with torch.no_grad():
        model.train()(_input(spec, batch=8, seed=99))
    return model.eval()


def _layers(report: CostReport) -> dict[str, Any]:
    return {layer.name: layer for layer in report.layers}


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# --- FLOPs -----------------------------------------------------------------------------------


def test_flops_by_hand() -> None:
    """Two stages on an 8x8 image, downsample 2 (a 4x4 grid, N = 16), dims 16 then 24."""
    spec = ArchSpec.model_validate(
        {
            "input_shape": (8, 8),
            "num_classes": 4,
            "time_steps": 2,
            "downsample": 2,
            "stages": [
                {"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2}]},
                {"dim": 24, "blocks": [{"mixer": {"kind": "pool"}, "mlp_ratio": 1}]},
            ],
        }
    )
    n = 16
    expected = {
        # patch embedding, conv k^2 * h w * Cin * Cout: widths 2, 4, 8, 16, 14; stride 2 in body.0
        "embed.stem.0": 9 * 64 * 1 * 2,
        "embed.body.0.0": 9 * 16 * 2 * 4,
        "embed.body.1.0": 9 * 16 * 4 * 8,
        "embed.body.2.0": 9 * 16 * 8 * 16,
        "embed.body.3.0": 9 * 16 * 16 * 14,
        "embed.shortcut.0": 4 * 16 * 1 * 2,  # kernel = stride = 2
        # STM block: 1x1 convs D*D*N, token matrix D*N^2, channel mixer D*2D*N twice
        "blocks.0.token_mixer.proj_in.0": 16 * 16 * n,
        "blocks.0.token_mixer.token_mix": 16 * n * n,
        "blocks.0.token_mixer.proj_out.0": 16 * 16 * n,
        "blocks.0.channel_mixer.fc1.0": 16 * 32 * n,
        "blocks.0.channel_mixer.fc2.0": 32 * 16 * n,
        "blocks.1.proj.0": 16 * 24 * n,  # stage transition
        "blocks.2.token_mixer.pool": 9 * n * 24,  # k^2 * N * C
        "blocks.2.channel_mixer.fc1.0": 24 * 24 * n,
        "blocks.2.channel_mixer.fc2.0": 24 * 24 * n,
        "head.fc": 24 * 4,
    }
    report = measure_costs(build_model(spec, seed=0), _input(spec))
    assert {layer.name: layer.flops for layer in report.layers} == expected
    assert report.flops == sum(expected.values()) == 114_528
    assert report.energy_ann_pj == pytest.approx(E_MAC_PJ * 114_528)
    assert [layer.name for layer in report.layers if not layer.spiking] == [
        "embed.stem.0",
        "embed.shortcut.0",
    ]


MIXER_FLOPS = {  # D = 16, N = 16 on a 4x4 grid, kernel 3
    "stm": {"proj_in.0": 16 * 16 * 16, "token_mix": 16 * 16**2, "proj_out.0": 16 * 16 * 16},
    "ssa": {
        **{f"qkv.{p}.0": 16 * 16 * 16 for p in "qkv"},
        "qk": 16 * 16**2,
        "attn_v": 16 * 16**2,
        "proj.0": 16 * 16 * 16,
    },
    "sdsa": {
        **{f"qkv.{p}.0": 16 * 16 * 16 for p in "qkv"},
        "kv": 16 * 16,
        "q_kv": 16 * 16,
        "proj.0": 16 * 16 * 16,
    },
    "conv": {"spatial.0": 9 * 16 * 16, "proj.0": 16 * 16 * 16},  # depthwise: groups = D
    "pool": {"pool": 9 * 16 * 16},
    "identity": {},
}


@pytest.mark.parametrize("kind", KINDS)
def test_mixer_flops_by_hand(kind: str) -> None:
    if kind not in MIXER_FLOPS:
        pytest.fail(f"add the hand-counted FLOPs of the {kind!r} mixer to MIXER_FLOPS")
    spec = _spec(kind)
    report = measure_costs(build_model(spec, seed=0), _input(spec))
    found = {
        layer.name.removeprefix(MIXER): layer.flops
        for layer in report.layers
        if layer.name.startswith(MIXER)
    }
    assert found == MIXER_FLOPS[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_flops_match_torch_flop_counter_on_sequences_and_images(kind: str) -> None:
    """Every conv, linear and matmul torch runs is in the report: a mixer whose forward does a
    product it does not declare in token_ops fails here. A sequence and an image network of the
    same token count report the same layers."""
    layer_lists = []
    for shape in SHAPES:
        spec = _spec(kind, shape, time_steps=3)
        model = build_model(spec, seed=0).eval()
        x = _input(spec, batch=2)
        report = measure_costs(model, x)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        counted = 0
        for layer in report.layers:
            if layer.kind in ("conv", "linear", "matmul"):
                runs = 2 * layer.steps  # batch 2, T steps or once
                assert layer.steps == (spec.time_steps if layer.spiking else 1)
                counted += layer.flops * runs
        assert 2 * counted == counter.get_total_flops()  # torch counts a MAC as two FLOPs
        assert all(layer.flops > 0 for layer in report.layers)
        layer_lists.append([(x.name, x.kind, x.spiking) for x in report.layers])
    sequence, image = layer_lists
    assert sequence == image
    assert len(sequence) >= 9  # 6 embedding convs, 2 channel-mixer convs, head


# --- SOPs and energy -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_sops_and_energy_follow_the_measured_rates(kind: str) -> None:
    spec = _spec(kind)
    model = _calibrated(spec)
    x = _input(spec)
    report = measure_costs(model, x)
    with torch.no_grad(), SpikeMonitor(model) as monitor:
        model(x)

    t = spec.time_steps
    for layer in report.layers:
        if layer.spiking:
            assert layer.sops == pytest.approx(layer.input_rate * t * layer.flops)
            assert layer.energy_pj == pytest.approx(E_AC_PJ * layer.sops)
        else:
            assert layer.sops == 0.0
            assert layer.energy_pj == pytest.approx(E_MAC_PJ * layer.flops)
        assert 0.0 <= layer.input_rate <= 1.0
    mac_flops = sum(layer.flops for layer in report.layers if not layer.spiking)
    assert report.sops == pytest.approx(sum(layer.sops for layer in report.layers))
    assert report.energy_snn_pj == pytest.approx(E_MAC_PJ * mac_flops + E_AC_PJ * report.sops)
    assert report.energy_ann_pj == pytest.approx(E_MAC_PJ * report.flops)

    # Realistic sparse firing: an SNN of this shape is cheaper than the ANN.
    assert 0.02 < report.spike_rate < 0.5
    assert report.sops > 0
    assert report.energy_snn_pj < report.energy_ann_pj
    assert report.spike_rate == monitor.rate
    assert report.spikes_per_sample == monitor.spikes_per_sample


@pytest.mark.parametrize("kind", KINDS)
def test_input_rates_are_the_rates_of_the_spikes_read(kind: str) -> None:
    spec = _spec(kind)
    model = _calibrated(spec)
    x = _input(spec)
    head_inputs: list[torch.Tensor] = []
    handle = model.head.fc.register_forward_hook(lambda m, a, o: head_inputs.append(a[0]))
    try:
        report = measure_costs(model, x)
    finally:
        handle.remove()
    with torch.no_grad(), SpikeMonitor(model) as monitor:
        model(x)
    layers = _layers(report)
    rates = monitor.per_layer

    assert layers["head.fc"].input_rate == pytest.approx(
        float((head_inputs[0] != 0).float().mean())
    )
    assert (
        layers["blocks.0.channel_mixer.fc1.0"].input_rate == rates["blocks.0.channel_mixer.neuron1"]
    )
    assert (
        layers["blocks.0.channel_mixer.fc2.0"].input_rate == rates["blocks.0.channel_mixer.neuron2"]
    )
    assert layers["embed.body.0.0"].input_rate == rates["embed.neurons.0"]
    mixer = model.blocks[0].token_mixer
    assert isinstance(mixer, TokenMixer)
    for op, _, reads, _ in mixer.token_ops():
        assert layers[MIXER + op].input_rate == rates[MIXER + reads]
    assert layers["embed.stem.0"].input_rate == pytest.approx(float((x != 0).float().mean()))


@pytest.mark.parametrize("kind", KINDS)
def test_silent_spikes_cost_no_sops(kind: str) -> None:
    """With every neuron of the token mixer silenced, every layer of the mixer reads only zeros
    (the rest of the network still fires)."""
    spec = _spec(kind)
    model = _calibrated(spec)
    mixer = model.blocks[0].token_mixer
    assert isinstance(mixer, TokenMixer)
    silence = [
        m.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
        for m in mixer.modules()
        if isinstance(m, SpikingNeuron)
    ]
    try:
        report = measure_costs(model, _input(spec))
    finally:
        for handle in silence:
            handle.remove()
    inside = [layer for layer in report.layers if layer.name.startswith(MIXER)]
    assert bool(inside) == any(isinstance(m, SpikingNeuron) for m in mixer.modules())
    for layer in inside:
        assert (layer.input_rate, layer.sops, layer.energy_pj) == (0.0, 0.0, 0.0), layer.name
    assert _layers(report)["blocks.0.channel_mixer.fc1.0"].sops > 0


def test_zero_input_costs_only_the_first_layers_macs() -> None:
    """Fresh batch norms map zero to zero, so no neuron ever fires: the first conv and the
    shortcut still cost their multiply-accumulates, nothing else costs anything."""
    spec = _spec("stm")
    report = measure_costs(build_model(spec, seed=0), torch.zeros(2, *spec.input_shape))
    macs = _layers(report)["embed.stem.0"].flops + _layers(report)["embed.shortcut.0"].flops
    assert report.sops == 0.0
    assert report.spike_rate == 0.0
    assert all(layer.input_rate == 0.0 for layer in report.layers)
    assert report.energy_snn_pj == pytest.approx(E_MAC_PJ * macs)


def test_figures_are_per_sample() -> None:
    """A batch of three copies of one sample gives that sample's figures."""
    spec = _spec("ssa")
    model = _calibrated(spec)
    one = _input(spec, batch=1)
    single = measure_costs(model, one)
    repeated = measure_costs(model, one.repeat(3, 1, 1))
    assert single.sops > 0

    def exact(r: CostReport) -> list[tuple[str, str, int, bool]]:
        return [(x.name, x.kind, x.flops, x.spiking) for x in r.layers]

    def measured(r: CostReport) -> list[float]:
        per_layer = [v for x in r.layers for v in (x.input_rate, x.sops, x.energy_pj)]
        return [*per_layer, r.sops, r.energy_snn_pj, r.spike_rate, r.spikes_per_sample]

    assert exact(repeated) == exact(single)
    assert measured(repeated) == pytest.approx(measured(single), rel=1e-9)


# --- hooks, modes and output -----------------------------------------------------------------


def test_hooks_removed_and_modes_restored() -> None:
    spec = _spec("sdsa")
    model = build_model(spec, seed=0).train()
    model.head.eval()
    before = _hook_count(model)
    modes = [m.training for m in model.modules()]
    measure_costs(model, _input(spec))
    assert _hook_count(model) == before
    assert [m.training for m in model.modules()] == modes

    with pytest.raises(RuntimeError):
        measure_costs(model, torch.rand(2, 5, 5))  # wrong input size
    assert _hook_count(model) == before
    assert [m.training for m in model.modules()] == modes


def test_rejects_an_input_without_a_batch_axis() -> None:
    model = build_model(_spec(), seed=0)
    with pytest.raises(ValueError, match="batch"):
        measure_costs(model, torch.rand(64))


def test_report_as_dict_is_json() -> None:
    spec = _spec("conv")
    report = measure_costs(_calibrated(spec), _input(spec))
    data = json.loads(json.dumps(report.as_dict()))
    assert data["flops"] == report.flops
    assert data["time_steps"] == 2
    assert [layer["name"] for layer in data["layers"]] == [x.name for x in report.layers]
    assert set(data["layers"][0]) == {
        "name",
        "kind",
        "flops",
        "input_rate",
        "sops",
        "energy_pj",
        "spiking",
        "steps",
    }


# --- encodings ---------------------------------------------------------------------------------

ENCODINGS = ("direct", "rate", "events")
FIRST_LAYERS = {"embed.stem.0": 9 * 64 * 1 * 2, "embed.shortcut.0": 4 * 16 * 1 * 2}  # 8x8, D=16


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_flops_match_torch_flop_counter_for_every_encoding(encoding: str) -> None:
    """The first layers run once per sample with the direct encoding, at every step otherwise;
    only the rate encoding's input is spikes."""
    spec = _spec("stm", time_steps=3, encoding=encoding)
    model = build_model(spec, seed=0).eval()
    x = _input(spec, batch=2)
    report = measure_costs(model, x)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    counted = sum(
        layer.flops * 2 * layer.steps
        for layer in report.layers
        if layer.kind in ("conv", "linear", "matmul")
    )
    assert 2 * counted == counter.get_total_flops()
    for layer in report.layers:
        if layer.name in FIRST_LAYERS:
            assert layer.steps == (1 if encoding == "direct" else 3), layer.name
            assert layer.spiking == (encoding == "rate"), layer.name
        else:
            assert layer.spiking and layer.steps == 3, layer.name


def test_event_frames_cost_macs_at_every_step_by_hand() -> None:
    """Event frames are counts, not spikes: the stem and the shortcut cost 4.6 pJ per MAC at
    each of the T steps, and no SOPs."""
    spec = _spec("stm", time_steps=2, encoding="events")
    model = _calibrated(spec)
    x = _input(spec)
    report = measure_costs(model, x)
    layers = _layers(report)
    for name, flops in FIRST_LAYERS.items():
        layer = layers[name]
        assert (layer.flops, layer.steps, layer.spiking, layer.sops) == (flops, 2, False, 0.0)
        assert layer.energy_pj == pytest.approx(E_MAC_PJ * flops * 2)
        # As many frames as steps: the stem reads the frames themselves.
        assert layer.input_rate == pytest.approx(float((x != 0).float().mean()))
    sops = sum(layer.sops for layer in report.layers if layer.spiking)
    assert sops > 0
    macs = 2 * sum(FIRST_LAYERS.values())
    assert report.energy_snn_pj == pytest.approx(E_MAC_PJ * macs + E_AC_PJ * sops)
    assert report.energy_ann_pj == pytest.approx(E_MAC_PJ * report.flops)  # once per sample


def test_silent_event_frames_cost_only_the_first_layers_macs_at_every_step() -> None:
    spec = _spec("stm", time_steps=3, encoding="events")
    x = torch.zeros(2, 6, *spec.input_shape)  # 6 frames, summed in pairs
    report = measure_costs(build_model(spec, seed=0), x)
    assert report.sops == 0.0
    assert report.energy_snn_pj == pytest.approx(E_MAC_PJ * 3 * sum(FIRST_LAYERS.values()))


def test_rate_spikes_cost_synaptic_operations_by_hand() -> None:
    """With the rate encoding the stem and the shortcut read 0/1 spikes: SOPs at the rate of
    the spikes drawn, and no MAC anywhere in the network."""
    spec = _spec("stm", time_steps=2, encoding="rate")
    model = _calibrated(spec)
    x = _input(spec)
    drawn: list[torch.Tensor] = []
    handle = model.encode.register_forward_hook(lambda m, a, out: drawn.append(out))
    try:
        with torch.random.fork_rng(devices=[]):
            # Not seed 0: _input draws x from a generator seeded 0, and noise equal to x
            # would never fire at the first step.
            torch.manual_seed(1)
            report = measure_costs(model, x)
    finally:
        handle.remove()
    rate = float((drawn[0] != 0).float().mean())
    assert 0.3 < rate < 0.7  # the mean of U[0, 1) inputs
    layers = _layers(report)
    for name, flops in FIRST_LAYERS.items():
        layer = layers[name]
        assert (layer.flops, layer.steps, layer.spiking) == (flops, 2, True)
        assert layer.input_rate == pytest.approx(rate)
        assert layer.sops == pytest.approx(rate * 2 * flops)
        assert layer.energy_pj == pytest.approx(E_AC_PJ * rate * 2 * flops)
    assert all(layer.spiking for layer in report.layers)
    assert report.energy_snn_pj == pytest.approx(E_AC_PJ * report.sops)

"""NIR export: graph shape, folded batch norm, and a round trip through a small NIR interpreter.

The interpreter below reads NIR's semantics, not spikenas code: dt = 1, forward Euler for
`tau dv/dt = (v_leak - v) + r I`, a spike where v > v_threshold, nodes evaluated in topological
order at every time step with their incoming edges summed. Its time-averaged output must equal
the built model's eval output. Models run in float64 so that rounding cannot flip a spike.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.errors import ExportError
from spaces.export.nir import check_nir_exportable, export_nir, fold_batchnorm, read_nir
from spaces.network import SpikingNetwork
from spaces.neurons import PLIF

nir = pytest.importorskip("nir", reason="the optional NIR export needs `pip install nir`")


def _spec(
    input_shape: tuple[int, ...],
    stages: list[tuple[int, list[dict[str, Any]]]],
    downsample: int = 2,
    encoding: str = "direct",
    **neuron: Any,
) -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": 3,
            "time_steps": 3,
            "encoding": encoding,
            "downsample": downsample,
            "stages": [
                {"dim": dim, "blocks": [{"mixer": m, "mlp_ratio": 1.5} for m in mixers]}
                for dim, mixers in stages
            ],
            "neuron": neuron,
        }
    )


def _trained_like(spec: ArchSpec, seed: int = 0) -> SpikingNetwork:
    """The built model with batch-norm statistics of real activity (so that neurons fire),
    random BN affine parameters and PLIF taus away from their initial value; float64, eval."""
    model = build_model(spec, seed=seed).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # running stats = this batch's statistics
                module.weight.copy_(torch.rand(module.num_features, generator=gen) + 1.0)
                module.bias.copy_(torch.randn(module.num_features, generator=gen) * 0.5 + 0.5)
            if isinstance(module, PLIF):
                module.w.copy_(torch.randn((), generator=gen))
        model.train()
        frames = (2 * spec.time_steps,) if spec.encoding == "events" else ()
        model(torch.rand(8, *frames, *spec.input_shape, generator=gen, dtype=torch.float64))
    return model.eval()


def _t(value: Any) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float64)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in torch.as_tensor(value).reshape(-1))


def _topological(graph: Any) -> list[str]:
    indegree = {name: 0 for name in graph.nodes}
    for _, dst in graph.edges:
        indegree[dst] += 1
    ready = [name for name, d in indegree.items() if d == 0]
    order = []
    while ready:
        name = ready.pop()
        order.append(name)
        for src, dst in graph.edges:
            if src == name:
                indegree[dst] -= 1
                if indegree[dst] == 0:
                    ready.append(dst)
    assert len(order) == len(graph.nodes), "the graph has a cycle"
    return order


def _step(node: Any, x: torch.Tensor, v: torch.Tensor | None) -> tuple[torch.Tensor, Any]:
    """One time step of one node on a batch: (output, next state)."""
    if isinstance(node, nir.Conv1d | nir.Conv2d):
        conv = F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d
        y = conv(
            x,
            _t(node.weight),
            _t(node.bias),
            _ints(node.stride),
            _ints(node.padding),
            _ints(node.dilation),
            int(node.groups),
        )
        return y, None
    if isinstance(node, nir.Scale):
        return x * _t(node.scale), None
    if isinstance(node, nir.Affine):
        return x @ _t(node.weight).T + _t(node.bias), None
    if isinstance(node, nir.Flatten):
        end = int(node.end_dim)
        return x.flatten(1 + int(node.start_dim), end if end < 0 else 1 + end), None
    if isinstance(node, nir.LIF):
        v = torch.zeros_like(x) if v is None else v
        h = v + (_t(node.v_leak) - v + _t(node.r) * x) / _t(node.tau)
        z = (h > _t(node.v_threshold)).to(h)
        if node.metadata.get("reset") == "subtract":
            return z, h - _t(node.v_threshold) * z
        return z, torch.where(z > 0, _t(node.v_reset), h)
    if isinstance(node, nir.Output):
        return x, None
    raise NotImplementedError(type(node).__name__)


def run_nir(
    graph: Any, x: torch.Tensor, steps: int, per_step: bool = False
) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean output over `steps` for the static batch x (B, *input type), or with `per_step`
    for x (steps, B, *input type), step t reading x[t]; LIF firing rates."""
    order = _topological(graph)
    sources = defaultdict(list)
    for src, dst in graph.edges:
        sources[dst].append(src)
    state: dict[str, Any] = {}
    outputs, rates = [], defaultdict(float)
    for t in range(steps):
        values: dict[str, torch.Tensor] = {}
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                values[name] = x[t] if per_step else x
                continue
            total = sum(values[s] for s in sources[name])
            assert isinstance(total, torch.Tensor), f"{name} has no input"
            values[name], state[name] = _step(node, total, state.get(name))
            if isinstance(node, nir.LIF):
                rates[name] += values[name].mean().item() / steps
        outputs.append(values["output"])
    return torch.stack(outputs).mean(0), dict(rates)


def _check_round_trip(graph: Any, model: SpikingNetwork, spec: ArchSpec) -> None:
    x = torch.rand(4, *spec.input_shape, generator=torch.Generator().manual_seed(1)) * 4
    with torch.no_grad():
        expected = model(x.double())
    inputs = x.double().reshape(4, spec.in_channels, *spec.spatial_shape)
    got, rates = run_nir(graph, inputs, spec.time_steps)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-5
    # The comparison means something only where neurons fire, but not all the time.
    assert 0.05 < sum(rates.values()) / len(rates) < 0.95, rates
    assert sum(0 < r < 1 for r in rates.values()) >= len(rates) // 2, rates


ROUND_TRIP = {
    "conv-2d": (_spec((8, 8), [(16, [{"kind": "conv"}, {"kind": "conv", "kernel": 5}])]), {}),
    "identity-1d": (_spec((16,), [(8, [{"kind": "identity"}, {"kind": "identity"}])]), {}),
    "pool-2d-rgb": (
        _spec(
            (2, 8, 8),
            [(8, [{"kind": "pool"}, {"kind": "pool", "kernel": 5}])],
            tau=3.0,
            v_threshold=0.8,
            v_reset=-0.3,
        ),
        {},
    ),
    "stm-pool-conv-1d": (
        _spec((16,), [(16, [{"kind": "stm", "heads": 2}, {"kind": "pool"}, {"kind": "conv"}])]),
        {},
    ),
    "stm-2d-two-stages-plif-leak-factor": (
        _spec(
            (8, 8),
            [(16, [{"kind": "stm", "heads": 4}, {"kind": "identity"}]), (8, [{"kind": "conv"}])],
            kind="plif",
            decay_input=False,
        ),
        {},
    ),
    "soft-reset-2d": (
        _spec((8, 8), [(8, [{"kind": "conv"}, {"kind": "stm"}])], downsample=4, v_reset=None),
        {"allow_soft_reset": True},
    ),
}


@pytest.mark.parametrize("case", list(ROUND_TRIP))
def test_interpreted_graph_equals_the_model(case: str) -> None:
    spec, options = ROUND_TRIP[case]
    model = _trained_like(spec)
    _check_round_trip(export_nir(model, spec, **options), model, spec)


def test_graph_has_the_expected_nodes_and_edges() -> None:
    spec = _spec((8, 8), [(16, [{"kind": "conv"}, {"kind": "identity"}]), (8, [{"kind": "stm"}])])
    graph = export_nir(_trained_like(spec), spec)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert kinds["input"] == "Input" and kinds["output"] == "Output"
    assert kinds["embed.stem"] == "Conv2d" and kinds["embed.neurons.0"] == "LIF"
    assert kinds["blocks.0.token_mixer.spatial"] == "Conv2d"
    assert graph.nodes["blocks.0.token_mixer.spatial"].groups == 16
    assert not any(name.startswith("blocks.1.token_mixer") for name in kinds)  # identity
    assert kinds["blocks.2.neuron"] == "LIF" and kinds["blocks.2.proj"] == "Conv2d"
    assert kinds["blocks.3.token_mixer.token_weight"] == "Conv2d"
    assert [kinds[f"head.{n}"] for n in ("neuron", "mean", "flatten", "fc")] == [
        "LIF",
        "Conv2d",
        "Flatten",
        "Affine",
    ]
    assert set(kinds.values()) <= {"Input", "Output", "Conv2d", "LIF", "Flatten", "Affine"}
    edges = set(graph.edges)
    # The concatenation: two convolutions into all 16 channels, each zero outside its part.
    into_block0 = {src for src, dst in edges if dst == "blocks.0.token_mixer.in_neuron"}
    assert into_block0 == {"embed.body.3", "embed.shortcut"}
    assert not graph.nodes["embed.body.3"].weight[14:].any()
    assert not graph.nodes["embed.shortcut"].weight[:14].any()
    # Residual adds are edges: every summand of the stream reaches the transition's neuron.
    into_transition = {src for src, dst in edges if dst == "blocks.2.neuron"}
    assert into_transition == {
        "embed.body.3",
        "embed.shortcut",
        "blocks.0.token_mixer.proj",
        "blocks.0.channel_mixer.fc2",
        "blocks.1.channel_mixer.fc2",
    }
    into_head = {src for src, dst in edges if dst == "head.neuron"}
    assert into_head == {
        "blocks.2.proj",
        "blocks.3.token_mixer.proj_out",
        "blocks.3.channel_mixer.fc2",
    }
    assert ("head.fc", "output") in edges and ("input", "embed.shortcut") in edges
    assert graph.metadata["dt"] == 1.0 and graph.metadata["time_steps"] == 3
    lif = graph.nodes["embed.neurons.0"]
    assert lif.tau.shape == (2, 8, 8) and float(lif.tau.max()) == 2.0 == float(lif.tau.min())
    assert float(lif.r.max()) == 1.0 and float(lif.v_threshold.max()) == 1.0


@pytest.mark.parametrize("ndim", [1, 2])
def test_folded_batchnorm_reproduces_conv_then_batchnorm(ndim: int) -> None:
    torch.manual_seed(0)
    conv = (nn.Conv1d if ndim == 1 else nn.Conv2d)(3, 5, 3, padding=1, bias=ndim == 1).double()
    norm = (nn.BatchNorm1d if ndim == 1 else nn.BatchNorm2d)(5).double().eval()
    with torch.no_grad():
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 3, *[6] * ndim, dtype=torch.float64)
    weight, bias = fold_batchnorm(conv, norm)
    folded = (F.conv1d if ndim == 1 else F.conv2d)(x, weight, bias, padding=1)
    with torch.no_grad():
        assert (folded - norm(conv(x))).abs().max().item() < 1e-12


@pytest.mark.parametrize(
    ("stages", "neuron", "message"),
    [
        (
            [(8, [{"kind": "conv"}, {"kind": "ssa"}])],
            {},
            r"stages\[0\]\.blocks\[1\]\.mixer 'ssa' has spike-by-spike products",
        ),
        (
            [(8, [{"kind": "conv"}]), (16, [{"kind": "sdsa", "heads": 2}])],
            {},
            r"stages\[1\]\.blocks\[0\]\.mixer 'sdsa' has spike-by-spike products",
        ),
        ([(8, [{"kind": "conv"}, {"kind": "ssa"}])], {"kind": "klif"}, r"embed.*'klif'"),
        ([(8, [{"kind": "conv"}])], {"v_reset": None}, r"embed.*soft reset.*allow_soft_reset"),
    ],
)
def test_refused_blocks_are_named(
    stages: list[tuple[int, list[dict[str, Any]]]], neuron: dict[str, Any], message: str
) -> None:
    spec = _spec((8, 8), stages, downsample=4, **neuron)
    with pytest.raises(ExportError, match=message):
        check_nir_exportable(spec)
    with pytest.raises(ExportError, match=message):
        export_nir(build_model(spec, seed=0), spec)


def test_model_not_built_from_the_spec_is_refused() -> None:
    spec = _spec((8, 8), [(8, [{"kind": "conv"}])], downsample=4)
    other = _spec((8, 8), [(8, [{"kind": "pool"}])], downsample=4)
    with pytest.raises(ExportError, match="do not match"):
        export_nir(build_model(other, seed=0), spec)


def test_missing_nir_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec((8, 8), [(8, [{"kind": "conv"}])], downsample=4)
    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ExportError, match="pip install"):
        export_nir(build_model(spec, seed=0), spec)


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    spec = _spec((16,), [(8, [{"kind": "stm", "heads": 2}, {"kind": "pool"}])], kind="plif")
    model = _trained_like(spec)
    graph = export_nir(model, spec)
    path = tmp_path / "net.nir"
    nir.write(path, graph)
    loaded = read_nir(path)
    assert set(loaded.nodes) == set(graph.nodes)
    assert set(loaded.edges) == set(graph.edges)
    for name, node in graph.nodes.items():
        assert type(loaded.nodes[name]) is type(node)
    assert loaded.metadata["arch"] == spec.model_dump_json()
    _check_round_trip(loaded, model, spec)


# --- encodings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 8, 8), (16,)], ids=str)
def test_events_graph_reads_one_grouped_frame_per_step(shape: tuple[int, ...]) -> None:
    """A recording of 2T frames: the graph, fed frame pairs summed by hand, equals the model."""
    spec = _spec(shape, [(16, [{"kind": "conv"}, {"kind": "stm", "heads": 2}])], encoding="events")
    model = _trained_like(spec)
    graph = export_nir(model, spec)
    assert graph.metadata["encoding"] == "events"
    assert "event frames" in graph.metadata["input"]
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(4, 6, *spec.input_shape, generator=gen, dtype=torch.float64) * 2
    with torch.no_grad():
        expected = model(x)
    frames = x.reshape(4, 3, 2, spec.in_channels, *spec.spatial_shape)
    per_step = (frames[:, :, 0] + frames[:, :, 1]).transpose(0, 1)  # (T, B, C, *spatial)
    got, rates = run_nir(graph, per_step, spec.time_steps, per_step=True)
    assert (got - expected).abs().max().item() < 1e-5
    assert 0.05 < sum(rates.values()) / len(rates) < 0.95, rates


def test_rate_encoding_is_refused_naming_it() -> None:
    spec = _spec((8, 8), [(8, [{"kind": "conv"}])], downsample=4, encoding="rate")
    with pytest.raises(ExportError, match=r"encoding 'rate'.*NIR cannot express"):
        check_nir_exportable(spec)
    with pytest.raises(ExportError, match=r"encoding 'rate'"):
        export_nir(build_model(spec, seed=0), spec)


def test_direct_graph_says_its_input_is_static() -> None:
    spec = _spec((8, 8), [(8, [{"kind": "conv"}])], downsample=4)
    graph = export_nir(_trained_like(spec), spec)
    assert graph.metadata["encoding"] == "direct"
    assert graph.metadata["input"].startswith("static")


def test_model_of_another_encoding_is_refused() -> None:
    spec = _spec((8, 8), [(8, [{"kind": "conv"}])], downsample=4, encoding="events")
    direct = _spec((8, 8), [(8, [{"kind": "conv"}])], downsample=4)
    with pytest.raises(ExportError, match=r"encoding 'direct'.*encoding 'events'"):
        export_nir(build_model(direct, seed=0), spec)

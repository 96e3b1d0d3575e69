"""Export a deployable network to NIR, the Neuromorphic Intermediate Representation.

NIR (Pedersen et al., Nature Communications 2024; the `nir` package, an optional dependency
imported only when an export runs) describes a network as continuous-time nodes joined by
identity edges; a node sums all its incoming edges. The graph reads one time step: feed the
input T = spec.time_steps times, evaluate the nodes in topological order with dt = 1, and
average the T logit vectors of `output`: that mean is what `SpikingNetwork.forward` returns (the
average is the reader's job). What the input is at step t depends on the spec's encoding
(spaces/encoding.py), and the graph's metadata says it:

- direct: the static sample, the same at every step.
- events: the t-th event frame; a recording of k * T frames is first summed in k-frame groups,
  as the network does. The stem and shortcut convolutions then run at every step, as they do
  in the network. Exact.
- rate: refused. Its Bernoulli spikes are drawn inside the network and NIR has no random node;
  a reader that fed the static sample would run a different network.

Node names are the network's module paths (`blocks.3.token_mixer.proj`), so each node can be
traced back to the state_dict. Every BatchNorm is folded (eval-mode running statistics) into
the convolution before it. The mapping, block by block (D channels, N tokens on the grid):

- neurons (lif, plif) -> `LIF` of the layer's shape with r, tau, v_leak, v_threshold, v_reset.
  NIR's `tau dv/dt = (v_leak - v) + r I`, integrated by forward Euler with dt = 1, is
  `v[t] = v[t-1] + (v_leak - v[t-1] + r I[t]) / tau`. Decay-input (H = V + (X - (V - V_reset))
  / tau) is r = 1; leak-factor (u = beta u + x, tau = 1 / (1 - beta)) is r = tau; v_leak is the
  hard-reset potential (0 for soft reset). PLIF's learned tau is just its tau, 1 / sigmoid(w).
  Exact, except that spikenas fires at H >= V_th and NIR at v > v_threshold: they differ only
  when H equals the threshold exactly. Hard reset is NIR's reset. Soft reset (V = H - V_th) has
  no discrete-time NIR form: it is refused unless `allow_soft_reset`, which writes
  metadata reset="subtract" on every LIF and on the graph, for readers that offer reset by
  subtraction. `IF` would be tau = infinity (not in the space); `CubaLIF` is not needed (no
  synaptic current). Surrogate, alpha and detach_reset only shape gradients: not exported.
  KLIF is refused: F = ReLU(k H) rescales and clamps the membrane before the reset.
- patch embedding -> `Conv1d`/`Conv2d` + LIF chain; the concatenation [main 7D/8, shortcut D/8]
  is two convolutions into all D channels, zero weights outside their own part, summed.
- residual adds -> edges: every consumer of the residual stream gets one edge from each summand
  (the embedding's two convolutions, then each block's mixer and channel-mixer outputs).
- channel mixer, stage transition -> LIF, 1x1 conv, LIF, 1x1 conv (BN folded). Exact.
- identity mixer -> no node (it adds zeros). Exact.
- conv mixer -> LIF, depthwise conv, LIF, 1x1 conv. Exact.
- pool mixer BN(avgpool(s) - s) -> LIF, then two summands: a depthwise box-sum conv followed by
  a `Scale` of gamma / (sqrt(var + eps) count), count = the in-bounds window size at each token
  (count_include_pad=False), and a depthwise 1x1 conv with weight -gamma / sqrt(var + eps) and
  the BN shift as bias. Exact.
- STM -> LIF, 1x1 conv, LIF, then the per-head N x N token matrix as a grouped conv whose kernel
  covers the whole grid (D -> D*N channels on a 1-point grid, D*N^2 weights), a grouped
  "unflatten" conv back to (D, grid) (kernel = grid, padding = grid - 1, one-hot weights: an
  exact copy, because NIR has no reshape node), LIF, 1x1 conv. Exact.
- SSA, SDSA -> refused: spike-by-spike products, which NIR cannot express.
- head -> LIF, depthwise conv with kernel = grid and weights 1/N (mean over tokens), `Flatten`
  (start_dim=0: NIR shapes carry no batch axis), `Affine` (the Linear layer). Output: (K,).

Every neuron starts at v = 0. Reading a file back: nir 1.0.8's type check takes a convolution's
input channels from weight.shape[1], which is C_in / groups, so it rejects the grouped
(depthwise) convolutions above; read with `read_nir` (or `nir.read(path, type_check=False)`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from spaces.arch import ArchSpec
from spaces.blocks import ChannelMixer, EncoderBlock, Head, PatchEmbed, StageTransition
from spaces.errors import ExportError
from spaces.layers import PointwiseBN
from spaces.mixers import MIXERS, ConvMixer, IdentityMixer, PoolMixer, STMMixer
from spaces.network import SpikingNetwork
from spaces.neurons import LIF, PLIF

if TYPE_CHECKING:
    import nir

_REFUSED_NEURONS = {"klif": "rescales and clamps the membrane (F = ReLU(k H), reset applied to F)"}
_REFUSED_MIXERS = {
    "ssa": "has spike-by-spike products (Q K^T V)",
    "sdsa": "has spike-by-spike products (K * V and Q * kv)",
}
# What the graph's input is at each step, per encoding NIR can express (metadata "input").
_INPUTS = {
    "direct": "static: the same sample at every time step",
    "events": (
        "event frames: frame t at time step t; a recording of k * time_steps frames is first "
        "summed in groups of k consecutive frames"
    ),
}
_Conv = nn.Conv1d | nn.Conv2d
_Norm = nn.BatchNorm1d | nn.BatchNorm2d


def check_nir_exportable(spec: ArchSpec, *, allow_soft_reset: bool = False) -> None:
    """Raise ExportError naming the first part of `spec` that NIR cannot express.

    Needs no `nir` installed, so a search can filter candidates with it."""
    if spec.encoding not in _INPUTS:
        raise ExportError(
            f"encoding {spec.encoding!r} draws random spikes inside the network, which NIR "
            f"cannot express (no random node); export a spec with encoding in {sorted(_INPUTS)}"
        )
    first = "embed.neurons[0]"
    kind = spec.neuron.kind
    if kind not in ("lif", "plif"):
        reason = _REFUSED_NEURONS.get(kind, "has no NIR mapping")
        raise ExportError(
            f"{first}: neuron {kind!r} {reason}, which NIR cannot express; use 'lif' or 'plif'"
        )
    if spec.neuron.v_reset is None and not allow_soft_reset:
        raise ExportError(
            f"{first}: neuron.v_reset None (soft reset, V = H - V_th) has no discrete-time NIR "
            "form (NIR's LIF resets to v_reset); pass allow_soft_reset=True to export it with "
            "metadata reset='subtract' for readers that support reset by subtraction"
        )
    for i, stage in enumerate(spec.stages):
        for j, block in enumerate(stage.blocks):
            mixer = block.mixer.kind
            if mixer in _REFUSED_MIXERS:
                raise ExportError(
                    f"stages[{i}].blocks[{j}].mixer {mixer!r} {_REFUSED_MIXERS[mixer]}, "
                    "which NIR cannot express"
                )


def fold_batchnorm(conv: nn.Module, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of one convolution equal to `conv` then `norm` in eval mode."""
    if not isinstance(conv, _Conv) or not isinstance(norm, _Norm):
        raise ExportError(f"expected a convolution and a batch norm, got {conv} and {norm}")
    scale, shift = _bn_affine(norm)
    weight = conv.weight * scale.reshape(-1, *[1] * (conv.weight.dim() - 1))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    return weight.detach(), bias.detach()


def _bn_affine(norm: _Norm) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as y = scale * x + shift, per channel."""
    if norm.running_mean is None or norm.running_var is None:
        raise ExportError(f"{norm} keeps no running statistics; they are needed to fold it")
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale.detach(), shift.detach()


def _fix_group_input_type(node: Any) -> None:
    """nir 1.0.8 types a convolution's input as weight.shape[1] channels, which is C_in/groups:
    set C_in for grouped convolutions so that the graph's type check passes."""
    groups = int(getattr(node, "groups", 1))
    if groups > 1 and node.input_shape is not None:
        spatial = torch.tensor(node.input_shape).reshape(-1)
        channels = torch.tensor([node.weight.shape[1] * groups])
        node.input_type = {"input": torch.cat([channels, spatial]).numpy()}


def read_nir(path: str | Path) -> nir.NIRGraph:
    """`nir.read` for graphs with grouped convolutions: read without nir's type check (which
    gets their input channels wrong), fix their input types, then check the types."""
    ir = _import_nir()
    graph = ir.read(path, type_check=False)
    for node in graph.nodes.values():
        _fix_group_input_type(node)
    graph.infer_types()
    graph.check_types()
    return graph


def _import_nir() -> Any:
    try:
        import nir
    except ImportError as e:
        raise ExportError(
            "NIR export needs the optional package 'nir': pip install 'nir>=1.0.8'"
        ) from e
    return nir


class _GraphBuilder:
    """Collects named NIR nodes and the edges into them; arrays in the model's dtype."""

    def __init__(self, ir: Any, dtype: torch.dtype, allow_soft_reset: bool) -> None:
        self.ir = ir
        self.dtype = dtype
        self.allow_soft_reset = allow_soft_reset
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []

    def array(self, t: torch.Tensor) -> Any:
        return t.detach().to("cpu", self.dtype).numpy()

    def add(self, name: str, node: Any, sources: Sequence[str]) -> str:
        if name in self.nodes:
            raise ExportError(f"node name {name!r} used twice")
        self.nodes[name] = node
        self.edges.extend((source, name) for source in sources)
        return name

    def conv(
        self,
        name: str,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        spatial: tuple[int, ...],
        sources: Sequence[str],
        stride: int = 1,
        padding: Sequence[int] | int = 0,
        groups: int = 1,
    ) -> tuple[str, tuple[int, ...]]:
        """A Conv1d/Conv2d node; returns its name and its output shape (channels, *spatial)."""
        ndim = weight.dim() - 2
        pads = tuple(padding) if isinstance(padding, Sequence) else (padding,) * ndim
        kernel = weight.shape[2:]
        out = tuple(
            (n + 2 * p - k) // stride + 1 for n, p, k in zip(spatial, pads, kernel, strict=True)
        )
        bias = torch.zeros(weight.shape[0]) if bias is None else bias
        common = {"weight": self.array(weight), "bias": self.array(bias), "groups": groups}
        if ndim == 1:
            node = self.ir.Conv1d(
                input_shape=spatial[0], stride=stride, padding=pads[0], dilation=1, **common
            )
        else:
            node = self.ir.Conv2d(
                input_shape=spatial, stride=(stride,) * 2, padding=pads, dilation=(1, 1), **common
            )
        _fix_group_input_type(node)
        return self.add(name, node, sources), (weight.shape[0], *out)

    def conv_bn(
        self,
        name: str,
        seq: nn.Module,
        spatial: tuple[int, ...],
        sources: Sequence[str],
        out_channels: int | None = None,
        offset: int = 0,
    ) -> tuple[str, tuple[int, ...]]:
        """conv -> BN folded; with `out_channels`, written into rows offset.. of that many."""
        if not isinstance(seq, nn.Sequential) or not isinstance(seq[0], _Conv):
            raise ExportError(f"{name}: expected Sequential(conv, batch norm), got {seq}")
        conv = seq[0]
        if isinstance(conv.padding, str) or len(set(conv.stride)) != 1:
            raise ExportError(f"{name}: needs numeric padding and one stride for every axis")
        weight, bias = fold_batchnorm(conv, seq[1])
        if out_channels is not None:
            rows = slice(offset, offset + weight.shape[0])
            full_w = weight.new_zeros(out_channels, *weight.shape[1:])
            full_b = bias.new_zeros(out_channels)
            full_w[rows], full_b[rows] = weight, bias
            weight, bias = full_w, full_b
        return self.conv(
            name, weight, bias, spatial, sources, conv.stride[0], tuple(conv.padding), conv.groups
        )

    def pointwise(
        self, name: str, layer: nn.Module, grid: tuple[int, ...], sources: Sequence[str]
    ) -> tuple[str, tuple[int, ...]]:
        """A PointwiseBN (1x1 over the flattened tokens) as a 1x1 conv over the grid."""
        if not isinstance(layer, PointwiseBN):
            raise ExportError(f"{name}: expected a PointwiseBN, got {type(layer).__name__}")
        weight, bias = fold_batchnorm(layer[0], layer[1])
        weight = weight.reshape(*weight.shape[:2], *[1] * len(grid))
        return self.conv(name, weight, bias, grid, sources)

    def lif(
        self, name: str, neuron: nn.Module, shape: Sequence[int], sources: Sequence[str]
    ) -> str:
        """A LIF node of `shape` (channels, *spatial) with the neuron's parameters."""
        # Exact types: a subclass (KLIF is one of LIF) may change the dynamics.
        if type(neuron) not in (LIF, PLIF):
            raise ExportError(f"{name}: neuron {type(neuron).__name__} has no NIR mapping")
        assert isinstance(neuron, LIF | PLIF)
        tau = 1.0 / float(torch.as_tensor(neuron.decay()).detach())
        rest = 0.0 if neuron.v_reset is None else float(neuron.v_reset)
        metadata: dict[str, Any] = {}
        if neuron.v_reset is None:
            if not self.allow_soft_reset:
                raise ExportError(f"{name}: soft reset needs allow_soft_reset=True")
            metadata = {"reset": "subtract"}

        def full(value: float) -> Any:
            return self.array(torch.full(tuple(shape), value, dtype=torch.float64))

        node = self.ir.LIF(
            tau=full(tau),
            r=full(1.0 if neuron.decay_input else tau),
            v_leak=full(rest),
            v_threshold=full(float(neuron.v_threshold)),
            v_reset=full(rest),
            metadata=metadata,
        )
        return self.add(name, node, sources)


def _export_embed(g: _GraphBuilder, embed: nn.Module, spec: ArchSpec) -> list[str]:
    if not isinstance(embed, PatchEmbed):
        raise ExportError(f"embed: expected a PatchEmbed, got {type(embed).__name__}")
    dim = spec.stages[0].dim
    name, shape = g.conv_bn("embed.stem", embed.stem, spec.spatial_shape, ["input"])
    last = len(embed.body) - 1
    for i, (neuron, layer) in enumerate(zip(embed.neurons, embed.body, strict=True)):
        spike = g.lif(f"embed.neurons.{i}", neuron, shape, [name])
        pad = dim if i == last else None
        name, shape = g.conv_bn(f"embed.body.{i}", layer, shape[1:], [spike], pad)
    shortcut, _ = g.conv_bn(
        "embed.shortcut", embed.shortcut, spec.spatial_shape, ["input"], dim, dim - dim // 8
    )
    return [name, shortcut]


def _export_mixer(
    g: _GraphBuilder, p: str, mixer: nn.Module, dim: int, grid: tuple[int, ...], stream: list[str]
) -> list[str]:
    """Nodes of one token mixer reading `stream`; returns its summands of the residual."""
    shape = (dim, *grid)
    n = math.prod(grid)
    if isinstance(mixer, IdentityMixer):
        return []
    if isinstance(mixer, ConvMixer):
        s = g.lif(f"{p}.in_neuron", mixer.in_neuron, shape, stream)
        y, _ = g.conv_bn(f"{p}.spatial", mixer.spatial, grid, [s])
        z = g.lif(f"{p}.out_neuron", mixer.out_neuron, shape, [y])
        return [g.pointwise(f"{p}.proj", mixer.proj, grid, [z])[0]]
    if isinstance(mixer, PoolMixer):
        s = g.lif(f"{p}.neuron", mixer.neuron, shape, stream)
        pool = mixer.pool
        kernel = _first(pool.kernel_size)
        if _first(pool.stride) != 1 or pool.ceil_mode:
            raise ExportError(f"{p}: only stride-1 pooling without ceil_mode is exported")
        box = torch.ones(dim, 1, *[kernel] * len(grid))
        summed, _ = g.conv(f"{p}.pool", box, None, grid, [s], padding=kernel // 2, groups=dim)
        count = torch.full(grid, float(kernel ** len(grid)), dtype=torch.float64)
        if not pool.count_include_pad:
            count = _window_counts(grid, kernel)
        scale, shift = _bn_affine(mixer.norm)
        scale = scale.double()
        per_token = scale.reshape(-1, *[1] * len(grid)) / count
        avg = g.add(f"{p}.pool_scale", g.ir.Scale(scale=g.array(per_token)), [summed])
        minus = -scale.reshape(dim, 1, *[1] * len(grid))
        norm, _ = g.conv(f"{p}.norm", minus, shift, grid, [s], groups=dim)
        return [avg, norm]
    if isinstance(mixer, STMMixer):
        s = g.lif(f"{p}.in_neuron", mixer.in_neuron, shape, stream)
        a, _ = g.pointwise(f"{p}.proj_in", mixer.proj_in, grid, [s])
        s2 = g.lif(f"{p}.mix_neuron", mixer.mix_neuron, shape, [a])
        # Channel c of head h: out[c*N + m] = sum_n W_h[n, m] s[c, n], one group per channel.
        per_channel = mixer.token_weight.detach().repeat_interleave(dim // mixer.heads, dim=0)
        mix_w = per_channel.transpose(1, 2).reshape(dim * n, 1, *grid)
        mixed, mixed_shape = g.conv(f"{p}.token_weight", mix_w, None, grid, [s2], groups=dim)
        # One-hot taps: a kernel-sized window slid over one padded point copies token m back.
        taps = torch.eye(n).reshape(n, *grid).flip(dims=tuple(range(1, len(grid) + 1)))
        unflat_w = taps.unsqueeze(0).expand(dim, *taps.shape)
        pads = [size - 1 for size in grid]
        unflat, _ = g.conv(f"{p}.unflatten", unflat_w, None, mixed_shape[1:], [mixed], 1, pads, dim)
        z = g.lif(f"{p}.out_neuron", mixer.out_neuron, shape, [unflat])
        return [g.pointwise(f"{p}.proj_out", mixer.proj_out, grid, [z])[0]]
    raise ExportError(f"{p}: token mixer {type(mixer).__name__} has no NIR mapping")


def _first(value: int | tuple[int, ...]) -> int:
    return value if isinstance(value, int) else value[0]


def _window_counts(grid: tuple[int, ...], kernel: int) -> torch.Tensor:
    """How many in-bounds tokens a same-padded window of `kernel` covers at each token."""
    half = kernel // 2
    counts = [
        torch.tensor([min(i + half, size - 1) - max(i - half, 0) + 1 for i in range(size)])
        for size in grid
    ]
    if len(grid) == 1:
        return counts[0].double()
    return torch.outer(counts[0], counts[1]).double()


def _check_matches(model: nn.Module, spec: ArchSpec) -> None:
    if not isinstance(model, SpikingNetwork):
        raise ExportError(f"expected a SpikingNetwork, got {type(model).__name__}")
    built = (model.input_shape, model.time_steps, model.encoding)
    if built != (spec.input_shape, spec.time_steps, spec.encoding):
        raise ExportError(
            f"model (input {model.input_shape}, T={model.time_steps}, encoding "
            f"{model.encoding!r}) was not built from spec (input {spec.input_shape}, "
            f"T={spec.time_steps}, encoding {spec.encoding!r})"
        )
    expected: list[type[nn.Module]] = []
    for i, stage in enumerate(spec.stages):
        expected += [StageTransition] if i else []
        expected += [MIXERS[block.mixer.kind] for block in stage.blocks]
    found = [
        type(layer.token_mixer) if isinstance(layer, EncoderBlock) else type(layer)
        for layer in model.blocks
    ]
    if found != expected:
        names = [cls.__name__ for cls in found]
        raise ExportError(f"model blocks {names} do not match the spec's {spec.name}")


def export_nir(
    model: SpikingNetwork, spec: ArchSpec, *, allow_soft_reset: bool = False
) -> nir.NIRGraph:
    """The NIR graph of `model`, the network built from `spec` (weights as they are now).

    One graph step is one time step (dt = 1); the input is (C, *spatial) = spec.in_channels
    and spec.spatial_shape: the sample fed unchanged for spec.time_steps steps (direct), or one
    grouped event frame per step (events; rate is refused); `output` gives per-step
    logits (num_classes,) whose mean over the steps is `model(x)`. BatchNorm uses its running
    statistics whatever the model's mode. Raises ExportError naming the first block NIR cannot
    express (see check_nir_exportable), or when `nir` is not installed.
    """
    check_nir_exportable(spec, allow_soft_reset=allow_soft_reset)
    ir = _import_nir()
    _check_matches(model, spec)
    dtype = next(model.parameters()).dtype
    g = _GraphBuilder(ir, dtype, allow_soft_reset)
    grid = spec.token_grid
    g.add("input", ir.Input(input_type=[spec.in_channels, *spec.spatial_shape]), [])
    stream = _export_embed(g, model.embed, spec)
    layers = iter(enumerate(model.blocks))
    for i, stage in enumerate(spec.stages):
        if i > 0:
            k, transition = next(layers)
            assert isinstance(transition, StageTransition)  # checked by _check_matches
            width = spec.stages[i - 1].dim
            s = g.lif(f"blocks.{k}.neuron", transition.neuron, (width, *grid), stream)
            stream = [g.pointwise(f"blocks.{k}.proj", transition.proj, grid, [s])[0]]
        for _ in stage.blocks:
            k, block = next(layers)
            assert isinstance(block, EncoderBlock)
            p = f"blocks.{k}"
            stream = stream + _export_mixer(
                g, f"{p}.token_mixer", block.token_mixer, stage.dim, grid, stream
            )
            stream = stream + _export_channel_mixer(
                g, p, block.channel_mixer, stage.dim, grid, stream
            )
    _export_head(g, model.head, spec.stages[-1].dim, spec.num_classes, grid, stream)
    metadata = {
        "source": "spikenas",
        "arch": spec.model_dump_json(),
        "dt": 1.0,
        "time_steps": spec.time_steps,
        "encoding": spec.encoding,
        "input": _INPUTS[spec.encoding],
        "readout": "mean of the per-step outputs over time_steps",
        "reset": "subtract" if spec.neuron.v_reset is None else "to_v_reset",
    }
    return ir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=metadata)


def _export_channel_mixer(
    g: _GraphBuilder,
    p: str,
    mixer: nn.Module,
    dim: int,
    grid: tuple[int, ...],
    stream: list[str],
) -> list[str]:
    if not isinstance(mixer, ChannelMixer):
        raise ExportError(f"{p}.channel_mixer: expected a ChannelMixer")
    a = g.lif(f"{p}.channel_mixer.neuron1", mixer.neuron1, (dim, *grid), stream)
    h, hidden_shape = g.pointwise(f"{p}.channel_mixer.fc1", mixer.fc1, grid, [a])
    b = g.lif(f"{p}.channel_mixer.neuron2", mixer.neuron2, hidden_shape, [h])
    return [g.pointwise(f"{p}.channel_mixer.fc2", mixer.fc2, grid, [b])[0]]


def _export_head(
    g: _GraphBuilder,
    head: nn.Module,
    dim: int,
    num_classes: int,
    grid: tuple[int, ...],
    stream: list[str],
) -> None:
    if not isinstance(head, Head):
        raise ExportError(f"head: expected a Head, got {type(head).__name__}")
    s = g.lif("head.neuron", head.neuron, (dim, *grid), stream)
    mean_w = torch.full((dim, 1, *grid), 1.0 / math.prod(grid), dtype=torch.float64)
    mean, mean_shape = g.conv("head.mean", mean_w, None, grid, [s], groups=dim)
    flat = g.add("head.flatten", g.ir.Flatten(input_type=list(mean_shape), start_dim=0), [mean])
    fc = g.ir.Affine(weight=g.array(head.fc.weight), bias=g.array(head.fc.bias))
    g.add("head.fc", fc, [flat])
    g.add("output", g.ir.Output(output_type=[num_classes]), ["head.fc"])

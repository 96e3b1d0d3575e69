"""FLOPs, synaptic operations and energy of a spiking network, per layer and in total.

Implements the SNN papers' 45 nm convention (snn-methods.md section 5; Spikformer, STMixer):
SOP_l = fr_l * T * FLOPs_l, E_SNN = 4.6 pJ * FLOPs(layers reading the real-valued input)
+ 0.9 pJ * sum SOP_l, and an ANN of the same shape costs 4.6 pJ * sum FLOPs.

Conventions (all figures per sample; FLOPs per time step):
- A FLOP is one multiply-accumulate. Conv: k^d * output positions * Cin * Cout / groups; padded
  positions count. Linear: in * out. Biases are not counted.
- Average pooling: k^d * output positions * C, i.e. a depthwise conv with fixed weights. The
  pooling mixer's "- s" and the 1/count scale fold into the centre and all taps of that kernel.
- Token mixers declare the work done outside modules (`TokenMixer.token_ops`): STM's N x N matrix
  D*N^2; SSA's Q K^T and (Q K^T) V, D*N^2 each; SDSA's K*V with its token sum (one
  multiply-accumulate per token and channel) D*N and its Q * kv mask D*N.
- Not counted: batch norm (it folds into the preceding conv at inference), neuron updates,
  residual additions, the head's mean over tokens and over time.
- fr_l is measured in one eval forward pass: the fraction of non-zero elements of the tensor the
  layer reads (for a token op, of the spikes it is declared to read), over all time steps.
- Layers reading the real-valued encoded input (the patch embedding's first conv and its
  shortcut) cost MACs: 4.6 pJ * FLOPs * steps, and no SOPs, where steps is how many times the
  layer runs per sample (measured). With the direct encoding they run once per sample and are
  repeated over T (steps = 1). With the events encoding they run at every step (steps = T):
  a frame holds event counts summed over its group, not spikes, so every position costs a MAC,
  counted dense as the zeros of a static image are (no credit for input sparsity).
- With the rate encoding the input is 0/1 spikes, so those two layers count like every other
  layer: SOPs at the measured rate of the input spikes (the mean input intensity, on average).
  Every layer other than the two above counts as SOPs, the head included (its input, a token
  mean of spikes, is a scaled spike count).
- The ANN of the same shape runs once per sample, not T times: E_ANN = 4.6 pJ * sum FLOPs,
  whatever the encoding.
- Spike rate and spikes per sample come from spaces.costs.SpikeMonitor: the network's neurons
  only, not the spikes the rate encoding draws from the input.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spaces.costs import SpikeMonitor
from spaces.layers import PointwiseConv
from spaces.mixers import TokenMixer
from spaces.network import SpikingNetwork

E_MAC_PJ = 4.6  # energy of one 32-bit float multiply-accumulate, 45 nm
E_AC_PJ = 0.9  # energy of one 32-bit float accumulate (a synaptic operation), 45 nm

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)


@dataclass(frozen=True)
class LayerCost:
    """One layer's cost per sample. `spiking` is False for layers reading the real-valued input."""

    name: str
    kind: str  # conv, linear, pool, or a token op's kind (matmul, elementwise)
    flops: int  # multiply-accumulates per time step
    input_rate: float  # fraction of non-zero elements of the input, over all time steps
    sops: float  # input_rate * T * flops; 0 for layers that cost MACs
    energy_pj: float
    spiking: bool
    steps: int  # runs per sample: T, or 1 for a layer run once and repeated over T (direct)


@dataclass(frozen=True)
class CostReport:
    """Costs of one network on one batch, per sample; layers in the order they first ran."""

    layers: list[LayerCost]
    time_steps: int
    flops: int
    sops: float
    energy_snn_pj: float
    energy_ann_pj: float
    spike_rate: float
    spikes_per_sample: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


@dataclass
class _Tally:
    kind: str
    flops: int
    spiking: bool
    nonzero: int = 0
    elements: int = 0
    items: int = 0  # batch items run on (B per run once over T; T * B per run at every step)

    def read(self, tensor: torch.Tensor, items: int) -> None:
        self.nonzero += int(torch.count_nonzero(tensor))
        self.elements += tensor.numel()
        self.items += items


def _module_flops(module: nn.Module, out: torch.Tensor) -> tuple[str, int]:
    """(kind, FLOPs per item of the batch the module ran on)."""
    if isinstance(module, PointwiseConv):  # token-major (..., N, C): N output positions
        return "conv", out.shape[-2] * module.in_channels * module.out_channels
    if isinstance(module, _CONVS):
        kernel = math.prod(module.kernel_size)
        positions = math.prod(out.shape[2:])
        cin, cout = module.in_channels, module.out_channels
        return "conv", kernel * positions * cin * cout // module.groups
    if isinstance(module, nn.Linear):
        return "linear", module.in_features * module.out_features
    if isinstance(module, _POOLS):
        size = module.kernel_size
        kernel = math.prod(size) if isinstance(size, tuple) else int(size) ** (out.dim() - 2)
        return "pool", kernel * math.prod(out.shape[1:])
    raise TypeError(f"no FLOPs formula for {type(module).__name__}")


def _items(module: nn.Module, inp: torch.Tensor) -> int:
    """Batch items (samples, or samples times steps) in a layer's input: a Linear reads
    (..., in_features), a PointwiseConv tokens (..., N, C), convolutions and pools
    (items, C, *spatial)."""
    if isinstance(module, nn.Linear):
        return inp[..., 0].numel()
    if isinstance(module, PointwiseConv):
        return inp[..., 0, 0].numel()
    return int(inp.shape[0])


def measure_costs(model: SpikingNetwork, x: torch.Tensor) -> CostReport:
    """Costs of `model` on the batch `x` (B, *input_shape), from one eval forward pass without
    gradients. Hooks are removed and every module's train/eval mode is restored afterwards."""
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (B, *input_shape), got shape {x.shape}")
    x = x.contiguous()  # the encodings' reshapes are then views of x
    tallies: dict[str, _Tally] = {}
    # The encoded input when it is real-valued (direct, events): a layer whose input shares its
    # storage reads it (the embedding folds T into the batch as a view). Kept alive until the
    # end, so that no later tensor can reuse its memory and pass for it.
    real_inputs: list[torch.Tensor] = []

    def encoded(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
        if not model.encode.spiking:
            real_inputs.append(out)

    def module_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
            inp = args[0]
            if name not in tallies:
                kind, flops = _module_flops(module, out)
                storage = inp.untyped_storage().data_ptr()
                spiking = all(storage != r.untyped_storage().data_ptr() for r in real_inputs)
                tallies[name] = _Tally(kind, flops, spiking)
            items = _items(module, inp)
            tallies[name].read(inp, items)

        return hook

    def op_hook(name: str, kind: str, flops: int) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
            # Neuron outputs are (T, B, ...): the op runs at every step.
            tally = tallies.setdefault(name, _Tally(kind, flops, spiking=True))
            tally.read(out, out.shape[0] * out.shape[1])

        return hook

    modes = {module: module.training for module in model.modules()}
    handles = [model.encode.register_forward_hook(encoded)]
    try:
        for name, module in model.named_modules():
            if isinstance(module, (*_CONVS, nn.Linear, *_POOLS)):
                handles.append(module.register_forward_hook(module_hook(name)))
            if isinstance(module, TokenMixer):
                for op, kind, reads, flops in module.token_ops():
                    hook = op_hook(f"{name}.{op}", kind, flops)
                    handles.append(module.get_submodule(reads).register_forward_hook(hook))
        model.eval()
        with torch.no_grad(), SpikeMonitor(model) as monitor:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    return _report(tallies, model.time_steps, x.shape[0], monitor)


def _report(
    tallies: dict[str, _Tally], time_steps: int, batch: int, monitor: SpikeMonitor
) -> CostReport:
    layers = []
    for name, tally in tallies.items():
        rate = tally.nonzero / tally.elements if tally.elements else 0.0
        steps = tally.items // batch
        sops = rate * time_steps * tally.flops if tally.spiking else 0.0
        energy = E_AC_PJ * sops if tally.spiking else E_MAC_PJ * tally.flops * steps
        layers.append(
            LayerCost(name, tally.kind, tally.flops, rate, sops, energy, tally.spiking, steps)
        )
    flops = sum(layer.flops for layer in layers)
    return CostReport(
        layers=layers,
        time_steps=time_steps,
        flops=flops,
        sops=sum(layer.sops for layer in layers),
        energy_snn_pj=sum(layer.energy_pj for layer in layers),
        energy_ann_pj=E_MAC_PJ * flops,
        spike_rate=monitor.rate,
        spikes_per_sample=monitor.spikes_per_sample,
    )

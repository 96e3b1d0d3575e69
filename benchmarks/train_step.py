"""Samples per second of one training step of an STMixer-4-128 network: ours against SpikingJelly.

Run by hand (SpikingJelly is a dev-only peer: `make install-dev` installs it):
    .venv/bin/python benchmarks/train_step.py [--threads 2] [--quick] [--device cpu|cuda]

What it measures: a full training step (forward, cross-entropy of the time-averaged output,
backward, AdamW step) of an STMixer-4-128 (4 encoder blocks of width 128, STM token mixers with
8 heads, mlp ratio 2, T = 4, downsample 2), twice in the same run:
- "ours": the network as spaces.build.build_model makes it, whose neurons run the multi-step op
  that spaces.kernels.choose_kernel picks: on CPU in float32 the C kernel compiled on first use
  (spaces/kernels/native_cpu.py), or, where no C compiler is found or SPIKENAS_NATIVE_CPU=0,
  the fused op of PyTorch operations (spaces/kernels/fused.py);
- "SpikingJelly": a deep copy of the same network (same weights) in which every one of our
  neurons is replaced by SpikingJelly 2.0's `neuron.LIFNode(step_mode='m')` with the same
  settings (decay_input, tau 2, threshold 1, hard reset to 0, Sigmoid(alpha=4) surrogate),
  wrapped so that it is reset with `functional.reset_net` and run on the [T, B, ...] input.
Everything but the neurons (convolutions, batch norms, token matrices, optimizer) is the same
code, so the ratio is what our neurons buy a whole training step, not a neuron alone.

Inputs: the digits training images (8x8), and the same images upsampled to 16x16 (64 tokens
instead of 16), as real data so that spike rates are realistic; with `--shape 3,32,32` random
CIFAR-shaped inputs. The two networks see the same batches in the same order; repetitions are
interleaved (ours, peer, ours, peer, ...) so that a slowdown of the machine hits both alike; the
table reports the median step. "1st ms" is the first step of each network, which carries every
lazy initialisation and warm-up a user pays once per trial; it is not in the median. The parity
check below runs first, so on a cold kernel cache it is that check, not a "1st ms", which pays
for compiling the C kernel (about a second, once per machine: the library is cached on disk).

How to read it: samples/s = batch / median step time; ratio = ours / SpikingJelly samples per
second (above 1 means we are faster; the target on CPU is at least 1.5). Before timing, a parity
check runs both networks on one batch from the same weights and prints how many spikes differ,
the largest logit difference and the largest parameter-gradient difference: with tau = 2 both
compute the same float32 operations, so all three should be 0 (or float rounding).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import count_params
from spaces.neurons import LIF, SpikingNeuron
from workers.data import load_dataset
from workers.dataset_ref import DigitsDataset


def stmixer_4_128(input_shape: tuple[int, ...], num_classes: int, time_steps: int) -> ArchSpec:
    block = {"mixer": {"kind": "stm", "heads": 8}, "mlp_ratio": 2.0}
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": num_classes,
            "time_steps": time_steps,
            "downsample": 2 if len(input_shape) < 3 or input_shape[-1] <= 16 else 4,
            "stages": [{"dim": 128, "blocks": [block] * 4}],
        }
    )


class SpikingJellyNeuron(nn.Module):
    """A SpikingJelly multi-step node standing in for one of our neurons: fresh state per call."""

    def __init__(self, node: nn.Module, reset_net: Callable[[nn.Module], None]) -> None:
        super().__init__()
        self.node = node
        self._reset_net = reset_net

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        self._reset_net(self.node)
        return self.node(x_seq)


def with_spikingjelly_neurons(model: nn.Module) -> nn.Module:
    """A deep copy of `model` with every SpikingNeuron replaced by SpikingJelly's LIFNode."""
    from spikingjelly.activation_based import functional, neuron, surrogate

    peer = copy.deepcopy(model)
    targets = [(n, m) for n, m in peer.named_modules() if isinstance(m, SpikingNeuron)]
    for name, ours in targets:
        if type(ours) is not LIF or ours.surrogate != "sigmoid":
            raise ValueError(f"{name}: only LIF with the sigmoid surrogate has a peer, got {ours}")
        node = neuron.LIFNode(
            tau=float(ours.tau),
            decay_input=ours.decay_input,
            v_threshold=ours.v_threshold,
            v_reset=ours.v_reset,
            surrogate_function=surrogate.Sigmoid(alpha=ours.alpha),
            detach_reset=ours.detach_reset,
            step_mode="m",
        )
        parent_name, _, child = name.rpartition(".")
        parent = peer.get_submodule(parent_name)
        parent._modules[child] = SpikingJellyNeuron(node, functional.reset_net)
    return peer


def _spike_tensors(model: nn.Module, kinds: tuple[type[nn.Module], ...]) -> list[torch.Tensor]:
    """A list that hooks fill with the output of every `kinds` module of `model`, in call order."""
    out: list[torch.Tensor] = []
    for module in model.modules():
        if isinstance(module, kinds):
            module.register_forward_hook(lambda _m, _i, o: out.append(o.detach()))
    return out


def parity(ours: nn.Module, x: torch.Tensor, y: torch.Tensor) -> str:
    """Forward and backward of both networks from the same weights on one batch."""
    ours = copy.deepcopy(ours).train()
    peer = with_spikingjelly_neurons(ours).train()
    ours_spikes = _spike_tensors(ours, (SpikingNeuron,))
    peer_spikes = _spike_tensors(peer, (SpikingJellyNeuron,))
    logits = []
    for model in (ours, peer):
        out = model(x)
        F.cross_entropy(out, y).backward()
        logits.append(out.detach())
    differ = sum(int((a != b).sum()) for a, b in zip(ours_spikes, peer_spikes, strict=True))
    total = sum(a.numel() for a in ours_spikes)
    grads = [
        float((p.grad - q.grad).abs().max())
        for p, q in zip(ours.parameters(), peer.parameters(), strict=True)
        if p.grad is not None and q.grad is not None
    ]
    return (
        f"parity on one batch: {len(ours_spikes)} neuron layers, {differ} of {total} spikes "
        f"differ; max |logit diff| {float((logits[0] - logits[1]).abs().max()):.3g}; "
        f"max |param grad diff| {max(grads):.3g}"
    )


class Stepper:
    """One network, its optimizer, and a timed training step on a given batch."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.model = model.to(device).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.device = device
        self.times: list[float] = []

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        start = time.perf_counter()
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start


def batches(
    shape: tuple[int, ...], batch: int, count: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`count` (x, y) batches: digits images at 8x8 or upsampled to 16x16, else random."""
    generator = torch.Generator().manual_seed(0)
    if shape in ((8, 8), (16, 16)):
        data = load_dataset(DigitsDataset(name="digits"), ".", seed=0)
        x_all, y_all = data.x_train, data.y_train
        if shape == (16, 16):
            x_all = F.interpolate(x_all.unsqueeze(1), scale_factor=2, mode="nearest")[:, 0]
    else:
        x_all = torch.rand(batch * count, *shape, generator=generator)
        y_all = torch.randint(0, 10, (batch * count,), generator=generator)
    out = []
    for _ in range(count):
        index = torch.randint(0, len(y_all), (batch,), generator=generator)
        out.append((x_all[index].to(device), y_all[index].to(device)))
    return out


def run_case(
    shape: tuple[int, ...], batch: int, reps: int, device: torch.device, check: bool
) -> tuple[str, float, str | None]:
    spec = stmixer_4_128(shape, 10, time_steps=4)
    model = build_model(spec, seed=0)
    data = batches(shape, batch, reps + 1, device)
    note = parity(model.to(device), *data[0]) if check else None
    steppers = {
        "ours": Stepper(model, device),
        "sj": Stepper(with_spikingjelly_neurons(model), device),
    }
    first = {name: s.step(*data[0]) for name, s in steppers.items()}
    for x, y in data[1:]:  # interleaved: ours, peer, ours, peer, ...
        for s in steppers.values():
            s.times.append(s.step(x, y))
    rate = {name: batch / statistics.median(s.times) for name, s in steppers.items()}
    tokens = spec.num_tokens
    line = (
        f"{'x'.join(map(str, shape)):>8} {tokens:>6} {batch:>5} {count_params(model):>8} "
        f"{first['ours'] * 1e3:>9.0f} {first['sj'] * 1e3:>9.0f} "
        f"{rate['ours']:>10.1f} {rate['sj']:>10.1f} {rate['ours'] / rate['sj']:>6.2f}"
    )
    return line, rate["ours"] / rate["sj"], note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one shape, few repetitions")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--shape", help="one input shape, e.g. 3,32,32 (random inputs)")
    parser.add_argument("--batch", type=int, help="one batch size (default 32 and 64)")
    parser.add_argument("--reps", type=int, help="timed steps per network")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    shapes: list[tuple[int, ...]] = [(8, 8)] if args.quick else [(8, 8), (16, 16)]
    if args.shape:
        shapes = [tuple(int(s) for s in args.shape.split(","))]
    sizes = [args.batch] if args.batch else ([32] if args.quick else [32, 64])
    reps = args.reps or (5 if args.quick else 30)
    print(
        f"STMixer-4-128-8 (4 STM blocks, dim 128, 8 heads, T=4), AdamW training step; "
        f"device {device}, threads {args.threads}, torch {torch.__version__}, "
        f"median of {reps} interleaved steps"
    )
    header = (
        f"{'input':>8} {'tokens':>6} {'batch':>5} {'params':>8} {'1st ms':>9} "
        f"{'SJ 1st ms':>9} {'ours/s':>10} {'SJ/s':>10} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    ratios, notes = [], []
    for shape in shapes:
        for i, batch in enumerate(sizes):
            line, ratio, note = run_case(shape, batch, reps, device, check=i == 0)
            print(line, flush=True)
            ratios.append(ratio)
            if note:
                notes.append(f"{'x'.join(map(str, shape))}: {note}")
    print(f"median ratio ours/SpikingJelly: {statistics.median(ratios):.2f} (target >= 1.5 on CPU)")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()

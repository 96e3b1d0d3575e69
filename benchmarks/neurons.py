"""Forward+backward time of one multi-step LIF layer: spikenas's paths against SpikingJelly 2.0.

Run by hand (SpikingJelly is a dev-only peer: `make install-dev` installs it):
    .venv/bin/python benchmarks/neurons.py [--threads 2] [--quick]

Same inputs, same run: decay-input LIF, tau 2, threshold 1, hard reset to 0, sigmoid(alpha=4),
for T in {4, 8, 16} and 16K to 4M neurons per step. Prints median milliseconds of each path
(SpikingJelly's torch backend, our step-by-step reference loop, the fused op of PyTorch ops, and
the compiled C kernel that LIF() runs on CPU in float32 where a C compiler is found), the ratios
SpikingJelly / ours (above 1 means we are faster), and the achieved bandwidth of the fused and
native paths against a plain tensor copy of the same bytes. Then peak training memory at T=16 of
the fused and native paths against the step-by-step path, measured with tracemalloc-free
allocator stats (CPU: the bytes of the tensors kept for backward).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from spaces.kernels import native_cpu
from spaces.kernels.fused import fused_multistep
from spaces.kernels.op_context import NeuronConfig
from spaces.neurons import LIF

CFG = NeuronConfig(1.0, 0.0, True, False, "sigmoid", 4.0, False)


def _median_ms(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up, part of nothing we report
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def _fwd_bwd(
    layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, g: torch.Tensor
) -> Callable[[], None]:
    def run() -> None:
        x.grad = None
        layer(x).backward(g)

    return run


def _saved_bytes(layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for backward (what training memory is made of)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x).sum()
    return sum(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repetitions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from spikingjelly.activation_based import functional, neuron, surrogate

    peer = neuron.LIFNode(tau=2.0, surrogate_function=surrogate.Sigmoid(alpha=4.0), step_mode="m")

    def spikingjelly(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(peer)
        return peer(x)

    step_by_step = LIF().step_by_step  # the reference loop: autograd records every step

    def fused(x: torch.Tensor) -> torch.Tensor:
        return fused_multistep(x, 0.5, None, CFG)

    def native(x: torch.Tensor) -> torch.Tensor:
        return native_cpu.native_multistep(x, 0.5, None, CFG)  # what LIF() runs

    if native_cpu.library() is None:  # compiles here, on a cold cache: not in any timing
        print("no native kernel here (no C compiler?): its columns repeat the fused op")

    sizes = [16_384, 262_144, 1_048_576] if args.quick else [16_384, 262_144, 1_048_576, 4_194_304]
    steps = [4, 8] if args.quick else [4, 8, 16]
    print(f"threads={args.threads}, torch {torch.__version__}, float32, fwd+bwd median ms")
    header = (
        f"{'T':>3} {'neurons':>9} {'SJ torch':>9} {'step':>9} {'fused':>9} {'native':>9} "
        f"{'SJ/fused':>8} {'SJ/native':>9} {'step/fused':>10} {'fused GB/s':>10} "
        f"{'native GB/s':>11} {'copy GB/s':>9}"
    )
    print(header)
    print("-" * len(header))
    ratios, native_ratios = [], []
    for t in steps:
        for n in sizes:
            reps = 7 if n <= 1_048_576 else 3
            x = (torch.randn(t, n) * 1.5 + 0.5).requires_grad_()
            g = torch.randn(t, n)
            sj = _median_ms(_fwd_bwd(spikingjelly, x, g), reps)
            step = _median_ms(_fwd_bwd(step_by_step, x, g), reps)
            ours = _median_ms(_fwd_bwd(fused, x, g), reps)
            compiled = _median_ms(_fwd_bwd(native, x, g), reps)
            # Minimum traffic of fwd+bwd: read x, write s and h; read h and g, write grad x.
            moved = 6 * x.numel() * 4
            src = torch.empty(moved // 8)
            copy_ms = _median_ms(lambda: src.clone(), reps)  # noqa: B023
            ratios.append(sj / ours)
            native_ratios.append(sj / compiled)
            print(
                f"{t:>3} {n:>9} {sj:>9.2f} {step:>9.2f} {ours:>9.2f} {compiled:>9.2f} "
                f"{sj / ours:>8.2f} {sj / compiled:>9.2f} {step / ours:>10.2f} "
                f"{moved / ours / 1e6:>10.2f} "
                f"{moved / compiled / 1e6:>11.2f} {2 * src.numel() * 4 / copy_ms / 1e6:>9.2f}",
                flush=True,
            )
    print(
        f"median SpikingJelly/fused ratio: {statistics.median(ratios):.2f}; "
        f"SpikingJelly/native: {statistics.median(native_ratios):.2f}"
    )

    x = (torch.randn(16, 262_144) * 1.5 + 0.5).requires_grad_()
    step_bytes = _saved_bytes(step_by_step, x)
    fused_bytes = _saved_bytes(fused, x)
    native_bytes = _saved_bytes(native, x)
    print(
        f"saved for backward at T=16, 262144 neurons: step-by-step {step_bytes / 2**20:.1f} MiB, "
        f"fused {fused_bytes / 2**20:.1f} MiB ({fused_bytes / step_bytes:.2f}x), "
        f"native {native_bytes / 2**20:.1f} MiB ({native_bytes / step_bytes:.2f}x)"
    )


if __name__ == "__main__":
    main()

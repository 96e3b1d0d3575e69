"""The Triton kernels against the CPU fused op, run in Triton's interpreter (TRITON_INTERPRET=1)
on CPU tensors, so they are checked on machines without a GPU. On a machine with CUDA the same
comparison runs on the GPU as well.

Spikes equal, input gradients and the gradients of PLIF's decay and KLIF's k to float32
rounding, for every surrogate, reset, detach_reset, convention and neuron, with a neuron count
that leaves the last block partial.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton", reason="Triton is not installed")

CHECK = textwrap.dedent(
    """
    import itertools, sys, torch
    from spaces.kernels.fused import fused_multistep
    from spaces.kernels.op_context import NeuronConfig
    import spaces.kernels.triton_neuron as tn
    from spaces.space import DEFAULT_ALPHA

    device = sys.argv[1]
    tn.BLOCK = 128  # three blocks over 300 neurons, the last one partial
    bad = []
    # Every reset, detach, convention and neuron with one surrogate, and every surrogate with
    # the non-default reset (the interpreter runs each case in numpy, so not all products).
    cases = list(itertools.product(
        ["sigmoid"], [0.0, -0.3, None], [False, True], [True, False], ["lif", "plif", "klif"]
    ))
    cases += itertools.product(sorted(tn.SURROGATE_IDS), [-0.3], [False], [True], ["plif", "klif"])
    for surrogate, v_reset, detach, decay_input, kind in cases:
        cfg = NeuronConfig(0.8, v_reset, decay_input, detach, surrogate,
                           DEFAULT_ALPHA[surrogate], kind == "klif")
        gen = torch.Generator().manual_seed(len(bad) + 7)
        x = (torch.rand(6, 300, generator=gen) * 3 - 0.7).to(device)
        g = torch.randn(6, 300, generator=gen).to(device)
        results = []
        for op in (fused_multistep, tn.triton_multistep):
            leaf = x.clone().requires_grad_()
            decay = (torch.tensor(0.37, device=device).requires_grad_() if kind == "plif"
                     else 0.4)
            k = torch.tensor(1.3, device=device).requires_grad_() if kind == "klif" else None
            out = op(leaf, decay, k, cfg)
            inputs = [leaf] + [t for t in (decay, k) if isinstance(t, torch.Tensor)]
            grads = torch.autograd.grad(out, inputs, g)
            results.append((out.detach(), [gr.detach() for gr in grads]))
        (s0, g0), (s1, g1) = results
        name = f"{surrogate}-{v_reset}-{detach}-{decay_input}-{kind}"
        if not torch.equal(s0, s1):
            bad.append(name + ": spikes differ")
            continue
        for a, b in zip(g0, g1):
            if not torch.allclose(a, b, rtol=1e-4, atol=1e-5):
                bad.append(f"{name}: grad differs by {float((a - b).abs().max())}")
    print("\\n".join(bad) if bad else "all equal")
    sys.exit(1 if bad else 0)
    """
)


def _run(device: str, interpret: bool) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    return subprocess.run(
        [sys.executable, "-c", CHECK, device],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_triton_kernels_equal_the_fused_op_in_the_interpreter() -> None:
    run = _run("cpu", interpret=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.strip() == "all equal"


def test_triton_kernels_equal_the_fused_op_on_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: none is present")
    run = _run("cuda", interpret=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

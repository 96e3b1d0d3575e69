"""The compiled CPU kernel (spaces/kernels/native_cpu.py, lif_cpu.c) against the fused op and the
step-by-step reference loop, and its fallback to the fused op.

For every neuron, surrogate, reset (hard to 0, hard to another value, soft), detach_reset and
LIF convention: spikes identical bit for bit to both; input gradients and the gradients of PLIF's
decay and KLIF's k equal to the fused op's and to autograd's through the reference loop up to
float32 rounding (the kernel is float32 only, so no float64 finite differences: the float64
reference in test_kernels.py anchors the fused op, and this file anchors the kernel to both).
Also: potentials identical to the fused op's for decays on both sides of torch's lerp switch
(0.5), which the spikes alone would rarely show; several blocks and threads; strided inputs;
inference; the memory kept for backward; the choice of kernel; and the fallback where no
compiler works, including two processes building the library at once.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

import spaces.kernels as kernels
from spaces.kernels import native_build, native_cpu
from spaces.kernels.fused import fused_multistep
from spaces.kernels.op_context import NeuronConfig
from spaces.neurons import LIF, SpikingNeuron
from spaces.surrogates import SURROGATE_GRADS
from tests.spaces.compiler import NO_COMPILER
from tests.spaces.neuron_cases import CASES, make_neuron

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def native() -> None:
    """The compiled library. Only a machine with no C compiler skips; where there is one, a
    build that fails fails these tests, with the compiler's message."""
    if native_build.compiler() is None:
        pytest.skip(NO_COMPILER)
    native_build.build(native_cpu.SOURCE)  # raises with the compiler's output
    assert native_cpu.library() is not None


@pytest.fixture
def fresh_library() -> Any:
    """library() tried again in this test, and again after it (its answer is cached)."""
    native_cpu.library.cache_clear()
    yield
    native_cpu.library.cache_clear()


def _config(neuron: SpikingNeuron) -> NeuronConfig:
    return NeuronConfig(
        neuron.v_threshold,
        neuron.v_reset,
        neuron.decay_input,
        neuron.detach_reset,
        neuron.surrogate,
        neuron.alpha,
        neuron.slope() is not None,
    )


def _run(
    neuron: SpikingNeuron, x: torch.Tensor, upstream: torch.Tensor, path: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Spikes and the gradients of (x, parameters...) through one path."""
    leaf = x.clone().requires_grad_()
    params = list(neuron.parameters())
    if path == "reference":
        out = neuron.step_by_step(leaf)
    else:
        op = native_cpu.native_multistep if path == "native" else fused_multistep
        out = op(leaf, neuron.decay(), neuron.slope(), _config(neuron))
    grads = torch.autograd.grad(out, [leaf, *params], upstream, allow_unused=True)
    return out.detach(), [g if g is not None else torch.zeros(()) for g in grads]


def _inputs(t: int = 7, shape: tuple[int, ...] = (3, 50), seed: int = 0) -> tuple[Any, Any]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(t, *shape, generator=gen) * 3.0 - 0.7
    return x, torch.randn(t, *shape, generator=gen)


def _assert_close(grads: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    torch.testing.assert_close(grads[0], expected[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(grads[1:], expected[1:], strict=True):  # sums over every neuron
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_covers_every_surrogate() -> None:
    assert set(native_cpu.SURROGATE_IDS) == set(SURROGATE_GRADS)


@pytest.mark.usefixtures("native")
@pytest.mark.parametrize(
    ("kind", "surrogate", "reset", "detach", "decay_input"),
    CASES,
    ids=["-".join(map(str, c)) for c in CASES],
)
def test_native_equals_fused_and_reference(
    kind: str, surrogate: str, reset: str, detach: bool, decay_input: bool
) -> None:
    neuron = make_neuron(kind, surrogate, reset, detach, decay_input)
    x, upstream = _inputs()
    s_ref, g_ref = _run(neuron, x, upstream, "reference")
    s_fused, g_fused = _run(neuron, x, upstream, "fused")
    s_native, g_native = _run(neuron, x, upstream, "native")
    rate = float(s_ref.mean())
    assert 0.05 < rate < 0.95, f"the input does not exercise firing and reset (rate {rate})"
    assert torch.equal(s_native, s_ref)
    assert torch.equal(s_native, s_fused)
    assert float(g_ref[0].abs().max()) > 0
    _assert_close(g_native, g_fused)
    _assert_close(g_native, g_ref)
    if kind in ("plif", "klif"):
        assert float(g_native[1].abs()) > 0, "the learnable parameter gets no gradient"


def _potentials(path: str, neuron: SpikingNeuron, x: torch.Tensor) -> torch.Tensor:
    """The pre-reset potentials H that the op keeps for backward."""
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    op = native_cpu.native_multistep if path == "native" else fused_multistep
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        op(x.clone().requires_grad_(), neuron.decay(), neuron.slope(), _config(neuron))
    (h,) = [t for t in saved if t.numel() == x.numel()]
    return h


@pytest.mark.usefixtures("native")
@pytest.mark.parametrize("tau", [1.25, 1.5, 2.0, 2.5, 3.0, 7.0])
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("reset", ["hard-0.3", "soft"])
def test_potentials_identical_on_both_sides_of_lerps_switch(
    tau: float, decay_input: bool, reset: str
) -> None:
    """torch's lerp computes fma(w, end - start, start) for w < 0.5 and
    fma(w - 1, end - start, end) otherwise; the kernel's charge must round exactly alike, which
    the potentials show (a spike flips only where H is within rounding of the threshold)."""
    x, upstream = _inputs(t=32, shape=(4000,), seed=5)
    for kind in ("lif", "plif"):
        neuron = make_neuron(kind, "sigmoid", reset, False, decay_input, tau=tau)
        assert torch.equal(_potentials("native", neuron, x), _potentials("fused", neuron, x))
        s_ref, g_ref = _run(neuron, x, upstream, "reference")
        s_native, g_native = _run(neuron, x, upstream, "native")
        assert torch.equal(s_native, s_ref)
        _assert_close(g_native, g_ref)


@pytest.mark.usefixtures("native")
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_several_blocks_and_threads(threads: int) -> None:
    """2500 neurons: three blocks of the kernel's 1024 columns, the last one partial."""
    neuron = make_neuron("klif", "atan", "hard-0.3", False, True)
    x, upstream = _inputs(t=5, shape=(2500,), seed=2)
    s_fused, g_fused = _run(neuron, x, upstream, "fused")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        s_native, g_native = _run(neuron, x, upstream, "native")
    finally:
        torch.set_num_threads(before)
    assert torch.equal(s_native, s_fused)
    _assert_close(g_native, g_fused)


@pytest.mark.usefixtures("native")
def test_strided_inputs_through_themake_neuron() -> None:
    """A channels-last image and a transposed view reach the kernel as stored or through a copy;
    either way the spikes and gradients are the reference's, in the input's layout."""
    neuron = make_neuron("plif", "sigmoid", "hard0", False, True)
    assert kernels.choose_kernel(torch.zeros(1)) is native_cpu.native_multistep
    image = (torch.rand(4, 2, 3, 5, 6) * 3 - 0.7).contiguous(memory_format=torch.channels_last_3d)
    for x in (image, torch.rand(4, 30, 20).transpose(1, 2) * 3 - 0.7):
        upstream = torch.randn_like(x)
        leaf = x.clone().requires_grad_()
        out = neuron(leaf)
        grads = torch.autograd.grad(out, [leaf, neuron.w], upstream)
        s_ref, g_ref = _run(neuron, x, upstream, "reference")
        assert torch.equal(out, s_ref)
        _assert_close(list(grads), g_ref)


@pytest.mark.usefixtures("native")
def test_inference_without_grad_equals_reference() -> None:
    neuron = make_neuron("klif", "erf", "soft", False, False)
    x, _ = _inputs(t=9, seed=4)
    with torch.no_grad():
        assert torch.equal(neuron(x), neuron.step_by_step(x))


@pytest.mark.usefixtures("native")
def test_saves_only_potentials() -> None:
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    x = torch.rand(16, 4, 32, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        native_cpu.native_multistep(x, 0.5, None, _config(LIF()))
    big = [t for t in saved if t.numel() > 1]
    assert len(big) == 1 and big[0].dtype == torch.float32 and big[0].numel() == x.numel()


@pytest.mark.usefixtures("native")
def test_choose_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.zeros(2, 3)
    assert kernels.choose_kernel(x) is native_cpu.native_multistep
    assert kernels.choose_kernel(x.double()) is fused_multistep
    assert kernels.choose_kernel(x.bfloat16()) is fused_multistep
    monkeypatch.setenv("SPIKENAS_NATIVE_CPU", "0")
    assert kernels.choose_kernel(x) is fused_multistep


@pytest.mark.usefixtures("native")
def test_unknown_surrogate_and_other_dtypes_take_the_fused_op(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    called: list[str] = []
    monkeypatch.setattr(native_cpu, "fused_multistep", lambda *a: called.append("fused"))
    cfg = _config(LIF())
    native_cpu.native_multistep(torch.rand(3, 4).double(), 0.5, None, cfg)
    native_cpu.native_multistep(torch.rand(3, 4), 0.5, None, cfg._replace(surrogate="new"))
    assert called == ["fused", "fused"]


@pytest.mark.usefixtures("fresh_library")
@pytest.mark.parametrize("compiler", ["/nonexistent/cc", "false"])
def test_falls_back_to_the_fused_op_where_no_compiler_works(
    compiler: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No compiler on PATH, or one that fails: no error, one debug line, the fused op's
    results. `false` fails as any broken compiler would."""
    monkeypatch.setenv("SPIKENAS_CC", compiler)
    monkeypatch.setenv("SPIKENAS_KERNEL_CACHE", str(tmp_path / "cache"))
    neuron = make_neuron("plif", "dspike", "soft", True, True)
    x, upstream = _inputs(seed=3)
    with caplog.at_level(logging.DEBUG, logger=native_build.__name__):
        assert native_cpu.library() is None
        assert kernels.choose_kernel(x) is fused_multistep
        s_native, g_native = _run(neuron, x, upstream, "native")
    s_fused, g_fused = _run(neuron, x, upstream, "fused")
    assert torch.equal(s_native, s_fused)
    for got, want in zip(g_native, g_fused, strict=True):
        assert torch.equal(got, want)
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert not list((tmp_path / "cache").glob("*.so"))


BUILD_AND_RUN = textwrap.dedent(
    """
    import torch
    from spaces.kernels import native_cpu
    from spaces.kernels.fused import fused_multistep
    from spaces.kernels.op_context import NeuronConfig
    lib = native_cpu.library()
    assert lib is not None, "no library"
    cfg = NeuronConfig(1.0, 0.0, True, False, "sigmoid", 4.0, False)
    x = torch.rand(4, 3000) * 3 - 0.7
    assert torch.equal(native_cpu.native_multistep(x, 0.5, None, cfg),
                       fused_multistep(x, 0.5, None, cfg))
    print(lib._name)
    """
)


@pytest.mark.usefixtures("native")
def test_two_processes_building_at_once(tmp_path: Path) -> None:
    """Ray workers of a new node start together on an empty cache: each may compile, every one
    loads a whole library, and the cache ends with one file and no scratch directories."""
    env = {**os.environ, "SPIKENAS_KERNEL_CACHE": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("SPIKENAS_CC", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_AND_RUN],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    assert {out.strip() for out, _ in outputs} == {str(p) for p in tmp_path.glob("*.so")}
    assert [p.name for p in tmp_path.iterdir()] == [next(tmp_path.glob("*.so")).name]

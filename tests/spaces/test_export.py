"""Export: a generated module rebuilds the network with torch alone, bit for bit.

Fifty specs drawn from a small space (every built mixer, neuron and surrogate; 2-D images and 1-D
sequences; one or two stages) plus a few hand-made neuron variants are exported, and ONE isolated
subprocess (`python -I`, with spaces/workers/search/service made unimportable) loads each module
with the built model's weights and compares its eval outputs with torch.equal. Specs with the
`events` and `rate` encodings ride along in the same process: event frames (B, T, C, H, W) as
input, and for rate (stochastic in eval) both sides run after the same torch.manual_seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from spaces.arch import ArchSpec, Encoding
from spaces.build import build_model
from spaces.encoding import ENCODINGS
from spaces.export.module import generate_module
from spaces.mixers import MIXERS
from spaces.neurons import NEURONS
from spaces.space import RandomSuggester, SearchSpace, SpaceConstraints
from spaces.surrogates import SURROGATE_GRADS

PROJECT_PACKAGES = ("spaces", "workers", "search", "service")


def _small_space(
    input_shape: tuple[int, ...],
    max_stages: int,
    encoding: Encoding = "direct",
    frames: int | None = None,
) -> SearchSpace:
    constraints = SpaceConstraints(
        mixers=("stm", "ssa", "sdsa", "conv", "pool", "identity"),
        dims=(8, 16),
        min_depth=1,
        max_depth=2,
        max_stages=max_stages,
        mlp_ratios=(1.0, 2.0),
        heads=(1, 2, 4),
        kernels=(3, 5, 7),
        neurons=("lif", "plif", "klif"),
        surrogates=tuple(sorted(SURROGATE_GRADS)),
        time_steps=(1, 2, 3),
        downsample=(1, 2, 4),
        max_tokens=64,
    )
    return SearchSpace(constraints, input_shape, 4, encoding=encoding, frames=frames)


def _with_neuron(spec: ArchSpec, **neuron: Any) -> ArchSpec:
    data = spec.model_dump(mode="json")
    data["neuron"] = {**data["neuron"], **neuron}
    return ArchSpec.model_validate(data)


def _specs() -> list[ArchSpec]:
    specs = []
    for seed in range(40):
        specs.append(_small_space((8, 8), 1 + seed % 2).sample(RandomSuggester(seed)))
    for seed in range(6):
        specs.append(_small_space((16,), 1 + seed % 2).sample(RandomSuggester(100 + seed)))
    # Neuron options the space does not sample, but a spec may carry.
    specs.append(_with_neuron(specs[0], v_reset=None))
    specs.append(_with_neuron(specs[1], decay_input=False, tau=4.0))
    specs.append(_with_neuron(specs[2], detach_reset=True, v_reset=-0.25, v_threshold=0.8))
    specs.append(_with_neuron(specs[40], kind="klif", v_reset=None, surrogate="rect", alpha=1.0))
    return specs


SPECS = _specs()


def _encoded_specs() -> list[ArchSpec]:
    """Event and rate specs: images and sequences, T_data = T and T_data = 2T for events."""
    specs = []
    for seed in range(6):
        shape = ((2, 8, 8), (8, 8), (16,))[seed % 3]
        specs.append(_small_space(shape, 1 + seed % 2, "events", 6).sample(RandomSuggester(seed)))
        specs.append(_small_space(shape, 1 + seed % 2, "rate").sample(RandomSuggester(50 + seed)))
    return specs


ENCODED_SPECS = _encoded_specs()


def _module_input_shape(spec: ArchSpec) -> list[int]:
    """What INPUT_SHAPE must say: one sample, T = TIME_STEPS frames of them for events."""
    frames = [spec.time_steps] if spec.encoding == "events" else []
    return [*frames, *spec.input_shape]


def _encoded_input(spec: ArchSpec, gen: torch.Generator, batch: int) -> torch.Tensor:
    """Static samples in [0, 2) (in [0, 1] for rate), or 6 frames of event counts 0..2."""
    if spec.encoding == "events":
        return torch.randint(0, 3, (batch, 6, *spec.input_shape), generator=gen).float()
    scale = 1.0 if spec.encoding == "rate" else 2.0
    return torch.rand(batch, *spec.input_shape, generator=gen) * scale


CHILD = textwrap.dedent(
    """
    import importlib, json, sys
    for name in {packages!r}:
        sys.modules[name] = None  # the exported module must not need the project
    import torch
    root = sys.argv[1]
    sys.path.insert(0, root)
    for name in {packages!r}:
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            raise SystemExit(f"{{name}} is importable in the isolated process")
    report = []
    for case in json.load(open(root + "/cases.json")):
        module = importlib.import_module(case["module"])
        model = module.build_model()
        state = torch.load(root + "/" + case["weights"], weights_only=True)
        model.load_state_dict(state, strict=True)
        model.eval()
        x = torch.load(root + "/" + case["input"], weights_only=True)
        expected = torch.load(root + "/" + case["output"], weights_only=True)
        if case["seed"] is not None:
            torch.manual_seed(case["seed"])  # the rate encoding draws its spikes
        with torch.no_grad():
            out = model(x)
        report.append({{
            "module": case["module"],
            "equal": bool(torch.equal(out, expected)),
            "max_diff": float((out - expected).abs().max()),
            "arch": module.ARCH == case["arch"],
            "input_shape": module.INPUT_SHAPE == tuple(case["input_shape"]),
            "frame_shape": module.FRAME_SHAPE == tuple(case["arch"]["input_shape"]),
            "encoding": module.ENCODING == case["arch"]["encoding"],
            "num_classes": module.NUM_CLASSES == case["arch"]["num_classes"],
            "time_steps": module.TIME_STEPS == case["arch"]["time_steps"],
            "torch_only": not any(
                m.split(".")[0] in {packages!r} for m in sys.modules if sys.modules[m]
            ),
        }})
    print(json.dumps(report))
    """
)


def _trained_state(
    spec: ArchSpec, seed: int, x: torch.Tensor, batch_stats: bool = False
) -> torch.nn.Module:
    """The built model after some stand-in training: perturbed weights, one train-mode forward
    (with `batch_stats`, batch norms keep that batch's statistics, so that neurons fire)."""
    model = build_model(spec, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    if batch_stats:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = None
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
        model.train()
        model(x)
    model.eval()
    return model


def test_exported_modules_match_built_models(tmp_path: Path) -> None:
    assert len(SPECS) == 50
    kinds = {b.mixer.kind for s in SPECS for st in s.stages for b in st.blocks}
    assert kinds == set(MIXERS), "the sample does not cover every mixer"
    assert {s.neuron.kind for s in SPECS} == set(NEURONS)
    assert {s.neuron.surrogate for s in SPECS} == set(SURROGATE_GRADS)
    assert {len(s.stages) for s in SPECS} == {1, 2}

    assert {s.encoding for s in ENCODED_SPECS} == {"events", "rate"}

    cases = []
    other_draws = []
    everything = SPECS + ENCODED_SPECS
    for i, spec in enumerate(everything):
        gen = torch.Generator().manual_seed(1000 + i)
        if spec.encoding == "direct":
            x_train = torch.rand(6, *spec.input_shape, generator=gen) * 2
            x = torch.rand(3, *spec.input_shape, generator=gen) * 2
        else:
            x_train, x = _encoded_input(spec, gen, 6), _encoded_input(spec, gen, 3)
        seed = 2000 + i if spec.encoding == "rate" else None
        with torch.random.fork_rng(devices=[]):
            model = _trained_state(spec, i, x_train, batch_stats=spec.encoding != "direct")
            running = [
                b.running_mean for b in model.modules() if isinstance(b, torch.nn.BatchNorm1d)
            ]
            assert any(r.abs().sum() > 0 for r in running), "BN running stats were not updated"
            if seed is not None:
                torch.manual_seed(seed)
            with torch.no_grad():
                out = model(x)
                if seed is not None:
                    other_draws.append(not torch.equal(out, model(x)))
        assert out.shape == (3, spec.num_classes)
        (tmp_path / f"exported_{i}.py").write_text(generate_module(spec))
        torch.save(model.state_dict(), tmp_path / f"w{i}.pt")
        torch.save(x, tmp_path / f"x{i}.pt")
        torch.save(out, tmp_path / f"y{i}.pt")
        cases.append(
            {
                "module": f"exported_{i}",
                "weights": f"w{i}.pt",
                "input": f"x{i}.pt",
                "output": f"y{i}.pt",
                "arch": spec.model_dump(mode="json"),
                "seed": seed,
                "input_shape": _module_input_shape(spec),
            }
        )
    # The seed matters: rate outputs are not the same whatever the draws.
    assert sum(other_draws) >= len(other_draws) // 2, other_draws
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    script = tmp_path / "check.py"
    script.write_text(CHILD.format(packages=PROJECT_PACKAGES))

    proc = subprocess.run(
        [sys.executable, "-I", str(script), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report) == len(everything)
    bad = [r for r in report if not all(v for k, v in r.items() if k not in ("module", "max_diff"))]
    details = [(r, everything[int(r["module"].split("_")[1])].model_dump_json()) for r in bad]
    assert not bad, f"{len(bad)} exported modules differ from the built model: {details[:3]}"


@pytest.mark.parametrize("index", range(0, len(SPECS), 7))
def test_module_holds_only_what_the_spec_uses(index: int) -> None:
    spec = SPECS[index]
    source = generate_module(spec)
    compile(source, f"exported_{index}.py", "exec")
    used = {b.mixer.kind for s in spec.stages for b in s.blocks}
    for kind, cls in MIXERS.items():
        assert (f"class {cls.__name__}(" in source) == (kind in used), kind
    assert ("class _QKV(" in source) == bool(used & {"ssa", "sdsa"})
    assert ("class StageTransition(" in source) == (len(spec.stages) > 1)
    for name, fn in SURROGATE_GRADS.items():
        assert (f"def {fn.__name__}(" in source) == (name == spec.neuron.surrogate)
    for line in ("ARCH: dict[str, Any] = ", "INPUT_SHAPE", "NUM_CLASSES", "TIME_STEPS"):
        assert line in source
    assert "def build_model(" in source
    for package in PROJECT_PACKAGES:
        assert f"from {package}" not in source and f"import {package}" not in source


def test_pool_only_module() -> None:
    spec = ArchSpec.model_validate(
        {
            "input_shape": (8, 8),
            "num_classes": 3,
            "downsample": 2,
            "stages": [{"dim": 8, "blocks": [{"mixer": {"kind": "pool", "kernel": 5}}]}],
        }
    )
    source = generate_module(spec)
    assert "class PoolMixer(" in source
    for absent in ("class STMMixer", "class SSAMixer", "class SDSAMixer", "class ConvMixer"):
        assert absent not in source
    assert 'MIXERS = {"pool": PoolMixer}' in source
    assert 'NEURONS = {"lif": LIF}' in source
    assert 'SURROGATE_GRADS = {"sigmoid": sigmoid_grad}' in source
    namespace: dict[str, Any] = {"__name__": "exported_pool"}
    exec(compile(source, "exported_pool.py", "exec"), namespace)
    assert namespace["ARCH"] == spec.model_dump(mode="json")
    assert namespace["INPUT_SHAPE"] == (8, 8)
    assert namespace["NUM_CLASSES"] == 3
    assert namespace["TIME_STEPS"] == spec.time_steps
    built = build_model(spec, seed=0)
    exported = namespace["build_model"]()
    assert list(exported.state_dict()) == list(built.state_dict())


@pytest.mark.parametrize("encoding", ["direct", "rate", "events"])
def test_module_carries_its_encoding_and_says_what_input_it_expects(encoding: str) -> None:
    spec = ArchSpec.model_validate(
        {
            "input_shape": (2, 8, 8),
            "num_classes": 3,
            "time_steps": 3,
            "encoding": encoding,
            "downsample": 2,
            "stages": [{"dim": 8, "blocks": [{"mixer": {"kind": "conv"}}]}],
        }
    )
    source = generate_module(spec)
    for name, cls in ENCODINGS.items():
        assert (f"class {cls.__name__}(" in source) == (name == encoding), name
    assert f'ENCODINGS = {{"{encoding}": {ENCODINGS[encoding].__name__}}}' in source
    namespace: dict[str, Any] = {"__name__": f"exported_{encoding}"}
    exec(compile(source, f"exported_{encoding}.py", "exec"), namespace)
    doc = namespace["__doc__"]
    assert f"Input (encoding '{encoding}')" in doc
    assert namespace["ENCODING"] == encoding
    assert namespace["FRAME_SHAPE"] == (2, 8, 8)
    expected = (3, 2, 8, 8) if encoding == "events" else (2, 8, 8)
    assert namespace["INPUT_SHAPE"] == expected
    if encoding == "events":
        assert "x: (batch, T, *FRAME_SHAPE) with T a multiple of TIME_STEPS" in doc
    if encoding == "rate":
        assert "[0, 1]" in doc and "torch.manual_seed" in doc
    model = namespace["build_model"]().eval()
    with torch.no_grad():
        assert model(torch.rand(2, *namespace["INPUT_SHAPE"])).shape == (2, 3)

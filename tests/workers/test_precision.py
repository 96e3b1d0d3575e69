"""Precision and memory layout: what each budget choice resolves to, bf16 autocast training on
a CPU, and (with a GPU) bf16/fp16 with channels_last on CUDA."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import workers.train as train_module
from spaces.arch import ArchSpec
from spaces.build import build_model
from workers.budget import Budget, PrecisionKind
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset
from workers.precision import resolve_precision, use_channels_last

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU: none is present"
)


def _spec(input_shape: tuple[int, ...] = (8, 8)) -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": 10,
            "time_steps": 2,
            "downsample": 2,
            "stages": [
                {
                    "dim": 16,
                    "blocks": [
                        {"mixer": {"kind": "stm", "heads": 2}},
                        {"mixer": {"kind": "conv"}},
                    ],
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    digits = load_dataset(DigitsDataset(name="digits"), tmp_path_factory.mktemp("data"), seed=0)
    return Splits(
        name="digits-256",
        x_train=digits.x_train[:256],
        y_train=digits.y_train[:256],
        x_val=digits.x_val[:64],
        y_val=digits.y_val[:64],
        x_test=digits.x_test[:64],
        y_test=digits.y_test[:64],
        num_classes=10,
    )


@pytest.mark.parametrize(
    ("kind", "dtype", "scales"),
    [
        ("auto", None, False),  # fp32 on a CPU: the default changes nothing there
        ("fp32", None, False),
        ("bf16", torch.bfloat16, False),
        ("fp16", torch.float16, True),
    ],
)
def test_precision_on_a_cpu(kind: PrecisionKind, dtype: torch.dtype | None, scales: bool) -> None:
    precision = resolve_precision(kind, "cpu")
    assert precision.device_type == "cpu" and precision.dtype == dtype
    assert precision.scales_loss is scales
    assert precision.grad_scaler().is_enabled() is scales


def _autocast_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, torch.dtype]]:
    seen: list[tuple[bool, torch.dtype]] = []
    real = train_module.batch_loss

    def loss(model: Any, surrogates: Any, x: torch.Tensor, y: torch.Tensor, budget: Any) -> Any:
        device = x.device.type
        seen.append((torch.is_autocast_enabled(device), torch.get_autocast_dtype(device)))
        return real(model, surrogates, x, y, budget)

    monkeypatch.setattr(train_module, "batch_loss", loss)
    return seen


def test_the_default_trains_in_fp32_on_a_cpu(
    small: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _autocast_spy(monkeypatch)
    train_module.train_and_evaluate(_spec(), small, Budget(epochs=1, batch_size=64), seed=0)
    assert seen and not any(enabled for enabled, _ in seen)


@pytest.mark.parametrize("kind", ["bf16", "fp16"])
def test_autocast_trains_on_a_cpu_without_nan(
    small: Splits, monkeypatch: pytest.MonkeyPatch, kind: PrecisionKind
) -> None:
    seen = _autocast_spy(monkeypatch)
    budget = Budget(epochs=2, batch_size=64, precision=kind, loss="sml")
    result = train_module.train_and_evaluate(_spec(), small, budget, seed=0)
    dtype = torch.bfloat16 if kind == "bf16" else torch.float16
    assert seen and all(s == (True, dtype) for s in seen)
    for m in result.curve:
        assert torch.isfinite(torch.tensor(m.train_loss)) and 0.0 <= m.accuracy <= 1.0
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    # Parameters stay fp32 (autocast casts per op), finite, and moved from their start.
    start = build_model(_spec(), seed=0).state_dict()
    trained = result.model.state_dict()
    for key, value in trained.items():
        assert value.dtype == start[key].dtype and torch.isfinite(value.float()).all(), key
    assert any(not torch.equal(trained[k], start[k]) for k in start)


def test_channels_last_only_on_cuda(small: Splits) -> None:
    model = build_model(_spec(), seed=0)
    assert use_channels_last(model, small, "cpu") is small


@needs_cuda
@pytest.mark.parametrize("kind", ["auto", "bf16", "fp16"])
def test_cuda_trains_with_autocast_and_channels_last(
    small: Splits, monkeypatch: pytest.MonkeyPatch, kind: PrecisionKind
) -> None:
    images = Splits(
        name="digits-nchw",
        **{k: getattr(small, k).unsqueeze(1) for k in ("x_train", "x_val", "x_test")},
        **{k: getattr(small, k) for k in ("y_train", "y_val", "y_test")},
        num_classes=10,
    )
    spec = _spec((1, 8, 8))
    moved = use_channels_last(build_model(spec, seed=0).cuda(), images.to("cuda"), "cuda")
    assert moved.x_train.is_contiguous(memory_format=torch.channels_last)
    seen = _autocast_spy(monkeypatch)
    budget = Budget(epochs=3, batch_size=64, precision=kind)
    result = train_module.train_and_evaluate(spec, images, budget, seed=0, device="cuda")
    expected = torch.float16 if kind == "fp16" else torch.bfloat16
    if kind == "auto" and not torch.cuda.is_bf16_supported():
        assert not any(enabled for enabled, _ in seen)
    else:
        assert seen and all(s == (True, expected) for s in seen)
    assert all(torch.isfinite(torch.tensor(m.train_loss)) for m in result.curve)
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    for value in result.model.state_dict().values():
        assert torch.isfinite(value.float()).all()
    # The network is usable as an exported one: fp32 weights, any memory layout.
    cpu = build_model(spec, seed=0)
    cpu.load_state_dict({k: v.cpu() for k, v in result.model.state_dict().items()})
    assert cpu.eval()(images.x_val[:4]).shape == (4, 10)

"""Training with the `events` and `rate` encodings, end to end from an npz file written here:
load_dataset -> train_and_evaluate -> accuracy, costs and a model that reads the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spaces.arch import ArchSpec
from spaces.energy import E_MAC_PJ
from workers.budget import Budget
from workers.data import load_dataset
from workers.dataset_ref import NpzDataset
from workers.encoding_fit import check_encoding
from workers.train import EpochMetrics, train_and_evaluate

BUDGET = Budget(epochs=2, batch_size=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _write_events(path: Path, frames: int = 4) -> None:
    """Two classes of event streams on a 2-polarity 8x8 sensor: events on the left half or on
    the right half, as counts 0..2 per frame."""
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 2
        x = rng.integers(0, 2, (n, frames, 2, 8, 8)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, :, :, :, 4 * label : 4 * label + 4] += rng.integers(
                0, 2, (frames, 2, 8, 4), dtype=np.uint8
            )
        return x, y

    x_train, y_train = split(40)
    x_test, y_test = split(12)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


def _spec(encoding: str, input_shape: tuple[int, ...], time_steps: int = 2) -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": 2,
            "time_steps": time_steps,
            "encoding": encoding,
            "downsample": 2,
            "stages": [{"dim": 8, "blocks": [{"mixer": {"kind": "conv"}, "mlp_ratio": 1.0}]}],
        }
    )


def _check_curve(curve: list[EpochMetrics]) -> None:
    assert [m.epoch for m in curve] == [1, 2]
    for m in curve:
        assert 0.0 <= m.accuracy <= 1.0
        assert np.isfinite(m.train_loss) and m.params > 0
        assert m.energy > 0 and m.flops > 0
    assert curve[-1].final and curve[-1].test_accuracy is not None
    assert 0.0 <= curve[-1].test_accuracy <= 1.0


@pytest.mark.parametrize("frames", [2, 4], ids=lambda f: f"{f}-frames")
def test_trains_on_event_frames_from_an_npz(tmp_path: Path, frames: int) -> None:
    """T = 2 steps from 2 frames (one each) or from 4 (summed in pairs)."""
    _write_events(tmp_path / "dvs.npz", frames)
    data = load_dataset(NpzDataset(name="npz", path="dvs.npz"), tmp_path, seed=0)
    assert data.frames == frames and data.input_shape == (2, 8, 8)
    spec = _spec("events", data.input_shape)
    check_encoding(data, spec.encoding)
    seen: list[EpochMetrics] = []
    result = train_and_evaluate(spec, data, BUDGET, seed=0, on_epoch=lambda m, _: seen.append(m))
    _check_curve(result.curve)
    assert seen == result.curve
    # The stem runs at every step on real-valued frames: at least its T steps of MACs.
    stem_macs = 9 * 64 * 2 * 1 * spec.time_steps  # 8x8 grid, 2 -> 1 channels (D/8), 3x3
    assert result.last.energy > E_MAC_PJ * stem_macs
    with torch.no_grad():
        assert result.model(data.x_test).shape == (12, 2)


def test_trains_with_rate_coding_from_an_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y_train, y_test = np.arange(40) % 2, np.arange(12) % 2
    # Brightness tells the classes apart: rate coding keeps it as a spike rate.
    x_train = rng.random((40, 8, 8)) * 0.5 + 0.5 * y_train[:, None, None]
    x_test = rng.random((12, 8, 8)) * 0.5 + 0.5 * y_test[:, None, None]
    np.savez(tmp_path / "grey.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = load_dataset(NpzDataset(name="npz", path="grey.npz"), tmp_path, seed=0)
    spec = _spec("rate", data.input_shape)
    check_encoding(data, spec.encoding)
    first = train_and_evaluate(spec, data, BUDGET, seed=3)
    _check_curve(first.curve)
    # Deterministic given the seed, although every forward pass draws spikes.
    again = train_and_evaluate(spec, data, BUDGET, seed=3)
    assert [m.train_loss for m in again.curve] == [m.train_loss for m in first.curve]
    assert [m.accuracy for m in again.curve] == [m.accuracy for m in first.curve]

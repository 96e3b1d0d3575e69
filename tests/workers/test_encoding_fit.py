"""Which data sets feed which input encoding: mismatches are refused before training, naming
`encoding` (or `time_steps`) and the data set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spaces.errors import DataError
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset, NpzDataset
from workers.encoding_fit import check_encoding, check_frames


def _npz(tmp_path: Path, name: str, sample: tuple[int, ...], scale: float = 1.0) -> Splits:
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / name,
        x_train=rng.random((20, *sample)) * scale,
        y_train=np.arange(20) % 2,
        x_test=rng.random((6, *sample)) * scale,
        y_test=np.arange(6) % 2,
    )
    return load_dataset(NpzDataset(name="npz", path=name), tmp_path)


@pytest.fixture
def events(tmp_path: Path) -> Splits:
    return _npz(tmp_path, "dvs.npz", (6, 2, 4, 4), scale=3.0)


@pytest.fixture
def images(tmp_path: Path) -> Splits:
    return _npz(tmp_path, "img.npz", (2, 4, 4))


def test_matching_encodings_pass(events: Splits, images: Splits, tmp_path: Path) -> None:
    check_encoding(events, "events")  # counts above 1 are fine for events
    check_encoding(images, "direct")
    check_encoding(images, "rate")
    check_encoding(load_dataset(DigitsDataset(name="digits"), tmp_path), "rate")  # in [0, 1]


@pytest.mark.parametrize("encoding", ["direct", "rate"])
def test_event_frames_need_the_events_encoding(events: Splits, encoding: str) -> None:
    with pytest.raises(DataError, match=rf"encoding '{encoding}'.*dvs\.npz.*event frames"):
        check_encoding(events, encoding)  # type: ignore[arg-type]


def test_static_samples_cannot_feed_events(images: Splits) -> None:
    with pytest.raises(DataError, match=r"encoding 'events'.*img\.npz.*static samples"):
        check_encoding(images, "events")


@pytest.mark.parametrize(("scale", "shift"), [(255.0, 0.0), (1.0, -0.5)])
def test_rate_needs_values_in_unit_range(tmp_path: Path, scale: float, shift: float) -> None:
    data = _npz(tmp_path, "raw.npz", (4, 4), scale=scale)
    data = Splits(
        name=data.name,
        x_train=data.x_train + shift,
        y_train=data.y_train,
        x_val=data.x_val,
        y_val=data.y_val,
        x_test=data.x_test,
        y_test=data.y_test,
        num_classes=2,
    )
    with pytest.raises(DataError, match=r"encoding 'rate'.*\[0, 1\].*raw\.npz has values in"):
        check_encoding(data, "rate")
    check_encoding(data, "direct")


def test_time_steps_must_divide_the_frames(events: Splits, images: Splits) -> None:
    for t in (1, 2, 3, 6):
        check_frames(events, t)
    with pytest.raises(DataError, match=r"time_steps 4 does not divide the 6 frames.*dvs\.npz"):
        check_frames(events, 4)
    check_frames(images, 4)  # static data has no frames to group

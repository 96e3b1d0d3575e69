"""Data sets: digits, npz files and their contract, and paths that must stay in the data dir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter, ValidationError

from spaces.errors import DataError
from workers.data import VAL_FRACTION, load_dataset, read_npz
from workers.dataset_ref import DatasetRef, DigitsDataset, NpzDataset, resolve_npz_path

DIGITS = DigitsDataset(name="digits")


# --- digits ------------------------------------------------------------------------------------


def test_digits_shapes_and_classes(tmp_path: Path) -> None:
    data = load_dataset(DIGITS, tmp_path, seed=0)
    assert data.name == "digits"
    assert data.input_shape == (8, 8)
    assert data.num_classes == 10
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) <= 1.0
    total = len(data.y_train) + len(data.y_val) + len(data.y_test)
    assert total == 1797
    assert len(data.y_test) == round(1797 * 0.2)
    assert len(data.y_val) == round((1797 - len(data.y_test)) * VAL_FRACTION)
    assert set(data.y_test.tolist()) == set(range(10))


def _rows(x: torch.Tensor) -> list[tuple[float, ...]]:
    return sorted(tuple(r) for r in x.flatten(1).tolist())


def test_digits_test_split_is_fixed_and_validation_depends_on_seed(tmp_path: Path) -> None:
    a = load_dataset(DIGITS, tmp_path, seed=0)
    b = load_dataset(DIGITS, tmp_path, seed=1)
    a2 = load_dataset(DIGITS, tmp_path, seed=0)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_val, b.x_val)
    assert torch.equal(a.x_val, a2.x_val) and torch.equal(a.x_train, a2.x_train)
    # Train + val is the same pool whatever the seed; only the cut moves.
    assert _rows(torch.cat([a.x_train, a.x_val])) == _rows(torch.cat([b.x_train, b.x_val]))


# --- npz round trips ---------------------------------------------------------------------------


def _write(path: Path, **arrays: Any) -> Path:
    np.savez(path, **arrays)
    return path


def _good(sample_shape: tuple[int, ...], n_train: int = 40, n_test: int = 12) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    size = int(np.prod(sample_shape))
    # Row i of x_train holds the value i everywhere, so rows identify their index.
    x_train = np.repeat(np.arange(n_train, dtype=np.float64), size).reshape(n_train, *sample_shape)
    return {
        "x_train": x_train,
        "y_train": np.arange(n_train) % 3,
        "x_test": rng.random((n_test, *sample_shape)),
        "y_test": rng.integers(0, 3, n_test).astype(np.int32),
    }


@pytest.mark.parametrize("sample_shape", [(20,), (6, 5), (2, 4, 4)], ids=str)
def test_npz_round_trip(tmp_path: Path, sample_shape: tuple[int, ...]) -> None:
    arrays = _good(sample_shape)
    _write(tmp_path / "set.npz", **arrays)
    ref = NpzDataset(name="npz", path="set.npz")
    data = load_dataset(ref, tmp_path, seed=4)
    assert data.name == "set.npz"
    assert data.input_shape == sample_shape
    assert data.num_classes == 3
    assert data.x_train.dtype == torch.float32 and data.y_val.dtype == torch.int64
    assert torch.equal(data.x_test, torch.from_numpy(arrays["x_test"].astype(np.float32)))
    assert torch.equal(data.y_test, torch.from_numpy(arrays["y_test"].astype(np.int64)))

    train_ids = data.x_train.flatten(1)[:, 0].long()
    val_ids = data.x_val.flatten(1)[:, 0].long()
    assert len(val_ids) == round(40 * VAL_FRACTION)
    assert not set(train_ids.tolist()) & set(val_ids.tolist())
    assert sorted(train_ids.tolist() + val_ids.tolist()) == list(range(40))
    # Labels travel with their samples.
    assert torch.equal(data.y_train, train_ids % 3)
    assert torch.equal(data.y_val, val_ids % 3)
    other = load_dataset(ref, tmp_path, seed=5)
    assert not torch.equal(other.x_val, data.x_val)


def test_event_frames_round_trip(tmp_path: Path) -> None:
    """(N, T, C, H, W): input_shape is one frame, frames the frame count; samples stay whole."""
    arrays = _good((5, 2, 4, 4))
    arrays["x_train"] = arrays["x_train"].astype(np.uint8)  # event counts may be integers
    _write(tmp_path / "dvs.npz", **arrays)
    data = load_dataset(NpzDataset(name="npz", path="dvs.npz"), tmp_path, seed=2)
    assert data.frames == 5
    assert data.input_shape == (2, 4, 4)
    assert data.x_train.shape[1:] == (5, 2, 4, 4) and data.x_val.shape[1:] == (5, 2, 4, 4)
    assert data.x_train.dtype == torch.float32
    assert torch.equal(data.x_test, torch.from_numpy(arrays["x_test"].astype(np.float32)))
    ids = data.x_train.flatten(1)
    assert (ids == ids[:, :1]).all()  # every frame of a sample moved with it
    assert torch.equal(data.y_train, ids[:, 0].long() % 3)
    assert data.to("cpu").frames == 5


def test_static_data_has_no_frames(tmp_path: Path) -> None:
    _write(tmp_path / "img.npz", **_good((2, 4, 4)))
    data = load_dataset(NpzDataset(name="npz", path="img.npz"), tmp_path)
    assert data.frames is None and data.input_shape == (2, 4, 4)
    assert load_dataset(DIGITS, tmp_path).frames is None


def test_npz_in_a_subdirectory(tmp_path: Path) -> None:
    (tmp_path / "sets").mkdir()
    _write(tmp_path / "sets" / "a.npz", **_good((4,)))
    data = load_dataset(NpzDataset(name="npz", path="sets/a.npz"), tmp_path)
    assert data.input_shape == (4,)


# --- the npz contract --------------------------------------------------------------------------


def _drop(key: str) -> dict[str, Any]:
    arrays = _good((4,))
    del arrays[key]
    return arrays


def _with(**changes: Any) -> dict[str, Any]:
    return {**_good((4,)), **changes}


def _nan() -> dict[str, Any]:
    arrays = _good((4,))
    arrays["x_train"][3, 1] = np.nan
    return arrays


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "missing-key": (_drop("y_test"), r"missing arrays \['y_test'\]"),
    "string-x": (_with(x_train=np.array([["a"] * 4] * 40)), r"x_train has dtype <U1.*numeric"),
    "complex-x": (_with(x_test=np.ones((12, 4), dtype=np.complex64)), r"x_test.*numeric"),
    "float-labels": (_with(y_train=np.arange(40) % 3 * 1.0), r"y_train.*labels must be integers"),
    "negative-label": (_with(y_test=np.array([0, 1, -1] * 4)), r"y_test has a negative label"),
    "test-label-above-train": (
        _with(y_test=np.array([0, 1, 3] * 4)),
        r"y_test has label 3, out of the range of y_train \(0\.\.2\)",
    ),
    "nan-in-x": (_nan(), r"x_train contains NaN"),
    "inf-in-x": (_with(x_test=np.full((12, 4), np.inf)), r"x_test contains NaN or infinite"),
    "length-mismatch": (_with(y_train=np.arange(39) % 3), r"x_train has 40 samples but y_train"),
    "shape-mismatch": (_with(x_test=np.zeros((12, 5))), r"x_train samples are shaped \(4,\)"),
    "1-d-x": (_with(x_train=np.zeros(40)), r"x_train is shaped \(40,\)"),
    "6-d-x": (
        _with(x_train=np.zeros((40, 2, 1, 1, 4, 4))),
        r"x_train is shaped \(40, 2, 1, 1, 4, 4\).*event frames \(N, T, C, H, W\)",
    ),
    "2-d-y": (_with(y_train=np.zeros((40, 1), dtype=np.int64)), r"y_train is shaped \(40, 1\)"),
    "one-sample": (
        _with(x_test=np.zeros((1, 4)), y_test=np.zeros(1, dtype=np.int64)),
        r"test split has 1 samples",
    ),
}


def _events(frames: int = 4, **changes: Any) -> dict[str, Any]:
    return {**_good((frames, 2, 4, 4)), **changes}


def _events_nan() -> dict[str, Any]:
    arrays = _events()
    arrays["x_test"][5, 3, 1, 2, 2] = np.nan
    return arrays


BAD_EVENTS: dict[str, tuple[dict[str, Any], str]] = {
    "frame-count-mismatch": (
        _events(x_test=np.zeros((12, 3, 2, 4, 4))),
        r"x_train has 4 frames per sample but x_test 3",
    ),
    "events-then-static": (
        _events(x_test=np.zeros((12, 2, 4, 4))),
        r"x_train holds event frames \(N, T, C, H, W\) but x_test static samples",
    ),
    "static-then-events": (
        _with(x_test=np.zeros((12, 3, 1, 2, 2))),
        r"x_test holds event frames \(N, T, C, H, W\) but x_train static samples",
    ),
    "frame-shape-mismatch": (
        _events(x_test=np.zeros((12, 4, 2, 4, 5))),
        r"x_train samples are shaped \(4, 2, 4, 4\) but x_test samples \(4, 2, 4, 5\)",
    ),
    "no-frames": (
        _events(x_train=np.zeros((40, 0, 2, 4, 4)), x_test=np.zeros((12, 0, 2, 4, 4))),
        r"x_train holds event frames with no frames",
    ),
    "events-nan": (_events_nan(), r"x_test contains NaN"),
    "events-string-dtype": (
        _events(x_train=np.full((40, 4, 2, 4, 4), "a")),
        r"x_train has dtype <U1.*numeric",
    ),
    "events-label-count": (
        _events(y_train=np.arange(41) % 3),
        r"x_train has 40 samples but y_train has 41",
    ),
    "events-float-labels": (
        _events(y_test=np.zeros(12)),
        r"y_test.*labels must be integers",
    ),
}
BAD.update(BAD_EVENTS)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_npz_is_a_data_error_naming_file_and_problem(tmp_path: Path, case: str) -> None:
    arrays, pattern = BAD[case]
    _write(tmp_path / "bad-set.npz", **arrays)
    with pytest.raises(DataError, match=pattern) as info:
        load_dataset(NpzDataset(name="npz", path="bad-set.npz"), tmp_path)
    assert "bad-set.npz" in str(info.value)


def test_not_a_zip_file(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"this is not an npz archive\n" * 10)
    with pytest.raises(DataError, match=r"junk\.npz: not a readable npz file"):
        read_npz(tmp_path / "junk.npz")


def test_truncated_zip_file(tmp_path: Path) -> None:
    _write(tmp_path / "whole.npz", **_good((4,)))
    data = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.npz"):
        read_npz(tmp_path / "cut.npz")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"absent\.npz: file not found"):
        load_dataset(NpzDataset(name="npz", path="absent.npz"), tmp_path)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    arrays = _with(x_train=np.array([{"a": 1}] * 40, dtype=object).reshape(40, 1))
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(DataError, match=r"pickled\.npz"):
        read_npz(tmp_path / "pickled.npz")


def test_data_error_is_a_value_error() -> None:
    assert issubclass(DataError, ValueError)


# --- paths stay inside the data directory ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("../outside.npz", r"'\.\.'"),
        ("sets/../../outside.npz", r"'\.\.'"),
        ("..\\outside.npz", r"'\.\.'"),
        ("/etc/passwd", r"absolute"),
        ("", r"at least 1 character"),
        ("a\x00.npz", r"NUL"),
    ],
)
def test_npz_reference_rejects_paths(path: str, pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        NpzDataset(name="npz", path=path)


def test_dataset_ref_is_discriminated_by_name() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(DatasetRef)
    assert isinstance(adapter.validate_python({"name": "digits"}), DigitsDataset)
    assert isinstance(adapter.validate_python({"name": "npz", "path": "a.npz"}), NpzDataset)
    with pytest.raises(ValidationError):
        adapter.validate_python({"name": "mnist"})
    with pytest.raises(ValidationError):
        adapter.validate_python({"name": "digits", "path": "a.npz"})


def test_resolve_npz_path_inside(tmp_path: Path) -> None:
    path = resolve_npz_path(NpzDataset(name="npz", path="sets/a.npz"), tmp_path)
    assert path == (tmp_path / "sets" / "a.npz").resolve()


def test_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    outside = _write(tmp_path / "secret.npz", **_good((4,)))
    os.symlink(outside, data_dir / "link.npz")
    ref = NpzDataset(name="npz", path="link.npz")
    with pytest.raises(DataError, match=r"'link\.npz' leaves the data directory"):
        resolve_npz_path(ref, data_dir)
    with pytest.raises(DataError, match=r"leaves the data directory"):
        load_dataset(ref, data_dir)
    # A linked directory that leaves the data dir is refused the same way.
    os.symlink(tmp_path, data_dir / "up")
    with pytest.raises(DataError, match=r"leaves the data directory"):
        resolve_npz_path(NpzDataset(name="npz", path="up/secret.npz"), data_dir)


def test_symlink_inside_is_allowed(tmp_path: Path) -> None:
    _write(tmp_path / "real.npz", **_good((4,)))
    os.symlink(tmp_path / "real.npz", tmp_path / "alias.npz")
    data = load_dataset(NpzDataset(name="npz", path="alias.npz"), tmp_path)
    assert data.input_shape == (4,)

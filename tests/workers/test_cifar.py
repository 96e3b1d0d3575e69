"""CIFAR folders: the python-version layouts of CIFAR-10 and CIFAR-100, generated here in
miniature (nothing is downloaded), and pickles that would run code refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from spaces.errors import DataError
from workers.cifar import LAYOUTS
from workers.data import load_dataset
from workers.dataset_ref import CifarDataset, DatasetRef


def _write_folder(folder: Path, kind: str, per_file: int = 20, classes: int = 10) -> None:
    folder.mkdir(parents=True)
    train, test, label_key = LAYOUTS[kind]
    rng = np.random.default_rng(0)
    for i, name in enumerate(train + test):
        data = rng.integers(0, 256, (per_file, 3072), dtype=np.uint8)
        labels = [(i + j) % classes for j in range(per_file)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, label_key: labels, b"batch_label": b"x"}, f)


@pytest.mark.parametrize(("kind", "classes"), [("cifar10", 10), ("cifar100", 100)])
def test_cifar_folder_loads(tmp_path: Path, kind: str, classes: int) -> None:
    _write_folder(tmp_path / "data" / "cifar", kind, classes=classes)
    ref = TypeAdapter(DatasetRef).validate_python({"name": kind, "path": "cifar"})
    splits = load_dataset(ref, tmp_path / "data", seed=0)
    n_train = 20 * len(LAYOUTS[kind][0])
    assert splits.input_shape == (3, 32, 32)
    assert len(splits.y_train) + len(splits.y_val) == n_train and len(splits.y_test) == 20
    assert splits.x_train.dtype.is_floating_point
    assert float(splits.x_train.min()) >= 0.0 and float(splits.x_train.max()) <= 1.0
    labels = [*splits.y_train.tolist(), *splits.y_val.tolist(), *splits.y_test.tolist()]
    assert splits.num_classes == max(labels) + 1


def test_image_layout_is_channels_first(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    _write_folder(folder, "cifar10", per_file=2)
    with open(folder / "test_batch", "rb") as f:
        raw = pickle.load(f)
    splits = load_dataset(CifarDataset(name="cifar10", path="c"), tmp_path, seed=0)
    expected = raw[b"data"][0].reshape(3, 32, 32).astype(np.float32) / 255.0
    assert np.array_equal(splits.x_test[0].numpy(), expected)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    _write_folder(folder, "cifar10")
    with open(folder / "data_batch_3", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f)
    with pytest.raises(DataError, match=r"c/data_batch_3.*refusing to load"):
        load_dataset(CifarDataset(name="cifar10", path="c"), tmp_path)


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d.pop(b"labels"), "b'labels'"),
        (lambda d: d.update({b"data": d[b"data"][:, :100]}), "expected uint8"),
        (lambda d: d.update({b"labels": d[b"labels"][:-1]}), "labels for"),
    ],
)
def test_malformed_batch_names_the_file(tmp_path: Path, mutate: object, pattern: str) -> None:
    folder = tmp_path / "c"
    _write_folder(folder, "cifar10")
    with open(folder / "test_batch", "rb") as f:
        batch = pickle.load(f)
    mutate(batch)  # type: ignore[operator]
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch, f)
    with pytest.raises(DataError, match=rf"c/test_batch.*{pattern}"):
        load_dataset(CifarDataset(name="cifar10", path="c"), tmp_path)


def test_missing_folder_and_paths_outside(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_dataset(CifarDataset(name="cifar10", path="nope"), tmp_path)
    with pytest.raises(ValidationError, match=r"\.\."):
        CifarDataset(name="cifar100", path="../cifar")

"""Data sets for training candidates: scikit-learn's bundled digits, npz files and CIFAR folders.

No preprocessing happens outside the model: inputs are only cast to float32, so an exported
network sees exactly what the trained one saw. The test split is the file's (or, for digits,
a fixed 20% drawn with seed 0); the validation split is carved from the training data by the
job's seed. Contract of an npz file: arrays x_train, y_train, x_test, y_test; x shaped (N, L)
for sequences, (N, H, W) or (N, C, H, W) for images, or (N, T, C, H, W) for event frames (T
frames per sample, the same T in both splits; the `events` encoding reads them); y integer
labels from 0.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spaces.errors import DataError
from workers.cifar import read_cifar
from workers.dataset_ref import CifarDataset, DatasetRef, DigitsDataset, resolve_npz_path

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
VAL_FRACTION = 0.15
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Splits:
    """Train, validation and test tensors of one data set, with its geometry."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    # Frames per sample of event data, x shaped (N, T, C, H, W); None for static samples.
    frames: int | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One static sample, or one event frame: what an ArchSpec's input_shape describes."""
        return tuple(self.x_train.shape[1 if self.frames is None else 2 :])

    def to(self, device: torch.device | str) -> Splits:
        """The same splits on `device`, moved once per trial rather than per batch."""
        moved = {
            k: getattr(self, k).to(device)
            for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }
        return Splits(name=self.name, num_classes=self.num_classes, frames=self.frames, **moved)


def load_dataset(ref: DatasetRef, data_dir: str | Path, seed: int = 0) -> Splits:
    """Load and validate a data set, then carve the validation split with `seed`."""
    if isinstance(ref, DigitsDataset):
        name = "digits"
        x_train, y_train, x_test, y_test = _digits_arrays()
    elif isinstance(ref, CifarDataset):
        name = ref.path
        x_train, y_train, x_test, y_test = read_cifar(ref.name, resolve_npz_path(ref, data_dir))
    else:
        path = resolve_npz_path(ref, data_dir)
        name = ref.path
        x_train, y_train, x_test, y_test = read_npz(path)
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    order = np.random.default_rng(seed).permutation(len(y_train))
    n_val = max(1, round(len(order) * VAL_FRACTION))
    val, train = order[:n_val], order[n_val:]
    return Splits(
        name=name,
        x_train=torch.from_numpy(x_train[train]),
        y_train=torch.from_numpy(y_train[train]),
        x_val=torch.from_numpy(x_train[val]),
        y_val=torch.from_numpy(y_train[val]),
        x_test=torch.from_numpy(x_test),
        y_test=torch.from_numpy(y_test),
        num_classes=num_classes,
        frames=x_train.shape[1] if x_train.ndim == 5 else None,
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    n_test = round(len(y) * DIGITS_TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read and check an npz data set; every problem is a DataError naming the file."""
    where = f"data set {path.name}"
    if not path.is_file():
        raise DataError(f"{where}: file not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise DataError(f"{where}: missing arrays {missing} (needs {list(NPZ_KEYS)})")
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{where}: not a readable npz file ({e})") from e
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        _check_split(where, split, x, y)
    x_train, x_test = arrays["x_train"], arrays["x_test"]
    top_train, top_test = int(arrays["y_train"].max()), int(arrays["y_test"].max())
    if top_test > top_train:
        raise DataError(
            f"{where}: y_test has label {top_test}, out of the range of y_train (0..{top_train})"
        )
    _check_same_kind(where, x_train, x_test)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            f"{where}: x_train samples are shaped {x_train.shape[1:]} but x_test samples "
            f"{x_test.shape[1:]}"
        )
    return (
        x_train.astype(np.float32),
        arrays["y_train"].astype(np.int64),
        x_test.astype(np.float32),
        arrays["y_test"].astype(np.int64),
    )


def _check_split(where: str, split: str, x: np.ndarray, y: np.ndarray) -> None:
    if x.dtype.kind not in "biuf":
        raise DataError(f"{where}: x_{split} has dtype {x.dtype}; it must be numeric")
    if x.ndim not in (2, 3, 4, 5):
        raise DataError(
            f"{where}: x_{split} is shaped {x.shape}; expected (N, L), (N, H, W), (N, C, H, W) "
            "or event frames (N, T, C, H, W)"
        )
    if x.ndim == 5 and x.shape[1] < 1:
        raise DataError(f"{where}: x_{split} holds event frames with no frames (T = 0)")
    if y.ndim != 1:
        raise DataError(f"{where}: y_{split} is shaped {y.shape}; expected (N,)")
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: y_{split} has dtype {y.dtype}; labels must be integers")
    if len(x) != len(y):
        raise DataError(f"{where}: x_{split} has {len(x)} samples but y_{split} has {len(y)}")
    if len(y) < 2:
        raise DataError(f"{where}: {split} split has {len(y)} samples; need at least 2")
    if y.min() < 0:
        raise DataError(f"{where}: y_{split} has a negative label ({int(y.min())})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DataError(f"{where}: x_{split} contains NaN or infinite values")


def _check_same_kind(where: str, x_train: np.ndarray, x_test: np.ndarray) -> None:
    """Both splits event frames with one frame count, or both static samples."""
    events = {"train": x_train.ndim == 5, "test": x_test.ndim == 5}
    if events["train"] != events["test"]:
        frames, static = ("train", "test") if events["train"] else ("test", "train")
        raise DataError(
            f"{where}: x_{frames} holds event frames (N, T, C, H, W) but x_{static} static "
            f"samples shaped {(x_train if static == 'train' else x_test).shape[1:]}"
        )
    if events["train"] and x_train.shape[1] != x_test.shape[1]:
        raise DataError(
            f"{where}: x_train has {x_train.shape[1]} frames per sample but x_test "
            f"{x_test.shape[1]}; both splits need the same frame count"
        )

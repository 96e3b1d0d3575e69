"""CIFAR-10 and CIFAR-100 from the standard "python version" folders under the data dir.

The folders hold pickles (cifar-10-batches-py: data_batch_1..5 and test_batch with b"labels";
cifar-100-python: train and test with b"fine_labels"), each a dict with b"data", uint8 of shape
(N, 3072) in CHW order. Pickle can run code on load, so these are read by an unpickler that
accepts only what those files contain: numpy arrays, dtypes and plain containers. Images are
scaled to [0, 1] float32, shaped (N, 3, 32, 32); nothing is ever downloaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from spaces.errors import DataError

LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bytes]] = {
    # name: (training files, test files, label key)
    "cifar10": (tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), b"labels"),
    "cifar100": (("train",), ("test",), b"fine_labels"),
}
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    where = f"data set {path.parent.name}/{path.name}"
    if not path.is_file():
        raise DataError(f"{where}: file not found")
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"{where}: not a CIFAR python batch ({e})") from e
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise DataError(f"{where}: expected a dict with b'data' and {label_key!r}")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{where}: b'data' is {data.dtype} {data.shape}; expected uint8 (N, 3072)")
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {len(labels)} labels for {len(data)} images")
    if len(labels) and labels.min() < 0:
        raise DataError(f"{where}: negative label {int(labels.min())}")
    images = (data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0).astype(np.float32)
    return images, labels


def read_cifar(kind: str, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of a CIFAR folder; DataError names the file at fault."""
    if not folder.is_dir():
        raise DataError(f"data set {folder.name}: folder not found under the data dir")
    train_files, test_files, label_key = LAYOUTS[kind]
    parts = {}
    for split, files in (("train", train_files), ("test", test_files)):
        batches = [_read_batch(folder / name, label_key) for name in files]
        parts[split] = (
            np.concatenate([b[0] for b in batches]),
            np.concatenate([b[1] for b in batches]),
        )
    return parts["train"][0], parts["train"][1], parts["test"][0], parts["test"][1]

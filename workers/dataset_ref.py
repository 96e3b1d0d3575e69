"""How a job names its data set: the bundled digits, an npz file or a CIFAR folder under the
data dir.

Paths are relative to the configured data directory and may not leave it; `resolve_npz_path`
is the one place that turns a reference into a file path, so every caller gets the same check.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from spaces.errors import DataError


class DigitsDataset(BaseModel):
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes); no file needed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Literal["digits"]


class _UnderDataDir(BaseModel):
    """A data set at a path relative to the data directory, which the path may not leave."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    path: str = Field(..., min_length=1, max_length=1024)

    @field_validator("path")
    @classmethod
    def _relative_inside(cls, value: str) -> str:
        pure = PurePosixPath(value.replace("\\", "/"))
        if pure.is_absolute():
            raise ValueError("path must be relative to the data directory, not absolute")
        if ".." in pure.parts:
            raise ValueError("path may not contain '..': it must stay inside the data directory")
        if "\x00" in value:
            raise ValueError("path contains a NUL character")
        return value


class NpzDataset(_UnderDataDir):
    """An npz file with x_train, y_train, x_test, y_test (see the README for layouts)."""

    name: Literal["npz"]


class CifarDataset(_UnderDataDir):
    """A CIFAR-10 or CIFAR-100 "python version" folder (workers/cifar.py)."""

    name: Literal["cifar10", "cifar100"]


DatasetRef = Annotated[DigitsDataset | NpzDataset | CifarDataset, Field(discriminator="name")]


def resolve_npz_path(ref: NpzDataset | CifarDataset, data_dir: str | Path) -> Path:
    """The file a reference names, refusing anything (symlinks included) outside data_dir."""
    root = Path(data_dir).resolve()
    path = (root / ref.path).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"dataset.path {ref.path!r} leaves the data directory")
    return path

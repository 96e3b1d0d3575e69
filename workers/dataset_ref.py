"""How a job names its data set: the bundled digits, or an npz file under the data dir.

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


class NpzDataset(BaseModel):
    """An npz file with x_train, y_train, x_test, y_test (see the README for layouts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Literal["npz"]
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


DatasetRef = Annotated[DigitsDataset | NpzDataset, Field(discriminator="name")]


def resolve_npz_path(ref: NpzDataset, data_dir: str | Path) -> Path:
    """The file a reference names, refusing anything (symlinks included) outside data_dir."""
    root = Path(data_dir).resolve()
    path = (root / ref.path).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"dataset.path {ref.path!r} leaves the data directory")
    return path

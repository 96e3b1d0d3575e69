"""Whether a data set can feed an input encoding (spaces/encoding.py), checked before training.

A job's `encoding` is fixed per job and the data set is only read when its driver starts, so
the mismatches that depend on the file are refused here, each with a DataError naming
`encoding` and the data set: static samples for `events`, event frames for `direct` or `rate`,
and values outside [0, 1] for `rate` (each value is a spike probability). A job spec refuses
what it can see at submission (search/job_spec.py: `events` with digits or CIFAR).
"""

from __future__ import annotations

import torch

from spaces.arch import Encoding
from spaces.errors import DataError
from workers.data import Splits


def check_encoding(data: Splits, encoding: Encoding) -> None:
    """Raise DataError naming `encoding` when `data` cannot feed it."""
    where = f"data set {data.name}"
    if encoding == "events":
        if data.frames is None:
            raise DataError(
                f"encoding 'events' needs event frames shaped (N, T, C, H, W), but {where} holds "
                f"static samples shaped {list(data.input_shape)}; use encoding 'direct' or 'rate'"
            )
        return
    if data.frames is not None:
        raise DataError(
            f"encoding {encoding!r} reads static samples, but {where} holds event frames "
            f"({data.frames} frames of {list(data.input_shape)} per sample); use encoding "
            "'events'"
        )
    if encoding == "rate":
        low, high = _value_range(data)
        if low < 0.0 or high > 1.0:
            raise DataError(
                f"encoding 'rate' reads every input value as a spike probability in [0, 1], but "
                f"{where} has values in [{low:g}, {high:g}]; scale the data to [0, 1] or use "
                "encoding 'direct'"
            )


def check_frames(data: Splits, time_steps: int, field: str = "time_steps") -> None:
    """Raise DataError naming `field` when event data's frames cannot be grouped into
    `time_steps` steps (each step sums T / time_steps consecutive frames)."""
    if data.frames is not None and data.frames % time_steps:
        raise DataError(
            f"{field} {time_steps} does not divide the {data.frames} frames per sample of "
            f"data set {data.name}: the events encoding sums equal groups of consecutive frames "
            "into each step"
        )


def _value_range(data: Splits) -> tuple[float, float]:
    splits = (data.x_train, data.x_val, data.x_test)
    nonempty = [x for x in splits if x.numel()]
    low = min(float(torch.min(x)) for x in nonempty)
    high = max(float(torch.max(x)) for x in nonempty)
    return low, high

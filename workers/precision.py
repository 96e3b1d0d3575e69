"""Numeric precision and memory layout of training: autocast, loss scaling, channels_last.

`Budget.precision` picks the autocast dtype of the forward pass and loss: "fp32" none, "bf16"
and "fp16" those, and "auto" bf16 on a CUDA device that supports it and fp32 everywhere else
(so the default changes nothing on a CPU). fp16's narrow range underflows small gradients, so
it trains with a GradScaler; bf16 has fp32's range and needs none. Parameters and optimizer
state stay fp32 in every case (autocast casts per op), so checkpoints and saved weights are the
same whatever the precision, and evaluation always runs the fp32 network that is exported.

On CUDA, image inputs (N, C, H, W) and the model's 4-D weights go channels_last, the layout
cuDNN's convolution kernels (and tensor cores) prefer; values are unchanged, only strides.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import torch
from torch import nn

from workers.budget import PrecisionKind
from workers.data import Splits

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass(frozen=True)
class Precision:
    device_type: str  # "cpu" or "cuda"
    dtype: torch.dtype | None  # autocast dtype; None: plain fp32

    @property
    def scales_loss(self) -> bool:
        return self.dtype == torch.float16

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None):
            yield

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is a no-op unless the precision is fp16."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scales_loss)


def resolve_precision(kind: PrecisionKind, device: torch.device | str) -> Precision:
    device_type = torch.device(device).type
    if kind == "auto":
        bf16 = device_type == "cuda" and torch.cuda.is_bf16_supported()
        return Precision(device_type, torch.bfloat16 if bf16 else None)
    return Precision(device_type, _DTYPES.get(kind))


def use_channels_last(model: nn.Module, data: Splits, device: torch.device | str) -> Splits:
    """On CUDA with image inputs, put the model and the image splits channels_last (in place for
    the model); elsewhere leave both as they are. Returns the splits to train on."""
    if torch.device(device).type != "cuda" or data.x_train.dim() != 4:
        return data
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    layout = torch.channels_last
    return dataclasses.replace(
        data,
        x_train=data.x_train.contiguous(memory_format=layout),
        x_val=data.x_val.contiguous(memory_format=layout),
        x_test=data.x_test.contiguous(memory_format=layout),
    )

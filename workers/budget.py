"""The training budget of one trial (part of a job spec, read by the trainer)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# "ce": cross-entropy of the time-averaged output; "tet": TET; "sml": surrogate module learning;
# "sml+tet": SML with TET as the SNN's own hard loss (snn-methods.md section 4).
LossKind = Literal["ce", "tet", "sml", "sml+tet"]


class Budget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    epochs: int = Field(..., ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-2, gt=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0, le=1.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    loss: LossKind = "ce"
    # TET: weight of the MSE pull towards phi (0.05 CIFAR-like, 0.001 ImageNet and DVS).
    tet_lambda: float = Field(0.05, ge=0.0, lt=1.0)
    tet_phi: float = Field(1.0, ge=-10.0, le=10.0)
    # SML: weight of the modules' CE, weight of the KL terms, softmax temperature.
    sml_alpha: float = Field(0.5, ge=0.0, le=10.0)
    sml_lambda: float = Field(0.9, ge=0.0, lt=1.0)
    sml_tau_kd: float = Field(3.0, gt=0.0, le=100.0)

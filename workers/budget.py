"""The training budget of one trial (part of a job spec, read by the trainer)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# "ce": cross-entropy of the time-averaged output; "tet": TET; "sml": surrogate module learning;
# "sml+tet": SML with TET as the SNN's own hard loss (snn-methods.md section 4).
LossKind = Literal["ce", "tet", "sml", "sml+tet"]
# "auto": bf16 autocast on a CUDA device that supports it, fp32 everywhere else
# (workers/precision.py).
PrecisionKind = Literal["auto", "fp32", "bf16", "fp16"]


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
    # A resumable training state every this many epochs, and always after the last one;
    # 0: after the last one only (workers/checkpoint.py).
    checkpoint_every: int = Field(0, ge=0, le=1000)
    # Cheaper fidelities (workers/fidelity.py): a stratified, seeded share of the training split
    # (validation and test stay whole), and the first inherit_epochs epochs trained at
    # inherit_time_steps (below the architecture's T) before fine-tuning at the architecture's T.
    train_fraction: float = Field(1.0, gt=0.0, le=1.0)
    inherit_time_steps: int | None = Field(None, ge=1, le=63)
    inherit_epochs: int = Field(0, ge=0, le=999)
    precision: PrecisionKind = "auto"

    @model_validator(mode="after")
    def _inheritance_consistent(self) -> Budget:
        if self.inherit_time_steps is None:
            if self.inherit_epochs:
                raise ValueError(
                    f"inherit_epochs is {self.inherit_epochs} but inherit_time_steps is not set: "
                    "set both, or neither"
                )
            return self
        if self.inherit_epochs < 1:
            raise ValueError("inherit_epochs must be at least 1 when inherit_time_steps is set")
        if self.inherit_epochs >= self.epochs:
            raise ValueError(
                f"inherit_epochs ({self.inherit_epochs}) must be below epochs ({self.epochs}): "
                "the last epochs fine-tune at the architecture's time steps"
            )
        return self

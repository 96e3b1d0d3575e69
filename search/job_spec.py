"""The job spec: what a user asks for when submitting a search (REST, CLI, driver input)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from search.samplers import SamplerName, SamplerOptions
from spaces.arch import Encoding
from spaces.space import SpaceConstraints
from workers.budget import Budget
from workers.dataset_ref import DatasetRef, NpzDataset

Objective = Literal["accuracy", "params", "spike_rate", "energy", "sops"]

Direction = Literal["minimize", "maximize"]

# How multi-objective ASHA orders the trials of one front at a rung (search/schedulers.py).
PromoteBy = Literal["hypervolume", "crowding"]
RungMetric = Literal["accuracy", "train_loss", "val_loss"]

# Direction of each objective; accuracy is the only one to maximise.
DIRECTIONS: dict[str, Direction] = {
    "accuracy": "maximize",
    "params": "minimize",
    "spike_rate": "minimize",
    "energy": "minimize",  # pJ per sample, E_SNN (45 nm convention, spaces/energy.py)
    "sops": "minimize",  # synaptic operations per sample
}


# The default grace period, in tenths of the budget's epochs.
DEFAULT_GRACE_TENTHS = 3


class EarlyStopping(BaseModel):
    """Whether and how trials are stopped before their budget (search.schedulers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["none", "asha", "mo_asha"] = "none"
    # No trial is stopped before this many epochs. None (the default): 3/10 of the budget's
    # epochs, at least 1 (`grace_for`). Early epochs rank final accuracy poorly on some data:
    # at 10 epochs a trial, TPE with mo_asha at grace 1 never reached random search's
    # hypervolume at the median on the npz sequence set, at grace 3 it did in 0.69 of random's
    # time (6 seeds), and on digits in 0.45 (0.46 at grace 1; benchmarks/search.py).
    grace_epochs: int | None = Field(None, ge=1, le=1000)
    # eta: 1/eta of a rung's trials go on. 2 rather than ASHA's usual 3 or 4: a front needs
    # many full-budget trials, not one best; replayed on recorded curves
    # (benchmarks/early_stopping_replay.py), mo_asha with eta 2 beat eta 3 at every grace.
    reduction_factor: int = Field(2, ge=2, le=8)
    # mo_asha only: within the front where a rung's cut falls, promote by each trial's share of
    # that front's hypervolume (None: the default) or by crowding distance (search/schedulers.py).
    promote_by: PromoteBy | None = None
    # What a rung ranks trials by for accuracy: the epoch's validation accuracy (the default),
    # its training loss or its validation loss. On the npz sequence set, epoch-3 validation
    # accuracy ranks final accuracy poorly (Spearman 0.60 over 150 random trials, against 0.88
    # for the training loss; benchmarks/early_stopping_replay.py), yet in the search the
    # training loss did worst: over 7 seeds TPE with mo_asha reached random search's
    # hypervolume in 0.93 of its time (median) by training loss, 0.55 by validation loss and
    # 0.72 by accuracy; on digits in 0.66, 0.74 and 0.55 (benchmarks/search_results.md).
    # Accuracy stays the default: it is what the front is made of, and no loss did better on
    # both sets.
    rung_metric: RungMetric = "accuracy"

    def grace_for(self, max_epochs: int) -> int:
        """The grace period of a job whose trials train `max_epochs` epochs."""
        if self.grace_epochs is not None:
            return self.grace_epochs
        return max(1, max_epochs * DEFAULT_GRACE_TENTHS // 10)

    @model_validator(mode="after")
    def _promote_by_needs_mo_asha(self) -> EarlyStopping:
        if self.promote_by is not None and self.kind != "mo_asha":
            raise ValueError(
                f"promote_by applies to kind 'mo_asha' only, not {self.kind!r} ('asha' ranks "
                "by accuracy alone)"
            )
        return self


class JobSpec(BaseModel):
    """A search job. Every field is bounded so that no request can ask for the impossible."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(..., min_length=1, max_length=200)
    dataset: DatasetRef
    # How samples become T steps of input (spaces/encoding.py): fixed per job, never searched,
    # and written into every candidate's ArchSpec. Checked against the data when the driver
    # loads it (workers/encoding_fit.py); what is known at submission is checked below.
    encoding: Encoding = "direct"
    n_trials: int = Field(..., ge=1, le=100_000)
    # Wall-clock seconds the search may run, over all of the job's driver runs (a resumed job
    # gets what is left): the job ends at n_trials finished trials or when this is spent,
    # whichever comes first. Trials running then are stopped, kept and tagged early_stopped.
    time_budget_s: float | None = Field(None, gt=0.0, le=90 * 24 * 3600.0)
    max_concurrent: int = Field(1, ge=1, le=256)
    budget: Budget
    sampler: SamplerName = "nsga2"
    # Fixed sampler settings; by default they scale with n_trials (search/samplers.py).
    sampler_options: SamplerOptions = SamplerOptions()
    objectives: tuple[Objective, ...] = Field(
        ("accuracy", "params", "spike_rate"), min_length=1, max_length=5
    )
    seed: int = Field(0, ge=0, le=2**31 - 1)
    space: SpaceConstraints = SpaceConstraints()
    early_stopping: EarlyStopping = EarlyStopping()
    # Constraint on an outcome known only after training, through Optuna's constraint API: the
    # sampler prefers candidates that meet it. (A size limit known before training is
    # space.max_params: candidates above it are never trained.)
    max_energy_pj: float | None = Field(None, gt=0.0, le=1e15)
    cpus_per_trial: float = Field(1.0, gt=0.0, le=256.0)
    gpus_per_trial: float = Field(0.0, ge=0.0, le=16.0)

    @field_validator("encoding")
    @classmethod
    def _events_need_event_data(cls, value: str, info: ValidationInfo) -> str:
        dataset = info.data.get("dataset")  # absent when the dataset itself was invalid
        if value == "events" and dataset is not None and not isinstance(dataset, NpzDataset):
            raise ValueError(
                f"encoding 'events' needs event frames (N, T, C, H, W) from an npz data set; "
                f"dataset {dataset.name!r} holds static images (use 'direct' or 'rate')"
            )
        return value

    @field_validator("objectives")
    @classmethod
    def _objectives_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"objectives has repeated values: {list(value)}")
        return value

    @field_validator("space")
    @classmethod
    def _space_possible(cls, value: SpaceConstraints) -> SpaceConstraints:
        # Refused at submission rather than when the driver starts, hours later in a queue.
        problems = value.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _sampler_takes_its_options(self) -> JobSpec:
        problems = self.sampler_options.problems(self.sampler)
        if problems:
            raise ValueError("sampler_options: " + "; ".join(problems))
        return self

    @model_validator(mode="after")
    def _asha_needs_accuracy(self) -> JobSpec:
        if self.early_stopping.kind == "asha" and "accuracy" not in self.objectives:
            raise ValueError(
                "early_stopping.kind 'asha' ranks trials by accuracy, which is not among the "
                "objectives; use 'mo_asha' or add 'accuracy'"
            )
        return self

    @model_validator(mode="after")
    def _inherited_time_steps_below_the_space(self) -> JobSpec:
        # Checked per trial too (workers/fidelity.py); here a spec no candidate could train
        # under is refused at submission.
        small = self.budget.inherit_time_steps
        if small is not None and small >= min(self.space.time_steps):
            raise ValueError(
                f"budget.inherit_time_steps ({small}) must be below every time_steps of the "
                f"space ({list(self.space.time_steps)})"
            )
        return self

    @property
    def directions(self) -> list[Direction]:
        return [DIRECTIONS[o] for o in self.objectives]

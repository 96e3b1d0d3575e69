"""Response models of the REST API.

The request body of POST /api/jobs is search.job_spec.JobSpec as it is: one definition of what a
job may ask for, shared with the driver. The responses are separate models, so that a change to
a stored row never changes the API by accident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from search.records import Progress, TrialRecord
from search.results import TrialDetail
from service.models import JobStatus


class ProgressOut(Progress):
    """Trials of the job's study by state; total is the job's n_trials."""


class JobOut(BaseModel):
    id: int
    name: str
    status: JobStatus
    spec: dict[str, Any]
    progress: ProgressOut
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


class JobList(BaseModel):
    data: list[JobOut]
    count: int


class TrialOut(TrialRecord):
    """One trial: its architecture, named objective values, test accuracy and training facts."""


class TrialList(BaseModel):
    data: list[TrialOut]
    count: int


class TrialDetailOut(TrialDetail):
    """One trial with its per-epoch curve (epoch, train_loss, accuracy, spike_rate, ...), its
    budget in epochs, why it failed or was rejected, and when it started and finished."""


class HypervolumePointOut(BaseModel):
    """The hypervolume once `trial` trials had finished, the last of them trial `number`."""

    trial: int
    number: int
    completed_at: datetime | None
    elapsed_s: float | None  # from the start of the job's first trial
    hypervolume: float
    front_size: int
    exact: bool  # False: estimated (4 or 5 objectives and a large front, see search.history)


class HypervolumeOut(BaseModel):
    """The hypervolume after each finished trial, in completion order; `hypervolume` is the
    last one, the same as GET .../pareto's."""

    data: list[HypervolumePointOut]
    count: int
    hypervolume: float
    exact: bool
    started_at: datetime | None


class ParetoOut(BaseModel):
    """The non-dominated trials that trained their full budget, most accurate first."""

    data: list[TrialOut]
    hypervolume: float


class ErrorOut(BaseModel):
    detail: Any

"""Read a job's study back: progress, pages of trials, one trial, the Pareto front and the
hypervolume history.

The front holds finished trials that trained their full budget (early-stopped trials are told
to Optuna as complete with partial values, so they are filtered out here by their tags).

Reads go to Optuna's tables with SQL (search.study_tables), so that a page of a 10,000-trial
study costs a page, not the study. What has to look at every finished trial (the front, the
hypervolume history, a job's summary) is kept in memory and brought up to date with only the
trials finished since the last read (search.finished): a dashboard polling a job that did not
move costs one small query.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
import sqlalchemy as sa
from optuna.trial import TrialState
from pydantic import Field

from search.finished import Finished, FinishedRecord, up_to_date
from search.history import HypervolumePoint
from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EPOCHS_TRAINED,
    ATTR_ERROR,
    ATTR_REJECTED,
    ATTR_TEST_ACCURACY,
    RECORD_ATTRS,
    Progress,
    TrialRecord,
    TrialStateName,
    trial_record,
)
from search.study_tables import (
    SortKey,
    StoredTrial,
    attr_by_number,
    find_study,
    load_trials,
    page_of_trials,
    study_stats,
    trial_id_of,
)

# Numeric user attributes a trial list may be sorted by, beside the number and the objectives.
SORT_ATTRS = {
    "test_accuracy": ATTR_TEST_ACCURACY,
    "epochs_trained": ATTR_EPOCHS_TRAINED,
    "duration_s": ATTR_DURATION_S,
}
# What a trial state name means in the tables: (Optuna state, tagged rejected).
_STATE_FILTERS: dict[str, tuple[TrialState | None, bool]] = {
    "waiting": (TrialState.WAITING, False),
    "running": (TrialState.RUNNING, False),
    "complete": (TrialState.COMPLETE, False),
    "failed": (TrialState.FAIL, False),
    "pruned": (TrialState.PRUNED, False),
    "rejected": (None, True),
}


class TrialDetail(TrialRecord):
    """A trial with what a list leaves out: its per-epoch curve, budget, error and times."""

    curve: list[dict[str, float]] = Field(default_factory=list)
    budget_epochs: int | None = None
    error: str | None = None  # why it failed, or why the draw was rejected
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobSummary:
    finished: int
    best_accuracy: float | None  # among trials that trained their full budget
    front_size: int
    hypervolume: float


def sort_keys(objectives: Sequence[str]) -> list[str]:
    """What a job's trial list may be sorted by."""
    return ["number", *objectives, *SORT_ATTRS]


def _engine(storage: optuna.storages.BaseStorage) -> sa.Engine:
    # A study's own storage comes wrapped in Optuna's cache; the SQL is under it.
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, optuna.storages.RDBStorage):
        raise TypeError(
            f"reading trials needs an Optuna RDBStorage (SQL), got {type(storage).__name__}"
        )
    return backend.engine


@contextmanager
def _study(
    storage: optuna.storages.BaseStorage, job_id: int
) -> Iterator[tuple[sa.Connection, int | None]]:
    """A connection, and the job's study id (None before the driver created the study)."""
    with _engine(storage).connect() as conn:
        yield conn, find_study(conn, job_id)


def study_version(storage: optuna.storages.BaseStorage, job_id: int) -> str:
    """A string that changes whenever a trial of the job is added or changes state."""
    with _study(storage, job_id) as (conn, study_id):
        return "none" if study_id is None else study_stats(conn, study_id).version


def read_progress(storage: optuna.storages.BaseStorage, job_id: int, total: int) -> Progress:
    with _study(storage, job_id) as (conn, study_id):
        if study_id is None:
            return Progress(total=total)
        counts = study_stats(conn, study_id).counts
    return Progress(
        total=total,
        complete=counts.get((TrialState.COMPLETE, False), 0),
        running=counts.get((TrialState.RUNNING, False), 0),
        failed=counts.get((TrialState.FAIL, False), 0),
    )


def list_trials(
    storage: optuna.storages.BaseStorage,
    job_id: int,
    objectives: list[str],
    limit: int,
    offset: int,
    *,
    sort: str = "number",
    descending: bool = False,
    state: TrialStateName | None = None,
) -> tuple[list[TrialRecord], int]:
    """One page of the trials that are in `state` (all when None), sorted by `sort` (one of
    sort_keys(objectives)); trials without that value come last. The count is of every trial
    that passes the filter."""
    if sort == "number":
        key = SortKey()
    elif sort in objectives:
        key = SortKey(objective=objectives.index(sort))
    elif sort in SORT_ATTRS:
        key = SortKey(attr=SORT_ATTRS[sort])
    else:
        raise ValueError(f"sort must be one of {sort_keys(objectives)}, got {sort!r}")
    trial_state, rejected = _STATE_FILTERS[state] if state else (None, None)
    with _study(storage, job_id) as (conn, study_id):
        if study_id is None:
            return [], 0
        ids, count = page_of_trials(
            conn,
            study_id,
            sort=key,
            descending=descending,
            state=trial_state,
            rejected=rejected,
            limit=limit,
            offset=offset,
        )
        trials = load_trials(conn, study_id, trial_ids=ids, only_attrs=RECORD_ATTRS)
    return [trial_record(t, objectives) for t in trials], count


def _stored_trial(
    storage: optuna.storages.BaseStorage, job_id: int, number: int, skip: set[str]
) -> StoredTrial | None:
    with _study(storage, job_id) as (conn, study_id):
        trial_id = None if study_id is None else trial_id_of(conn, study_id, number)
        if study_id is None or trial_id is None:
            return None
        found = load_trials(conn, study_id, trial_ids=[trial_id], skip_attrs=skip)
    return found[0] if found else None


def get_trial(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str], number: int
) -> TrialRecord | None:
    stored = _stored_trial(storage, job_id, number, skip={ATTR_CURVE})
    return None if stored is None else trial_record(stored, objectives)


def get_trial_detail(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str], number: int
) -> TrialDetail | None:
    stored = _stored_trial(storage, job_id, number, skip=set())
    if stored is None:
        return None
    attrs = stored.user_attrs
    error = attrs.get(ATTR_REJECTED, attrs.get(ATTR_ERROR))
    budget = attrs.get(ATTR_BUDGET_EPOCHS)
    return TrialDetail(
        **trial_record(stored, objectives).model_dump(),
        curve=list(attrs.get(ATTR_CURVE) or []),
        budget_epochs=None if budget is None else int(budget),
        error=None if error is None else str(error),
        started_at=stored.started_at,
        completed_at=stored.completed_at,
    )


def trial_archs(
    storage: optuna.storages.BaseStorage, job_id: int, numbers: Sequence[int]
) -> dict[int, dict[str, Any]]:
    """The architectures of the trials numbered `numbers` (those that have one)."""
    with _study(storage, job_id) as (conn, study_id):
        return {} if study_id is None else attr_by_number(conn, study_id, ATTR_ARCH, numbers)


def _finished(
    storage: optuna.storages.BaseStorage,
    job_id: int,
    objectives: Sequence[str],
    with_history: bool = False,
) -> Finished | None:
    """Every finished trial of the job, with the front (and the hypervolume history), brought
    up to date with the study (None: no study yet)."""
    with _study(storage, job_id) as (conn, study_id):
        if study_id is None:
            return None
        key = (str(_engine(storage).url), job_id, tuple(objectives))
        return up_to_date(key, conn, study_id, objectives, with_history)


def finished_trials(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str]
) -> tuple[list[FinishedRecord], str]:
    """Every finished trial (without architectures), with the study version it reflects."""
    finished = _finished(storage, job_id, objectives)
    return ([], "none") if finished is None else (finished.records, finished.stats.version)


def pareto_front(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str]
) -> tuple[list[TrialRecord], float]:
    """Non-dominated trials that trained their full budget, and their hypervolume (the last of
    the hypervolume history: exact up to 3 objectives, see search.history beyond)."""
    finished = _finished(storage, job_id, objectives, with_history=True)
    if finished is None:
        return [], 0.0
    members = [f.record for f in finished.records if f.on_front]
    archs = trial_archs(storage, job_id, [r.number for r in members])
    front = [r.model_copy(update={"arch": archs.get(r.number)}) for r in members]
    front.sort(key=lambda r: -r.values.get("accuracy", 0.0))
    points = finished.history.points
    return front, points[-1].hypervolume if points else 0.0


def hypervolume_history(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str]
) -> tuple[list[HypervolumePoint], datetime | None, str]:
    """The hypervolume after each finished trial, in completion order; when the first trial
    started; and the study version it reflects."""
    finished = _finished(storage, job_id, objectives, with_history=True)
    if finished is None:
        return [], None, "none"
    return list(finished.history.points), finished.stats.started_at, finished.stats.version


def job_summary(
    storage: optuna.storages.BaseStorage, job_id: int, objectives: list[str]
) -> JobSummary:
    """What the jobs page shows of a job's results: best accuracy, front size, hypervolume."""
    finished = _finished(storage, job_id, objectives, with_history=True)
    history = [] if finished is None else finished.history.points
    records = [] if finished is None else finished.records
    accuracies = [
        f.record.values["accuracy"] for f in records if f.counts and "accuracy" in f.record.values
    ]
    last = history[-1] if history else None
    return JobSummary(
        finished=len(records),
        best_accuracy=max(accuracies, default=None),
        front_size=0 if last is None else last.front_size,
        hypervolume=0.0 if last is None else last.hypervolume,
    )

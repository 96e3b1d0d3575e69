"""Every finished trial of a study, kept in memory and brought up to date on each read.

The front, the hypervolume history and a job's summary look at every finished trial; a
dashboard polls them every few seconds while a job runs. A complete trial never changes, so
each read adds only the trials completed since the last one (found by a cheap count of the
study's trials by state) instead of reading thousands again, and the front and the history
take each new trial in O(front size) (search.history).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from search.history import FinishedTrial, HypervolumeTracker, ParetoArchive, completion_order
from search.pareto import costs
from search.records import (
    ATTR_BUDGET_EPOCHS,
    ATTR_COSTS,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_REJECTED,
    ATTR_TEST_ACCURACY,
    TrialRecord,
    trial_record,
)
from search.study_tables import StudyStats, complete_trial_ids, load_trials, study_stats

# The attributes trial_record reads, without the architecture and the curve (the bulky ones).
_RECORD_ATTRS = (
    ATTR_BUDGET_EPOCHS,
    ATTR_EPOCHS_TRAINED,
    ATTR_EARLY_STOPPED,
    ATTR_TEST_ACCURACY,
    ATTR_DURATION_S,
    ATTR_REJECTED,
    ATTR_COSTS,
)


@dataclass(frozen=True, slots=True)
class FinishedRecord:
    """A finished trial (complete, not rejected), without its architecture."""

    record: TrialRecord
    completed_at: datetime | None
    counts: bool  # may join the front: full budget, every objective valued
    on_front: bool
    costs: dict[str, float]  # the trained network's cost metrics (energy, sops, ...), if recorded


class FinishedSet:
    """Every finished trial of one study, with the front, as of `version`.

    A complete trial never changes, so bringing the set up to date reads only the trials
    completed since the last update: a live 5,000-trial job's poll reads a few trials, not
    5,000 (and the front takes each of them in O(front size), see ParetoArchive).
    """

    def __init__(self, study_id: int, objectives: Sequence[str]) -> None:
        self.study_id = study_id
        self.objectives = list(objectives)
        self.version = ""
        self.records: list[FinishedRecord] = []
        self._by_id: dict[int, tuple[TrialRecord, datetime | None, bool, dict[str, float]]] = {}
        self._front = ParetoArchive(len(self.objectives))

    def update(self, conn: sa.Connection, stats: StudyStats) -> None:
        ids = complete_trial_ids(conn, self.study_id)
        new = [i for i in ids if i not in self._by_id]
        for stored in load_trials(conn, self.study_id, trial_ids=new, only_attrs=_RECORD_ATTRS):
            if stored.rejected:
                continue
            record = trial_record(stored, self.objectives)
            counts = record.trained_full_budget and all(o in record.values for o in self.objectives)
            recorded = stored.user_attrs.get(ATTR_COSTS)
            metrics = {
                k: float(v)
                for k, v in (recorded.items() if isinstance(recorded, dict) else ())
                if isinstance(v, int | float)
            }
            self._by_id[stored.trial_id] = (record, stored.completed_at, counts, metrics)
            if counts:
                self._front.add(stored.trial_id, costs(record.values, self.objectives))
        on_front = set(self._front.keys)
        self.records = sorted(
            (
                FinishedRecord(record, done, counts, trial_id in on_front, metrics)
                for trial_id, (record, done, counts, metrics) in self._by_id.items()
            ),
            key=lambda f: f.record.number,
        )
        self.version = stats.version


@dataclass(frozen=True, slots=True)
class Finished:
    stats: StudyStats
    records: list[FinishedRecord]
    history: HypervolumeTracker


_STATES: OrderedDict[tuple[Any, ...], tuple[FinishedSet, HypervolumeTracker | None]] = OrderedDict()
_STATES_KEPT = 32  # studies whose finished trials are kept in memory (a few MB per 5,000)
_LOCK = threading.Lock()  # the kept states are updated in place: one request at a time


def up_to_date(
    key: tuple[Any, ...],
    conn: sa.Connection,
    study_id: int,
    objectives: Sequence[str],
    with_history: bool,
) -> Finished:
    """The finished trials kept under `key` (one per database, job and objectives), brought
    up to date with the study, with the hypervolume history when asked for."""
    with _LOCK:
        stats = study_stats(conn, study_id)
        kept, tracker = _STATES.get(key, (None, None))
        if kept is None or kept.study_id != study_id:
            kept, tracker = FinishedSet(study_id, objectives), None
        if kept.version != stats.version:
            kept.update(conn, stats)
        if with_history:
            tracker = _extend_history(tracker, kept.records, objectives, stats.started_at)
        _STATES[key] = (kept, tracker)
        _STATES.move_to_end(key)
        while len(_STATES) > _STATES_KEPT:
            _STATES.popitem(last=False)
        empty = HypervolumeTracker(objectives, stats.started_at)
        return Finished(stats, kept.records, tracker or empty)


def _extend_history(
    tracker: HypervolumeTracker | None,
    records: Sequence[FinishedRecord],
    objectives: Sequence[str],
    started_at: datetime | None,
) -> HypervolumeTracker:
    """The tracker with the trials finished since it last saw the study; a new one when they
    did not finish after those it has (a study can be rewritten under a running service)."""
    order = completion_order(
        [FinishedTrial(f.record.number, f.completed_at, f.record.values, f.counts) for f in records]
    )
    if (
        tracker is None
        or tracker.started_at != started_at
        or tracker.numbers != [t.number for t in order[: len(tracker.points)]]
    ):
        tracker = HypervolumeTracker(objectives, started_at)
    for trial in order[len(tracker.points) :]:
        tracker.add(trial)
    return tracker

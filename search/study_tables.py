"""SQL reads of a job's trials straight from Optuna's RDB tables.

Optuna's storage API hands back every trial of a study as a FrozenTrial with all of its user
attributes parsed, each trial's architecture and per-epoch curve included: about a second for
5,000 trials, on every page view and every poll of a live dashboard. These queries read only the
columns and attributes a view needs, sort, filter, count and paginate in the database, and
rebuild FrozenTrials for just the rows shown, so that search.records.trial_record stays the one
definition of what a trial record says.

The table and column names are Optuna's RDB schema (optuna/storages/_rdb/models.py: studies,
trials, trial_values, trial_user_attributes), unchanged since Optuna 3. Datetimes there are
naive UTC. The tests read studies written by Optuna itself, on SQLite and PostgreSQL, and
compare with what Optuna's own API returns.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from optuna.trial import TrialState

from search.records import ATTR_REJECTED
from search.study import study_name

# Typed as Optuna types them: the state column is a native enum type on PostgreSQL, and a bound
# parameter compared with it must carry that type.
_STUDIES = sa.table("studies", sa.column("study_id", sa.Integer), sa.column("study_name"))
_TRIALS = sa.table(
    "trials",
    sa.column("trial_id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("study_id", sa.Integer),
    sa.column("state", sa.Enum(TrialState)),
    sa.column("datetime_start", sa.DateTime),
    sa.column("datetime_complete", sa.DateTime),
)
_VALUES = sa.table(
    "trial_values",
    sa.column("trial_id", sa.Integer),
    sa.column("objective", sa.Integer),
    sa.column("value", sa.Float),
    sa.column("value_type"),
)
_ATTRS = sa.table(
    "trial_user_attributes",
    sa.column("trial_id", sa.Integer),
    sa.column("key"),
    sa.column("value_json", sa.Text),
)
_INFINITE = {"INF_POS": float("inf"), "INF_NEG": float("-inf")}
_IDS_PER_QUERY = 500  # well under SQLite's and PostgreSQL's limits on bound parameters


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoredTrial:
    """One trial as stored: values in objective order, the user attributes that were read."""

    trial_id: int
    number: int
    state: TrialState
    values: list[float] | None
    user_attrs: dict[str, Any]
    started_at: datetime | None  # aware, UTC
    completed_at: datetime | None

    @property
    def rejected(self) -> bool:
        return ATTR_REJECTED in self.user_attrs


@dataclass(frozen=True, slots=True)
class StudyStats:
    """Counts by (state, rejected), when the first trial started, and a value that changes
    whenever a trial is added or changes state, for caches and ETags."""

    counts: dict[tuple[TrialState, bool], int]
    started_at: datetime | None
    version: str


@dataclass(frozen=True, slots=True)
class SortKey:
    """A trial list's order: by an objective's value (its index), by a numeric user attribute,
    or (neither) by trial number."""

    objective: int | None = None
    attr: str | None = None


def find_study(conn: sa.Connection, job_id: int) -> int | None:
    """The study id of a job, or None when its study does not exist yet."""
    query = sa.select(_STUDIES.c.study_id).where(_STUDIES.c.study_name == study_name(job_id))
    return conn.scalar(query)


def study_stats(conn: sa.Connection, study_id: int) -> StudyStats:
    t, r = _TRIALS, _ATTRS
    by_state = (
        sa.select(
            t.c.state,
            sa.func.count(),
            sa.func.min(t.c.datetime_start),
            sa.func.max(t.c.datetime_complete),
            sa.func.max(t.c.trial_id),
        )
        .where(t.c.study_id == study_id)
        .group_by(t.c.state)
    )
    # Rejected draws are failed trials with the attribute: looking it up for failed trials
    # only, rather than joining every trial's attributes, keeps this cheap on big studies
    # (every dashboard poll and progress read runs it).
    rejected_query = (
        sa.select(sa.func.count())
        .select_from(t.join(r, sa.and_(r.c.trial_id == t.c.trial_id, r.c.key == ATTR_REJECTED)))
        .where(t.c.study_id == study_id, t.c.state == TrialState.FAIL)
    )
    counts: dict[tuple[TrialState, bool], int] = {}
    starts, ends, last_ids = [], [], []
    for state, count, started, completed, last_id in conn.execute(by_state):
        counts[(state, False)] = int(count)
        starts.append(started)
        ends.append(completed)
        last_ids.append(last_id)
    rejected = int(conn.scalar(rejected_query) or 0) if (TrialState.FAIL, False) in counts else 0
    if rejected:
        counts[(TrialState.FAIL, True)] = rejected
        counts[(TrialState.FAIL, False)] -= rejected
        if not counts[(TrialState.FAIL, False)]:
            del counts[(TrialState.FAIL, False)]
    started_at = min((s for s in starts if s is not None), default=None)
    completed_at = max((e for e in ends if e is not None), default=None)
    parts = sorted(f"{s.name}:{int(rej)}:{n}" for (s, rej), n in counts.items())
    parts += [str(max(last_ids, default=0)), str(completed_at)]
    return StudyStats(counts, _utc(started_at), f"{study_id}/" + ",".join(parts))


def _state_condition(state: TrialState | None, rejected: bool | None) -> sa.ColumnElement[bool]:
    t = _TRIALS
    is_rejected = sa.exists().where(
        _ATTRS.c.trial_id == t.c.trial_id, _ATTRS.c.key == ATTR_REJECTED
    )
    conditions: list[sa.ColumnElement[bool]] = []
    if state is not None:
        conditions.append(t.c.state == state)
    if rejected is not None:
        conditions.append(is_rejected if rejected else ~is_rejected)
    return sa.and_(sa.true(), *conditions)


def page_of_trials(
    conn: sa.Connection,
    study_id: int,
    *,
    sort: SortKey,
    descending: bool,
    state: TrialState | None,
    rejected: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[int], int]:
    """Trial ids of one page, and how many trials pass the filter. Trials without the sort key
    (no value yet, no such attribute) come last in either order; ties go by trial number."""
    t = _TRIALS
    where = sa.and_(t.c.study_id == study_id, _state_condition(state, rejected))
    count = conn.scalar(sa.select(sa.func.count()).select_from(t).where(where)) or 0
    source: sa.FromClause = t
    key: sa.ColumnElement[Any] | None = None
    if sort.objective is not None:
        v = _VALUES.alias("sort_value")
        source = t.outerjoin(
            v, sa.and_(v.c.trial_id == t.c.trial_id, v.c.objective == sort.objective)
        )
        key = v.c.value
    elif sort.attr is not None:
        a = _ATTRS.alias("sort_attr")
        source = t.outerjoin(a, sa.and_(a.c.trial_id == t.c.trial_id, a.c.key == sort.attr))
        # The driver writes these attributes as JSON numbers, which both databases can cast.
        key = sa.cast(a.c.value_json, sa.Float)
    order: list[sa.ColumnElement[Any]] = []
    if key is not None:
        order += [sa.case((key.is_(None), 1), else_=0), key.desc() if descending else key.asc()]
        order.append(t.c.number.asc())
    else:
        order.append(t.c.number.desc() if descending else t.c.number.asc())
    query = sa.select(t.c.trial_id).select_from(source).where(where).order_by(*order)
    ids = list(conn.scalars(query.limit(limit).offset(offset)))
    return ids, int(count)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _IDS_PER_QUERY):
        yield ids[start : start + _IDS_PER_QUERY]


def load_trials(
    conn: sa.Connection,
    study_id: int,
    *,
    trial_ids: Sequence[int] | None = None,
    state: TrialState | None = None,
    only_attrs: Collection[str] | None = None,
    skip_attrs: Collection[str] = (),
) -> list[StoredTrial]:
    """Trials by id (in the order given), or all of the study's (in a state, when given), in
    number order; with the user attributes named in `only_attrs` (all when None) minus
    `skip_attrs`."""
    if trial_ids is not None:
        found: dict[int, StoredTrial] = {}
        for chunk in _chunks(trial_ids):
            chosen = _TRIALS.c.trial_id.in_(chunk)
            found.update({s.trial_id: s for s in _load(conn, chosen, only_attrs, skip_attrs)})
        return [found[i] for i in trial_ids if i in found]
    selected: sa.ColumnElement[bool] = _TRIALS.c.study_id == study_id
    if state is not None:
        selected = sa.and_(selected, _TRIALS.c.state == state)
    return sorted(_load(conn, selected, only_attrs, skip_attrs), key=lambda s: s.number)


def _load(
    conn: sa.Connection,
    selected: sa.ColumnElement[bool],
    only_attrs: Collection[str] | None,
    skip_attrs: Collection[str],
) -> list[StoredTrial]:
    t, v, a = _TRIALS, _VALUES, _ATTRS
    rows = conn.execute(
        sa.select(
            t.c.trial_id, t.c.number, t.c.state, t.c.datetime_start, t.c.datetime_complete
        ).where(selected)
    ).all()
    if not rows:
        return []
    ids = sa.select(t.c.trial_id).where(selected)
    values: dict[int, list[float]] = {}
    value_rows = conn.execute(
        sa.select(v.c.trial_id, v.c.value, v.c.value_type)
        .where(v.c.trial_id.in_(ids))
        .order_by(v.c.trial_id, v.c.objective)
    )
    for trial_id, value, value_type in value_rows:
        kind = getattr(value_type, "name", value_type)  # a str, or an enum on some drivers
        number = _INFINITE.get(str(kind), value)
        values.setdefault(trial_id, []).append(float(number))
    attr_filter: sa.ColumnElement[bool] = a.c.trial_id.in_(ids)
    if only_attrs is not None:
        attr_filter = sa.and_(attr_filter, a.c.key.in_(sorted(only_attrs)))
    if skip_attrs:
        attr_filter = sa.and_(attr_filter, a.c.key.not_in(sorted(skip_attrs)))
    attrs: dict[int, dict[str, Any]] = {}
    for trial_id, key, value_json in conn.execute(
        sa.select(a.c.trial_id, a.c.key, a.c.value_json).where(attr_filter)
    ):
        attrs.setdefault(trial_id, {})[key] = json.loads(value_json)
    return [
        StoredTrial(
            trial_id=trial_id,
            number=number,
            state=state,
            values=values.get(trial_id),
            user_attrs=attrs.get(trial_id, {}),
            started_at=_utc(started),
            completed_at=_utc(completed),
        )
        for trial_id, number, state, started, completed in rows
    ]


def attr_by_number(
    conn: sa.Connection, study_id: int, key: str, numbers: Sequence[int]
) -> dict[int, Any]:
    """One user attribute of the trials numbered `numbers` (those that have it)."""
    t, a = _TRIALS, _ATTRS
    found: dict[int, Any] = {}
    for chunk in _chunks(numbers):
        query = (
            sa.select(t.c.number, a.c.value_json)
            .select_from(t.join(a, a.c.trial_id == t.c.trial_id))
            .where(t.c.study_id == study_id, t.c.number.in_(chunk), a.c.key == key)
        )
        found.update({number: json.loads(value) for number, value in conn.execute(query)})
    return found


def complete_trial_ids(conn: sa.Connection, study_id: int) -> list[int]:
    query = sa.select(_TRIALS.c.trial_id).where(
        _TRIALS.c.study_id == study_id, _TRIALS.c.state == TrialState.COMPLETE
    )
    return list(conn.scalars(query.order_by(_TRIALS.c.trial_id)))


def trial_id_of(conn: sa.Connection, study_id: int, number: int) -> int | None:
    query = sa.select(_TRIALS.c.trial_id).where(
        _TRIALS.c.study_id == study_id, _TRIALS.c.number == number
    )
    return conn.scalar(query)

"""The SQL reads of search.results against Optuna's own API, on SQLite and PostgreSQL: sorted,
filtered and paginated trial lists, one trial with its curve, progress, the front, the
hypervolume history, and the memo that spares a poll of an unchanged study."""

from __future__ import annotations

import itertools
import random
from typing import Any

import optuna
import pytest

from search import finished as finished_module
from search import pareto
from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_ERROR,
    ATTR_REJECTED,
    ATTR_TEST_ACCURACY,
    TrialRecord,
    trial_record,
)
from search.results import (
    SORT_ATTRS,
    finished_trials,
    get_trial,
    get_trial_detail,
    hypervolume_history,
    job_summary,
    list_trials,
    pareto_front,
    read_progress,
    sort_keys,
    study_version,
    trial_archs,
)
from search.study import open_storage, study_name

OBJECTIVES = ["accuracy", "params", "spike_rate"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
JOB = 3
STATES = ["waiting", "running", "complete", "failed", "pruned", "rejected"]


def _arch(number: int) -> dict[str, Any]:
    return {"stages": [{"dim": 8 * (1 + number % 4)}], "marker": number}


def _fill(study: optuna.Study, n: int, seed: int) -> None:
    """Trials in every state a job produces, with ties, gaps in attributes, and completions out
    of number order."""
    rng = random.Random(seed)
    pending: list[optuna.Trial] = []
    for number in range(n):
        kind = rng.choice(["complete"] * 6 + ["early", "failed", "rejected", "running", "bare"])
        trained = 3 if kind != "early" else 1
        attrs: dict[str, Any] = {ATTR_ARCH: _arch(number), ATTR_BUDGET_EPOCHS: 3}
        if kind in ("complete", "early"):
            attrs[ATTR_EPOCHS_TRAINED] = trained
            attrs[ATTR_CURVE] = [{"epoch": e, "accuracy": 0.1 * e} for e in range(1, trained + 1)]
            if kind == "early":
                attrs[ATTR_EARLY_STOPPED] = True
            if rng.random() < 0.8:
                attrs[ATTR_TEST_ACCURACY] = round(rng.random(), 1)  # ties on purpose
            if rng.random() < 0.8:
                attrs[ATTR_DURATION_S] = rng.choice([1.5, 2.0, 10.0, 100.0])
            values = [round(rng.random(), 1), float(rng.choice([100, 1000, 5000])), rng.random()]
            if rng.random() < 0.3:  # completes after trials numbered after it
                trial = study.ask()
                for key, value in attrs.items():
                    trial.set_user_attr(key, value)
                pending.append(trial)
                setattr(trial, "_values_to_tell", values)  # noqa: B010
                continue
            study.add_trial(optuna.trial.create_trial(values=values, user_attrs=attrs))
        elif kind == "failed":
            attrs[ATTR_ERROR] = f"boom {number}"
            state = optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(state=state, user_attrs=attrs))
        elif kind == "rejected":
            attrs[ATTR_REJECTED] = "too many parameters"
            state = optuna.trial.TrialState.FAIL
            study.add_trial(optuna.trial.create_trial(state=state, user_attrs=attrs))
        elif kind == "running":
            study.ask().set_user_attr(ATTR_ARCH, _arch(number))
        else:  # a trial with nothing recorded at all, as if its driver died at once
            study.add_trial(
                optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, user_attrs={})
            )
    study.enqueue_trial({})  # a waiting trial
    rng.shuffle(pending)
    for trial in pending:
        study.tell(trial, getattr(trial, "_values_to_tell"))  # noqa: B009


@pytest.fixture
def storage(database_url: str) -> optuna.storages.RDBStorage:
    storage = open_storage(database_url)
    study = optuna.create_study(study_name=study_name(JOB), storage=storage, directions=DIRECTIONS)
    _fill(study, 70, seed=5)
    return storage


def _reference(storage: optuna.storages.BaseStorage) -> list[TrialRecord]:
    """What Optuna's own API says, through the one definition of a record."""
    study = optuna.load_study(study_name=study_name(JOB), storage=storage)
    return [trial_record(t, OBJECTIVES) for t in study.get_trials()]


def _sort_value(record: TrialRecord, sort: str) -> float | None:
    if sort == "number":
        return record.number
    if sort in OBJECTIVES:
        return record.values.get(sort)
    value = getattr(record, sort)
    if sort == "epochs_trained" and record.epochs_trained == 0:
        return None  # the record defaults a missing attribute to 0; the table has none
    return value


def _expected_order(
    records: list[TrialRecord], sort: str, descending: bool, state: str | None
) -> list[int]:
    chosen = [r for r in records if state is None or r.state == state]
    with_key = [r for r in chosen if _sort_value(r, sort) is not None]
    without = [r for r in chosen if _sort_value(r, sort) is None]
    if sort == "number":
        with_key.sort(key=lambda r: r.number, reverse=descending)
    else:
        sign = -1 if descending else 1
        with_key.sort(key=lambda r: (sign * _sort_value(r, sort), r.number))  # type: ignore[operator]
    return [r.number for r in with_key + sorted(without, key=lambda r: r.number)]


def test_sort_keys() -> None:
    assert sort_keys(["accuracy"]) == ["number", "accuracy", *SORT_ATTRS]
    with pytest.raises(ValueError, match="sort must be one of"):
        list_trials(open_storage("sqlite://"), 1, ["accuracy"], 10, 0, sort="params")


def test_sorted_pages_match_optuna(storage: optuna.storages.RDBStorage) -> None:
    # One study for every combination: filling it is the slow part.
    reference = {r.number: r for r in _reference(storage)}
    combinations = itertools.product(
        sort_keys(OBJECTIVES), [False, True], [None, "complete", "failed"]
    )
    for sort, descending, state in combinations:
        expected = _expected_order(list(reference.values()), sort, descending, state)
        seen: list[int] = []
        for offset in range(0, len(expected) + 7, 7):
            page, count = list_trials(
                storage, JOB, OBJECTIVES, 7, offset, sort=sort, descending=descending, state=state
            )
            assert count == len(expected)
            assert all(r == reference[r.number] for r in page)  # every field, arch included
            seen += [r.number for r in page]
        assert seen == expected, (sort, descending, state)


def test_state_filter_matches_records(storage: optuna.storages.RDBStorage) -> None:
    reference = _reference(storage)
    for state in STATES:
        page, count = list_trials(storage, JOB, OBJECTIVES, 1000, 0, state=state)  # type: ignore[arg-type]
        assert [r.number for r in page] == [r.number for r in reference if r.state == state]
        assert count == len(page) and count > 0, state


def test_default_list_is_the_old_contract(storage: optuna.storages.RDBStorage) -> None:
    reference = _reference(storage)
    page, count = list_trials(storage, JOB, OBJECTIVES, 20, 10)
    assert page == reference[10:30] and count == len(reference)


def test_one_trial_and_its_detail(storage: optuna.storages.RDBStorage) -> None:
    study = optuna.load_study(study_name=study_name(JOB), storage=storage)
    for trial in study.get_trials():
        expected = trial_record(trial, OBJECTIVES)
        assert get_trial(storage, JOB, OBJECTIVES, trial.number) == expected
        detail = get_trial_detail(storage, JOB, OBJECTIVES, trial.number)
        assert detail is not None
        assert TrialRecord(**detail.model_dump(include=set(TrialRecord.model_fields))) == expected
        assert detail.curve == trial.user_attrs.get(ATTR_CURVE, [])
        assert detail.error == trial.user_attrs.get(ATTR_REJECTED, trial.user_attrs.get(ATTR_ERROR))
        if trial.datetime_complete is not None:
            assert detail.completed_at is not None
            assert detail.completed_at.astimezone().replace(tzinfo=None) == trial.datetime_complete
    assert get_trial(storage, JOB, OBJECTIVES, 10_000) is None
    assert get_trial_detail(storage, JOB + 1, OBJECTIVES, 0) is None


def test_progress_matches_records(storage: optuna.storages.RDBStorage) -> None:
    reference = _reference(storage)
    progress = read_progress(storage, JOB, total=100)
    for state in ("complete", "running", "failed"):
        assert getattr(progress, state) == sum(r.state == state for r in reference)


def test_front_matches_the_quadratic_definition(storage: optuna.storages.RDBStorage) -> None:
    reference = _reference(storage)
    eligible = [
        r for r in reference if r.trained_full_budget and all(o in r.values for o in OBJECTIVES)
    ]
    points = [pareto.costs(r.values, OBJECTIVES) for r in eligible]
    expected = [eligible[i] for i in pareto.non_dominated(points)]
    front, volume = pareto_front(storage, JOB, OBJECTIVES)
    assert sorted(r.number for r in front) == sorted(r.number for r in expected)
    assert all(r.arch == _arch(r.number) for r in front)
    accuracies = [r.values["accuracy"] for r in front]
    assert accuracies == sorted(accuracies, reverse=True)
    assert volume == pytest.approx(
        pareto.front_hypervolume([r.values for r in expected], OBJECTIVES)
    )
    records, _ = finished_trials(storage, JOB, OBJECTIVES)
    assert {f.record.number for f in records if f.on_front} == {r.number for r in front}


def test_history_ends_at_the_fronts_volume(storage: optuna.storages.RDBStorage) -> None:
    history, started_at, _ = hypervolume_history(storage, JOB, OBJECTIVES)
    _, volume = pareto_front(storage, JOB, OBJECTIVES)
    complete = [r for r in _reference(storage) if r.state == "complete"]
    assert len(history) == len(complete)
    assert history[-1].hypervolume == pytest.approx(volume)
    assert started_at is not None
    times = [p.completed_at for p in history]
    assert times == sorted(times)  # type: ignore[type-var]
    assert all(p.elapsed_s is not None and p.elapsed_s >= 0 for p in history)
    # Trials told after later-numbered ones appear in completion order, not number order.
    assert [p.number for p in history] != sorted(p.number for p in history)
    summary = job_summary(storage, JOB, OBJECTIVES)
    assert summary.finished == len(complete)
    assert summary.front_size == len(pareto_front(storage, JOB, OBJECTIVES)[0])
    eligible = [r for r in complete if r.trained_full_budget]
    assert summary.best_accuracy == max(r.values["accuracy"] for r in eligible)


def test_history_follows_a_live_study(storage: optuna.storages.RDBStorage) -> None:
    """Trials finishing while the dashboard polls: the extended history equals one computed
    from scratch."""
    study = optuna.load_study(study_name=study_name(JOB), storage=storage)
    before = study_version(storage, JOB)
    assert study_version(storage, JOB) == before  # reading changes nothing
    hypervolume_history(storage, JOB, OBJECTIVES)
    attrs = {ATTR_BUDGET_EPOCHS: 3, ATTR_EPOCHS_TRAINED: 3}
    study.add_trial(optuna.trial.create_trial(values=[0.99, 100.0, 0.01], user_attrs=attrs))
    assert study_version(storage, JOB) != before
    extended, _, _ = hypervolume_history(storage, JOB, OBJECTIVES)
    extended_front = pareto_front(storage, JOB, OBJECTIVES)
    finished_module._STATES.clear()  # forget everything
    fresh, _, _ = hypervolume_history(storage, JOB, OBJECTIVES)
    assert extended == fresh
    assert extended[-1].hypervolume > extended[-2].hypervolume
    assert pareto_front(storage, JOB, OBJECTIVES) == extended_front


def test_polls_read_only_what_finished_since(
    storage: optuna.storages.RDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[int] = []
    real = finished_module.load_trials

    def counting(*args: Any, **kwargs: Any) -> Any:
        read.extend(kwargs["trial_ids"])
        return real(*args, **kwargs)

    monkeypatch.setattr(finished_module, "load_trials", counting)
    finished_module._STATES.clear()
    for _ in range(3):
        finished_trials(storage, JOB, OBJECTIVES)
        hypervolume_history(storage, JOB, OBJECTIVES)
        job_summary(storage, JOB, OBJECTIVES)
    complete = sum(r.state == "complete" for r in _reference(storage))
    assert len(read) == complete  # each complete trial once, for all those reads
    study = optuna.load_study(study_name=study_name(JOB), storage=storage)
    attrs = {ATTR_BUDGET_EPOCHS: 3, ATTR_EPOCHS_TRAINED: 3}
    study.add_trial(optuna.trial.create_trial(values=[0.5, 100.0, 0.5], user_attrs=attrs))
    study.ask()  # a trial that starts changes the study, and reads nothing more
    finished_trials(storage, JOB, OBJECTIVES)
    assert len(read) == complete + 1


def test_archs_by_number(storage: optuna.storages.RDBStorage) -> None:
    numbers = [r.number for r in _reference(storage) if r.arch is not None]
    assert trial_archs(storage, JOB, numbers) == {n: _arch(n) for n in numbers}
    assert trial_archs(storage, JOB + 1, numbers) == {}


def test_job_without_a_study(database_url: str) -> None:
    storage = open_storage(database_url)
    assert list_trials(storage, 9, OBJECTIVES, 10, 0, sort="accuracy", state="complete") == ([], 0)
    assert hypervolume_history(storage, 9, OBJECTIVES) == ([], None, "none")
    assert study_version(storage, 9) == "none"
    summary = job_summary(storage, 9, OBJECTIVES)
    assert (summary.finished, summary.best_accuracy, summary.front_size) == (0, None, 0)


def test_other_storages_are_refused() -> None:
    with pytest.raises(TypeError, match="RDBStorage"):
        read_progress(optuna.storages.InMemoryStorage(), 1, total=1)


def test_reads_in_chunks_of_ids(
    storage: optuna.storages.RDBStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long id lists go in several queries (databases cap bound parameters): same answers."""
    from search import study_tables

    expected_archs = trial_archs(storage, JOB, list(range(100)))
    expected_page = list_trials(storage, JOB, OBJECTIVES, 60, 0, sort="accuracy")
    monkeypatch.setattr(study_tables, "_IDS_PER_QUERY", 7)
    finished_module._STATES.clear()
    assert trial_archs(storage, JOB, list(range(100))) == expected_archs
    assert list_trials(storage, JOB, OBJECTIVES, 60, 0, sort="accuracy") == expected_page
    records, _ = finished_trials(storage, JOB, OBJECTIVES)
    assert len(records) == sum(r.state == "complete" for r in _reference(storage))

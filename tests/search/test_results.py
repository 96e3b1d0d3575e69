"""Reading a job's study back from a real SQLite Optuna storage: progress, trials, the front."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest

from search.export import export_trial_module, trial_arch
from search.pareto import front_hypervolume
from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_ERROR,
    ATTR_TEST_ACCURACY,
    trial_record,
)
from search.results import get_trial, list_trials, pareto_front, read_progress
from search.study import StudyNotFound, load_study, open_storage, study_name
from spaces.arch import ArchSpec
from spaces.errors import ExportError

OBJECTIVES = ["accuracy", "params", "spike_rate"]
DIRECTIONS = ["maximize", "minimize", "minimize"]
ARCH = ArchSpec.model_validate(
    {
        "input_shape": (8, 8),
        "num_classes": 10,
        "time_steps": 2,
        "downsample": 2,
        "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}}]}],
    }
).model_dump(mode="json")


def _attrs(epochs: int = 3, **extra: Any) -> dict[str, Any]:
    attrs = {
        ATTR_ARCH: ARCH,
        ATTR_BUDGET_EPOCHS: 3,
        ATTR_EPOCHS_TRAINED: epochs,
        ATTR_CURVE: [{"epoch": e, "accuracy": 0.1 * e} for e in range(1, epochs + 1)],
        ATTR_DURATION_S: 12.5,
    }
    attrs.update(extra)
    return attrs


def _complete(values: tuple[float, float, float], **attrs: Any) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(values=list(values), user_attrs=_attrs(**attrs))


@pytest.fixture
def storage(tmp_path: Path) -> optuna.storages.RDBStorage:
    # open_storage is cached per URL: a unique file per test keeps the cache honest.
    return open_storage(f"sqlite:///{tmp_path}/optuna-{uuid.uuid4().hex}.db")


@pytest.fixture(scope="module")
def job7(tmp_path_factory: pytest.TempPathFactory) -> optuna.storages.RDBStorage:
    """One study, read (never written) by the tests that use it."""
    storage = open_storage(f"sqlite:///{tmp_path_factory.mktemp('job7')}/optuna.db")
    study = optuna.create_study(study_name=study_name(7), storage=storage, directions=DIRECTIONS)
    # 0: on the front (most accurate of the full-budget trials)
    study.add_trial(_complete((0.9, 1000.0, 0.1), **{ATTR_TEST_ACCURACY: 0.88}))
    # 1: on the front (fewer parameters)
    study.add_trial(_complete((0.8, 500.0, 0.2), **{ATTR_TEST_ACCURACY: 0.79}))
    # 2: dominated by 0
    study.add_trial(_complete((0.7, 2000.0, 0.3)))
    # 3: early-stopped with better values than anyone: never on the front
    study.add_trial(_complete((0.99, 10.0, 0.01), epochs=1, **{ATTR_EARLY_STOPPED: True}))
    # 4: failed
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL,
            user_attrs={ATTR_ARCH: ARCH, ATTR_ERROR: "boom", ATTR_BUDGET_EPOCHS: 3},
        )
    )
    # 5: running
    study.ask()
    # 6: on the front (lowest spike rate); no early-stopped tag but trained its budget
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.6, 3000.0, 0.05],
            user_attrs={ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 3, ATTR_EPOCHS_TRAINED: 3},
        )
    )
    # 7: stopped short of its budget, untagged: the record derives early_stopped
    study.add_trial(
        optuna.trial.create_trial(
            values=[0.95, 100.0, 0.02],
            user_attrs={ATTR_ARCH: ARCH, ATTR_BUDGET_EPOCHS: 3, ATTR_EPOCHS_TRAINED: 2},
        )
    )
    return storage


def test_open_storage_is_cached_per_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cache-{uuid.uuid4().hex}.db"
    assert open_storage(url) is open_storage(url)
    assert open_storage(url) is not open_storage(f"sqlite:///{tmp_path}/other.db")


def test_load_study_of_a_job_without_one(storage: optuna.storages.RDBStorage) -> None:
    with pytest.raises(StudyNotFound, match="job 8"):
        load_study(storage, 8)
    assert issubclass(StudyNotFound, LookupError)


def test_read_progress_counts(job7: optuna.storages.RDBStorage) -> None:
    progress = read_progress(job7, 7, total=20)
    assert progress.model_dump() == {"complete": 6, "running": 1, "failed": 1, "total": 20}


def test_read_progress_of_a_job_without_study(storage: optuna.storages.RDBStorage) -> None:
    progress = read_progress(storage, 8, total=5)
    assert progress.model_dump() == {"complete": 0, "running": 0, "failed": 0, "total": 5}
    assert list_trials(storage, 8, OBJECTIVES, limit=10, offset=0) == ([], 0)
    assert get_trial(storage, 8, OBJECTIVES, 0) is None
    assert pareto_front(storage, 8, OBJECTIVES) == ([], 0.0)


def test_list_trials_pages(job7: optuna.storages.RDBStorage) -> None:
    page, count = list_trials(job7, 7, OBJECTIVES, limit=3, offset=0)
    assert count == 8
    assert [r.number for r in page] == [0, 1, 2]
    page, count = list_trials(job7, 7, OBJECTIVES, limit=3, offset=3)
    assert [r.number for r in page] == [3, 4, 5]
    page, count = list_trials(job7, 7, OBJECTIVES, limit=10, offset=6)
    assert [r.number for r in page] == [6, 7] and count == 8
    page, count = list_trials(job7, 7, OBJECTIVES, limit=10, offset=100)
    assert page == [] and count == 8
    everything, _ = list_trials(job7, 7, OBJECTIVES, limit=100, offset=0)
    assert [r.state for r in everything] == [
        "complete",
        "complete",
        "complete",
        "complete",
        "failed",
        "running",
        "complete",
        "complete",
    ]


def test_get_trial(job7: optuna.storages.RDBStorage) -> None:
    record = get_trial(job7, 7, OBJECTIVES, 0)
    assert record is not None
    assert record.number == 0
    assert record.state == "complete"
    assert record.values == {"accuracy": 0.9, "params": 1000.0, "spike_rate": 0.1}
    assert record.arch == ARCH
    assert record.test_accuracy == 0.88
    assert record.epochs_trained == 3
    assert record.early_stopped is False
    assert record.duration_s == 12.5
    assert record.trained_full_budget

    early = get_trial(job7, 7, OBJECTIVES, 3)
    assert early is not None and early.early_stopped and not early.trained_full_budget
    derived = get_trial(job7, 7, OBJECTIVES, 7)
    assert derived is not None and derived.early_stopped  # 2 of 3 epochs, no tag
    failed = get_trial(job7, 7, OBJECTIVES, 4)
    assert failed is not None and failed.state == "failed" and failed.values == {}
    running = get_trial(job7, 7, OBJECTIVES, 5)
    assert running is not None and running.state == "running" and running.values == {}
    assert running.arch is None and running.epochs_trained == 0
    assert get_trial(job7, 7, OBJECTIVES, 99) is None


def test_pareto_front(job7: optuna.storages.RDBStorage) -> None:
    front, hv = pareto_front(job7, 7, OBJECTIVES)
    assert [r.number for r in front] == [0, 1, 6]  # sorted by accuracy, best first
    assert all(r.trained_full_budget for r in front)
    assert hv > 0
    assert hv == pytest.approx(front_hypervolume([r.values for r in front], OBJECTIVES))
    # The early-stopped trials would have dominated everything: they must not count.
    with_early = front_hypervolume(
        [r.values for r in front] + [{"accuracy": 0.99, "params": 10.0, "spike_rate": 0.01}],
        OBJECTIVES,
    )
    assert with_early > hv


def test_pareto_front_on_a_subset_of_objectives(job7: optuna.storages.RDBStorage) -> None:
    front, hv = pareto_front(job7, 7, ["accuracy"])
    # Values are named by position: "accuracy" is the first value of every trial.
    assert [r.number for r in front] == [0]
    assert hv == pytest.approx(0.9)


def test_trial_record_of_a_frozen_trial() -> None:
    trial = _complete((0.5, 10.0, 0.5))
    record = trial_record(trial, OBJECTIVES)
    assert record.values == {"accuracy": 0.5, "params": 10.0, "spike_rate": 0.5}
    assert record.model_dump_json()  # JSON-serialisable for the API


def test_export_trial_module(job7: optuna.storages.RDBStorage) -> None:
    record = get_trial(job7, 7, OBJECTIVES, 0)
    assert record is not None
    source = export_trial_module(record)
    assert "def build_model" in source
    assert trial_arch(record) == ArchSpec.model_validate(ARCH)
    compile(source, "exported.py", "exec")


def test_export_without_or_with_a_broken_arch(job7: optuna.storages.RDBStorage) -> None:
    running = get_trial(job7, 7, OBJECTIVES, 5)
    assert running is not None
    with pytest.raises(ExportError, match="trial 5 has no architecture"):
        export_trial_module(running)
    broken = running.model_copy(update={"arch": {**ARCH, "downsample": 3}})
    with pytest.raises(ExportError, match="trial 5 has an invalid architecture"):
        export_trial_module(broken)

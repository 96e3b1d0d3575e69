"""The job spec: every field bounded, unknown fields and repeats refused, directions derived."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from search.job_spec import DIRECTIONS, JobSpec, Objective
from workers.dataset_ref import DigitsDataset, NpzDataset


def _job(**overrides: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "name": "tiny",
        "dataset": {"name": "digits"},
        "n_trials": 4,
        "budget": {"epochs": 2},
    }
    job.update(overrides)
    return job


def test_minimal_job_and_defaults() -> None:
    spec = JobSpec.model_validate(_job())
    assert isinstance(spec.dataset, DigitsDataset)
    assert spec.max_concurrent == 1
    assert spec.sampler == "nsga2"
    assert spec.objectives == ("accuracy", "params", "spike_rate")
    assert spec.directions == ["maximize", "minimize", "minimize"]
    assert spec.seed == 0
    assert spec.budget.epochs == 2
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"n_trials": 100_001}, "n_trials"),
        ({"budget": {"epochs": 0}}, "budget.epochs"),
        ({"budget": {"epochs": 1001}}, "budget.epochs"),
        ({"budget": {"epochs": 1, "batch_size": 5000}}, "budget.batch_size"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_concurrent": 257}, "max_concurrent"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
        ({"cpus_per_trial": 0}, "cpus_per_trial"),
        ({"gpus_per_trial": -1}, "gpus_per_trial"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"sampler": "grid"}, "sampler"),
        ({"objectives": []}, "objectives"),
        ({"objectives": ["latency"]}, "objectives"),
        ({"priority": 3}, "priority"),
        ({"budget": {"epochs": 1, "optimizer": "sgd"}}, "budget.optimizer"),
        ({"space": {"dims": [16], "depth": 3}}, "space.depth"),
        ({"dataset": {"name": "mnist"}}, "dataset"),
        ({"dataset": {"name": "npz", "path": "../x.npz"}}, r"dataset\.npz\.path"),
        ({"dataset": {"name": "npz", "path": "/data/x.npz"}}, r"dataset\.npz\.path"),
        ({"space": {"dims": [12]}}, "space.dims"),
        ({"time_budget_s": 0}, "time_budget_s"),
        ({"sampler_options": {"population_size": 1}}, r"sampler_options\.population_size"),
        ({"sampler_options": {"n_startup_trials": -1}}, r"sampler_options\.n_startup_trials"),
        ({"sampler_options": {"generations": 3}}, r"sampler_options\.generations"),
        (
            {"sampler": "random", "sampler_options": {"population_size": 8}},
            "sampler_options: population_size applies to nsga2 and nsga3, not random",
        ),
    ],
)
def test_job_spec_rejects(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        JobSpec.model_validate(_job(**overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"n_trials": 1},
        {"n_trials": 100_000},
        {"max_concurrent": 256},
        {"budget": {"epochs": 1000}},
        {"seed": 2**31 - 1},
        {"dataset": {"name": "npz", "path": "sets/a.npz"}},
        {"time_budget_s": 3600, "sampler": "tpe", "sampler_options": {"n_startup_trials": 0}},
        {"sampler": "nsga3", "sampler_options": {"population_size": 2}},
    ],
)
def test_job_spec_accepts_bounds(overrides: dict[str, Any]) -> None:
    JobSpec.model_validate(_job(**overrides))


def test_npz_dataset() -> None:
    spec = JobSpec.model_validate(_job(dataset={"name": "npz", "path": "sets/a.npz"}))
    assert isinstance(spec.dataset, NpzDataset) and spec.dataset.path == "sets/a.npz"


def test_repeated_objectives_rejected() -> None:
    with pytest.raises(ValidationError, match="objectives has repeated values"):
        JobSpec.model_validate(_job(objectives=["accuracy", "params", "accuracy"]))


@pytest.mark.parametrize(
    ("objectives", "directions"),
    [
        (["accuracy"], ["maximize"]),
        (["params", "accuracy"], ["minimize", "maximize"]),
        (["spike_rate", "params"], ["minimize", "minimize"]),
    ],
)
def test_directions_follow_objectives(objectives: list[str], directions: list[str]) -> None:
    assert JobSpec.model_validate(_job(objectives=objectives)).directions == directions


def test_every_objective_has_a_direction() -> None:
    assert set(DIRECTIONS) == set(Objective.__args__)
    assert set(DIRECTIONS.values()) <= {"maximize", "minimize"}


def test_job_spec_is_frozen() -> None:
    spec = JobSpec.model_validate(_job())
    with pytest.raises(ValidationError):
        spec.n_trials = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ({"min_depth": 5, "max_depth": 2}, "min_depth"),
        ({"mixers": ["ssa", "sdsa"], "event_driven_only": True}, "mixers"),
    ],
)
def test_impossible_space_is_refused_at_submission(space: dict[str, Any], field: str) -> None:
    """ "No request can ask for the impossible": constraints that no data set can satisfy are
    refused when the job is submitted (422), not when its driver starts."""
    with pytest.raises(ValidationError, match=field):
        JobSpec.model_validate(_job(space=space))


def test_a_job_whose_space_cannot_inherit_time_steps_is_refused_naming_the_field() -> None:
    """Time inheritance trains first at a T below the candidate's: a space with a T at or
    below it could not train that candidate, so the job is refused at submission."""
    budget = {"epochs": 3, "inherit_time_steps": 2, "inherit_epochs": 1}
    with pytest.raises(ValidationError, match=r"budget\.inherit_time_steps \(2\)"):
        JobSpec.model_validate(_job(budget=budget, space={"time_steps": [2, 4]}))
    ok = JobSpec.model_validate(_job(budget=budget, space={"time_steps": [4, 8]}))
    assert ok.budget.inherit_time_steps == 2 and ok.budget.inherit_epochs == 1


# --- the input encoding ------------------------------------------------------------------------


def test_encoding_defaults_to_direct() -> None:
    assert JobSpec.model_validate(_job()).encoding == "direct"


@pytest.mark.parametrize(
    "overrides",
    [
        {"encoding": "rate"},
        {"encoding": "rate", "dataset": {"name": "cifar10", "path": "c10"}},
        {"encoding": "events", "dataset": {"name": "npz", "path": "dvs.npz"}},
        {"encoding": "direct", "dataset": {"name": "npz", "path": "dvs.npz"}},
    ],
)
def test_encoding_accepted(overrides: dict[str, Any]) -> None:
    spec = JobSpec.model_validate(_job(**overrides))
    assert spec.encoding == overrides["encoding"]
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"encoding": "poisson"}, r"encoding\n.*'direct', 'rate' or 'events'"),
        ({"encoding": "events"}, r"encoding\n.*'events' needs event frames.*'digits'"),
        (
            {"encoding": "events", "dataset": {"name": "cifar100", "path": "c"}},
            r"encoding\n.*dataset 'cifar100' holds static images",
        ),
    ],
)
def test_encoding_rejected_naming_the_field(overrides: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ValidationError, match=pattern):
        JobSpec.model_validate(_job(**overrides))

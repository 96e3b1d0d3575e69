"""The driver refuses a job whose encoding its data set cannot feed, before Ray starts: the
error names `encoding` (or `space.time_steps`) and the data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from search.driver import DriverConfig, run_job
from search.job_spec import JobSpec
from spaces.errors import DataError, SpecError
from workers.budget import Budget


def _job(path: str, encoding: str, **space: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "encoding-test",
            "dataset": {"name": "npz", "path": path},
            "encoding": encoding,
            "n_trials": 1,
            "budget": {"epochs": 1},
            "space": space,
        }
    )


@pytest.fixture
def config(tmp_path: Path) -> DriverConfig:
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    y = np.arange(10) % 2
    np.savez(data / "dvs.npz", x_train=rng.random((10, 6, 1, 4, 4)), y_train=y,
             x_test=rng.random((10, 6, 1, 4, 4)), y_test=y)  # fmt: skip
    np.savez(data / "raw.npz", x_train=rng.random((10, 4, 4)) * 255, y_train=y,
             x_test=rng.random((10, 4, 4)) * 255, y_test=y)  # fmt: skip
    return DriverConfig(
        database_url=f"sqlite:///{tmp_path}/driver.db",
        data_dir=data,
        artifacts_dir=tmp_path / "artifacts",
    )


@pytest.mark.parametrize(
    ("path", "encoding", "error", "pattern"),
    [
        ("dvs.npz", "direct", DataError, r"encoding 'direct'.*dvs\.npz holds event frames"),
        ("dvs.npz", "rate", DataError, r"encoding 'rate'.*dvs\.npz holds event frames"),
        ("raw.npz", "events", DataError, r"encoding 'events'.*raw\.npz holds static samples"),
        ("raw.npz", "rate", DataError, r"encoding 'rate'.*raw\.npz has values in \[1\.3.*, 254"),
    ],
)
def test_mismatch_fails_before_ray_starts(
    config: DriverConfig, path: str, encoding: str, error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        run_job(1, _job(path, encoding), config)
    assert not ray.is_initialized()


def test_no_time_steps_dividing_the_frames_fails_naming_the_field(config: DriverConfig) -> None:
    with pytest.raises(SpecError, match=r"space\.time_steps.*6 frames"):
        run_job(1, _job("dvs.npz", "events", time_steps=[4, 5]), config)
    assert not ray.is_initialized()


def test_inherited_time_steps_not_dividing_the_frames_fails_before_ray_starts(
    config: DriverConfig,
) -> None:
    """Epochs at the smaller T group the frames too: 6 frames cannot make 4 steps."""
    job = _job("dvs.npz", "events", time_steps=[6]).model_copy(
        update={"budget": Budget(epochs=2, inherit_time_steps=4, inherit_epochs=1)}
    )
    with pytest.raises(DataError, match=r"budget\.inherit_time_steps 4 does not divide.*6 frames"):
        run_job(1, job, config)
    assert not ray.is_initialized()

"""The small real jobs and architectures that tests run end to end: a tiny space on the bundled
digits, so that a job of a few trials ends in seconds on 2 cores. Each test states what it
changes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the driver imports Ray: only the tests that run one pay for it
    from search.driver import DriverConfig

# One block of width 16 at T = 2 on a 4x4 token grid: the cheapest candidate the space allows.
TINY_SPACE: dict[str, Any] = {
    "dims": [16],
    "min_depth": 1,
    "max_depth": 1,
    "time_steps": [2],
    "downsample": [2],
}


def tiny_job(name: str, **overrides: Any) -> dict[str, Any]:
    """A job spec (as JSON) of 4 random trials of 2 epochs, 2 at a time, over TINY_SPACE."""
    job: dict[str, Any] = {
        "name": name,
        "dataset": {"name": "digits"},
        "n_trials": 4,
        "max_concurrent": 2,
        "budget": {"epochs": 2, "batch_size": 128},
        "sampler": "random",
        "seed": 1,
        "space": TINY_SPACE,
    }
    job.update(overrides)
    return job


# A candidate of TINY_SPACE (with a conv mixer), as `spikenas train` reads it from a file.
TINY_ARCH: dict[str, Any] = {
    "input_shape": [8, 8],
    "num_classes": 10,
    "time_steps": 2,
    "downsample": 2,
    "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "conv"}}]}],
}


def driver_config(tmp_path: Path, **overrides: Any) -> DriverConfig:
    """A driver on a local Ray of 2 CPUs, with its SQLite database and files under tmp_path."""
    from search.driver import DriverConfig

    settings: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path}/driver.db",
        "data_dir": tmp_path / "data",
        "artifacts_dir": tmp_path / "artifacts",
        "num_cpus": 2,
    }
    settings.update(overrides)
    return DriverConfig(**settings)

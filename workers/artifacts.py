"""Where a trial's files live: <artifacts_dir>/job-<id>/trial-<number>/.

Workers write them, the service serves them; on a Ray cluster the artifacts dir must be a path
every node shares.
"""

from __future__ import annotations

from pathlib import Path


def job_dir(artifacts_dir: str | Path, job_id: int) -> Path:
    return Path(artifacts_dir) / f"job-{job_id}"


def trial_dir(artifacts_dir: str | Path, job_id: int, number: int) -> Path:
    return job_dir(artifacts_dir, job_id) / f"trial-{number}"


def weights_path(artifacts_dir: str | Path, job_id: int, number: int) -> Path:
    return trial_dir(artifacts_dir, job_id, number) / "weights.pt"

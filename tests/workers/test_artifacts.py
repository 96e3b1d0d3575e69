"""The artifact layout shared by workers (writers) and the search layer and service (readers)."""

from __future__ import annotations

from pathlib import Path

import search.artifacts
from workers.artifacts import job_dir, trial_dir, weights_path


def test_layout(tmp_path: Path) -> None:
    assert job_dir(tmp_path, 7) == tmp_path / "job-7"
    assert trial_dir(str(tmp_path), 7, 3) == tmp_path / "job-7" / "trial-3"
    assert weights_path(tmp_path, 7, 3) == tmp_path / "job-7" / "trial-3" / "weights.pt"


def test_search_reads_the_same_layout() -> None:
    assert search.artifacts.weights_path is weights_path
    assert search.artifacts.trial_dir is trial_dir
    assert search.artifacts.job_dir is job_dir

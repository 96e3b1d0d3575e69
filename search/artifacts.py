"""The artifact layout, as the search layer and the service read it (written by workers/)."""

from workers.artifacts import job_dir, trial_dir, weights_path

__all__ = ["job_dir", "trial_dir", "weights_path"]

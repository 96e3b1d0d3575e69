"""The Ray Tune trainable on a real local Ray: checkpoints reported through Tune, and a trial
that crashes once resumes from its latest checkpoint instead of its first epoch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray import tune

from spaces.arch import ArchSpec
from workers.artifacts import trial_dir
from workers.checkpoint import load_state

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ARCH = {
    "input_shape": [8, 8],
    "num_classes": 10,
    "time_steps": 2,
    "downsample": 2,
    "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}}]}],
}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _crashing_once_after(epoch: int, flag: Path, log: Path) -> Callable[[dict[str, Any]], None]:
    """spikenas_trainable whose first attempt raises right after reporting `epoch`; every
    attempt logs the epochs it trained. A closure, so Ray pickles it by value."""

    def trainable(config: dict[str, Any]) -> None:
        import workers.trainable as adapter

        real = adapter.train_and_evaluate
        attempt = "first" if not flag.exists() else "retry"

        def flaky(*args: Any, **kwargs: Any) -> Any:
            report = kwargs["on_epoch"]

            def on_epoch(metrics: Any, model: Any) -> Any:
                stop = report(metrics, model)
                with log.open("a") as f:
                    f.write(json.dumps({"attempt": attempt, "epoch": metrics.epoch}) + "\n")
                if metrics.epoch == epoch and not flag.exists():
                    flag.touch()
                    raise RuntimeError(f"injected crash after epoch {epoch}")
                return stop

            return real(*args, **{**kwargs, "on_epoch": on_epoch})

        adapter.train_and_evaluate = flaky  # this worker process only
        try:
            adapter.spikenas_trainable(config)
        finally:
            adapter.train_and_evaluate = real

    return trainable


def test_a_crashed_trial_resumes_from_its_latest_checkpoint(
    local_ray: None, tmp_path: Path
) -> None:
    """4 epochs, a checkpoint after each; the first attempt dies after reporting epoch 2.
    Ray restores the trial (FailureConfig) from epoch 2's checkpoint, not epoch 1's: the retry
    trains epochs 3 and 4 only, and the trial ends with the whole curve and its weights."""
    flag, log = tmp_path / "crashed", tmp_path / "epochs.jsonl"
    config = {
        "arch": ARCH,
        "trial_number": 0,
        "job_id": 1,
        "dataset": {"name": "digits"},
        "budget": {"epochs": 4, "batch_size": 128, "checkpoint_every": 1},
        "seed": 0,
        "data_dir": str(tmp_path / "data"),
        "artifacts_dir": str(tmp_path / "artifacts"),
    }
    tuner = tune.Tuner(
        tune.with_resources(_crashing_once_after(2, flag, log), {"cpu": 1}),
        param_space=config,
        run_config=tune.RunConfig(
            name="resume",
            storage_path=str(tmp_path / "ray"),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=1),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        ),
    )
    result = tuner.fit()[0]
    assert result.error is None, result.error
    assert flag.exists(), "the first attempt did not crash"
    trained = [json.loads(line) for line in log.read_text().splitlines()]
    assert trained == [
        {"attempt": "first", "epoch": 1},
        {"attempt": "first", "epoch": 2},
        {"attempt": "retry", "epoch": 3},
        {"attempt": "retry", "epoch": 4},
    ]
    assert result.metrics["epoch"] == 4 and result.metrics["final"] is True
    assert result.metrics["test_accuracy"] is not None
    # The last checkpoint is the final state, holding the whole curve across both attempts.
    assert result.checkpoint is not None
    with result.checkpoint.as_directory() as folder:
        state = load_state(folder)
    assert state.epoch == 4 and [m["epoch"] for m in state.curve] == [1, 2, 3, 4]
    assert state.curve[-1]["accuracy"] == result.metrics["accuracy"]
    # What the rest of the product reads is where it always was.
    out = trial_dir(str(tmp_path / "artifacts"), 1, 0)
    assert (out / "weights.pt").is_file()
    assert ArchSpec.model_validate_json((out / "arch.json").read_text()) == ArchSpec.model_validate(
        ARCH
    )

"""The Ray Tune adapter: one function trainable around `train_and_evaluate`.

The Ray config carries the sampled architecture (`arch`, the full ArchSpec), the Optuna trial
number and the job's constants; it is parsed into a typed `TrialConfig` on the first line. Every
epoch is reported; before the final report the weights are written to the trial's artifact dir.
Every `budget.checkpoint_every` epochs and with the final report, the report carries a Ray Tune
checkpoint holding the resumable training state (workers/checkpoint.py). A trial that Ray
restores (a retry after its worker died, FailureConfig in search/driver.py) resumes from its
latest checkpoint first, so it trains on from there instead of from its first epoch.
All of Ray's API that workers/ uses stays in this module.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import tempfile
from typing import Any

import ray
import torch
from pydantic import BaseModel, ConfigDict
from ray import tune
from torch import nn

from spaces.arch import ArchSpec
from workers.artifacts import trial_dir
from workers.budget import Budget
from workers.checkpoint import TrainState, load_state, save_state
from workers.data import Splits, load_dataset
from workers.dataset_ref import DatasetRef
from workers.quiet_stop import install_quiet_stop
from workers.train import EpochMetrics, train_and_evaluate


class TrialConfig(BaseModel):
    """What one trial needs, as the driver puts it in the Ray config."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # the sampler's raw params ride along

    arch: ArchSpec
    trial_number: int
    job_id: int
    dataset: DatasetRef
    budget: Budget
    seed: int
    data_dir: str
    artifacts_dir: str
    cpus: float = 1.0
    gpus: float = 0.0


def spikenas_trainable(config: dict[str, Any]) -> None:
    cfg = TrialConfig.model_validate(config)
    install_quiet_stop()  # Ray's SIGTERM when Tune stops this trial prints no traceback
    torch.set_num_threads(max(1, math.floor(cfg.cpus)))
    device = "cuda" if cfg.gpus > 0 and torch.cuda.is_available() else "cpu"
    data = _job_data(cfg.dataset, cfg.data_dir, cfg.seed)
    out_dir = trial_dir(cfg.artifacts_dir, cfg.job_id, cfg.trial_number)

    # Where the trial ran, for the record (a cluster's trials land on any node).
    node = {"node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname()}

    resume = _restored_state()
    # The trainer hands over a state just before the report of the same epoch.
    due: list[TrainState] = []
    every = cfg.budget.checkpoint_every

    def keep(state: TrainState) -> None:
        # Only the periodic states go to Ray: the one the trainer also takes after the last
        # epoch would let nothing resume (weights.pt is a finished trial's result), and each
        # Tune checkpoint costs a copy and an experiment snapshot, per trial.
        if every and state.epoch % every == 0:
            due.append(state)

    def report(metrics: EpochMetrics, model: nn.Module) -> None:
        if metrics.final:
            _save(out_dir, cfg.arch, model)
        values = {**metrics.as_dict(), **node}
        if not due:
            tune.report(values)
            return
        # Ray copies the folder into the trial's storage before report returns.
        with tempfile.TemporaryDirectory(prefix="spikenas-ckpt-") as folder:
            save_state(due.pop(), folder)
            tune.report(values, checkpoint=tune.Checkpoint.from_directory(folder))

    result = train_and_evaluate(
        cfg.arch,
        data,
        cfg.budget,
        seed=cfg.seed,
        on_epoch=report,
        device=device,
        on_checkpoint=keep,
        resume=resume,
    )
    if resume is not None and resume.epoch >= cfg.budget.epochs:
        # Restored from its final state (its worker died after the last report): nothing is
        # left to train; the weights are written again in case this node does not have them.
        _save(out_dir, cfg.arch, result.model)


@functools.lru_cache(maxsize=1)
def _job_data(ref: DatasetRef, data_dir: str, seed: int) -> Splits:
    """The job's data set, read once per worker process: the driver reuses a worker for the
    job's next trial, which asks for the same data (a CIFAR folder is a 180 MB read). Nothing
    writes to the splits; each trial moves or subsets them into new tensors."""
    return load_dataset(ref, data_dir, seed=seed)


def _restored_state() -> TrainState | None:
    """The training state of the checkpoint Ray restores this trial from, if any."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return load_state(folder)


def _save(out_dir: os.PathLike[str] | str, arch: ArchSpec, model: nn.Module) -> None:
    os.makedirs(out_dir, exist_ok=True)
    # Contiguous: a CUDA run may have trained channels_last (workers/precision.py); readers of
    # the file get the plain layout whatever the device was.
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # Write then rename, so a reader never sees a half-written file.
    tmp = os.path.join(out_dir, "weights.pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, os.path.join(out_dir, "weights.pt"))
    with open(os.path.join(out_dir, "arch.json"), "w") as f:
        json.dump(arch.model_dump(mode="json"), f, indent=2)

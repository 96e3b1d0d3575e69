"""The Ray Tune adapter: one function trainable around `train_and_evaluate`.

The Ray config carries the sampled architecture (`arch`, the full ArchSpec), the Optuna trial
number and the job's constants; it is parsed into a typed `TrialConfig` on the first line. Every
epoch is reported; before the final report the weights are written to the trial's artifact dir.
All of Ray's API that workers/ uses stays in this module.
"""

from __future__ import annotations

import json
import math
import os
import socket
from typing import Any

import ray
import torch
from pydantic import BaseModel, ConfigDict
from ray import tune
from torch import nn

from spaces.arch import ArchSpec
from workers.artifacts import trial_dir
from workers.budget import Budget
from workers.data import load_dataset
from workers.dataset_ref import DatasetRef
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
    torch.set_num_threads(max(1, math.floor(cfg.cpus)))
    device = "cuda" if cfg.gpus > 0 and torch.cuda.is_available() else "cpu"
    data = load_dataset(cfg.dataset, cfg.data_dir, seed=cfg.seed)
    out_dir = trial_dir(cfg.artifacts_dir, cfg.job_id, cfg.trial_number)

    # Where the trial ran, for the record (a cluster's trials land on any node).
    node = {"node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname()}

    def report(metrics: EpochMetrics, model: nn.Module) -> None:
        if metrics.final:
            _save(out_dir, cfg.arch, model)
        tune.report({**metrics.as_dict(), **node})

    train_and_evaluate(cfg.arch, data, cfg.budget, seed=cfg.seed, on_epoch=report, device=device)


def _save(out_dir: os.PathLike[str] | str, arch: ArchSpec, model: nn.Module) -> None:
    os.makedirs(out_dir, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # Write then rename, so a reader never sees a half-written file.
    tmp = os.path.join(out_dir, "weights.pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, os.path.join(out_dir, "weights.pt"))
    with open(os.path.join(out_dir, "arch.json"), "w") as f:
        json.dump(arch.model_dump(mode="json"), f, indent=2)

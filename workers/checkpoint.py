"""A resumable training state: what a run needs to continue exactly where it stopped.

A state holds the network, the surrogate modules (SML), the optimizer, the learning-rate
schedule, the loss scaler (fp16), the generator of the data order and the global torch random
state, with the epoch reached and the curve so far. Restored into a freshly built run with the
same architecture, budget and seed, the run trains on bit for bit as if it had not stopped
(to float tolerance across machines). Each state carries a fingerprint of that architecture,
budget and seed and resumes nothing else: a mismatch is an error, never a silent blend.

On disk a state is one file written with torch.save and read with `weights_only=True` (no
pickled code runs on load), into a folder so that Ray Tune can persist it as a checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spaces.errors import SpikenasError
from spaces.network import SpikingNetwork
from spaces.surrogate_modules import SurrogateModules

STATE_FILE = "train_state.pt"
FORMAT = 1
# Budget fields that change when and where states are written, not what the run computes.
NOT_FINGERPRINTED = ("checkpoint_every",)


class CheckpointError(SpikenasError, ValueError):
    """A training state that cannot be read, or that is of another run."""


@dataclass
class LiveRun:
    """The objects of a run in progress, whose state a checkpoint captures."""

    model: SpikingNetwork
    surrogates: SurrogateModules | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    order_rng: torch.Generator


@dataclass
class TrainState:
    epoch: int  # epochs done, from 1
    curve: list[dict[str, Any]]  # EpochMetrics.as_dict() of each epoch done
    fingerprint: dict[str, Any]
    model: dict[str, torch.Tensor]
    surrogates: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    order_rng: torch.Tensor
    torch_rng: torch.Tensor
    cuda_rng: list[torch.Tensor] | None


def run_fingerprint(arch: dict[str, Any], budget: dict[str, Any], seed: int) -> dict[str, Any]:
    """What must be equal for a state to resume a run (JSON forms of the spec and budget)."""
    kept = {k: v for k, v in budget.items() if k not in NOT_FINGERPRINTED}
    return {"arch": arch, "budget": kept, "seed": seed}


def capture(
    run: LiveRun, epoch: int, curve: list[dict[str, Any]], fingerprint: dict[str, Any]
) -> TrainState:
    """The state of `run` after `epoch`. Tensors are the live ones (no copy): write or clone it
    before training goes on."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return TrainState(
        epoch=epoch,
        curve=list(curve),
        fingerprint=fingerprint,
        model=run.model.state_dict(),
        surrogates=None if run.surrogates is None else run.surrogates.state_dict(),
        optimizer=run.optimizer.state_dict(),
        scheduler=run.scheduler.state_dict(),
        scaler=run.scaler.state_dict(),
        order_rng=run.order_rng.get_state(),
        torch_rng=torch.get_rng_state(),
        cuda_rng=cuda,
    )


def restore(run: LiveRun, state: TrainState, fingerprint: dict[str, Any]) -> None:
    """Load `state` into a freshly built `run` of the run it fingerprints."""
    if state.fingerprint != fingerprint:
        difference = _difference(state.fingerprint, fingerprint)
        raise CheckpointError(f"the checkpoint is of another run: {difference}")
    run.model.load_state_dict(state.model)
    if (state.surrogates is None) != (run.surrogates is None):
        raise CheckpointError("the checkpoint and the run disagree on surrogate modules")
    if run.surrogates is not None and state.surrogates is not None:
        run.surrogates.load_state_dict(state.surrogates)
    run.optimizer.load_state_dict(state.optimizer)
    run.scheduler.load_state_dict(state.scheduler)
    if state.scaler:  # empty when the scaler was disabled
        run.scaler.load_state_dict(state.scaler)
    run.order_rng.set_state(state.order_rng)
    torch.set_rng_state(state.torch_rng)
    # A run may resume on a machine with other GPUs (or none): the CUDA streams only matter
    # where they can be restored as they were.
    cuda = state.cuda_rng
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _difference(saved: dict[str, Any], wanted: dict[str, Any]) -> str:
    parts = []
    if saved.get("seed") != wanted.get("seed"):
        parts.append(f"seed {saved.get('seed')}, here {wanted.get('seed')}")
    if saved.get("arch") != wanted.get("arch"):
        parts.append("another architecture")
    old, new = saved.get("budget", {}), wanted.get("budget", {})
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            parts.append(f"budget.{key} {old.get(key)!r}, here {new.get(key)!r}")
    return "; ".join(parts) or "a different format"


def save_state(state: TrainState, folder: str | os.PathLike[str]) -> Path:
    """Write `state` into `folder` (created), replacing an older one atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATE_FILE
    tmp = path.with_suffix(".tmp")
    torch.save({"format": FORMAT, **state.__dict__}, tmp)
    os.replace(tmp, path)
    return path


def load_state(path: str | os.PathLike[str]) -> TrainState:
    """Read a state from its file, or from the folder `save_state` wrote it into."""
    path = Path(path)
    if path.is_dir():
        path = path / STATE_FILE
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path}: no training state there") from e
    except Exception as e:  # a truncated or foreign file: torch raises many kinds
        raise CheckpointError(f"{path}: not a training state ({e})") from e
    if not isinstance(raw, dict) or raw.pop("format", None) != FORMAT:
        raise CheckpointError(f"{path}: not a training state of format {FORMAT}")
    return TrainState(**raw)

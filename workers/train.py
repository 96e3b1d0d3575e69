"""Train and evaluate one architecture for a budget: a plain function, no Ray needed.

AdamW with one warm-up epoch and a cosine schedule, gradient clipping, deterministic seeding.
The loss is the budget's choice (workers/losses.py): cross-entropy of the time-averaged output
(default), TET, SML or SML with TET. For SML the surrogate modules are built beside the network
with the same seed and trained by the same optimizer, but they never touch evaluation, metrics,
spike rates or the returned model, which is the deployable network alone.

After every epoch: validation accuracy and loss (with batch-norm statistics recomputed while
the run is young, workers/norm_stats.py), spike rate, energy, SOPs and epoch time go to
`on_epoch`, which may ask to stop. After the last epoch of the budget the test accuracy is
measured too (never before, and never shown to a sampler).

Every `budget.checkpoint_every` epochs and after the last one, a resumable state goes to
`on_checkpoint` just before `on_epoch` sees the same epoch (workers/checkpoint.py); a run given
that state as `resume` continues from the next epoch as if it had never stopped. The budget's
cheaper fidelities (a share of the training split, epochs at fewer time steps) are those of
workers/fidelity.py, its precision and memory layout those of workers/precision.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import SpikeMonitor, count_params
from spaces.energy import measure_costs
from spaces.network import SpikingNetwork
from spaces.surrogate_modules import SurrogateModules, build_surrogate_modules
from workers.budget import Budget
from workers.checkpoint import LiveRun, TrainState, capture, restore, run_fingerprint
from workers.data import Splits
from workers.fidelity import check_fidelity, epoch_time_steps, train_subset
from workers.losses import mean_output_ce, sml_loss, tet_loss
from workers.norm_stats import RECALIBRATION_SAMPLES, needs_recalibration, recalibrate
from workers.precision import Precision, resolve_precision, use_channels_last

EVAL_BATCH = 512
# Energy and SOPs are measured on this many validation samples: rates settle well before that.
COST_SAMPLES = 256
CLIP_NORM = 1.0


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    accuracy: float  # validation split
    spike_rate: float  # validation split
    params: int
    epoch_time_s: float
    # Per sample, on the first COST_SAMPLES validation samples (spaces/energy.py conventions).
    energy: float = 0.0  # pJ, E_SNN
    sops: float = 0.0  # synaptic operations
    flops: float = 0.0  # multiply-accumulates per time step
    energy_ann: float = 0.0  # pJ, an ANN of the same shape
    final: bool = False  # the last epoch of the full budget
    test_accuracy: float | None = None  # only when final
    # Cross-entropy of the time-averaged output on the validation split, without label
    # smoothing. None only in curves checkpointed before it was measured.
    val_loss: float | None = None

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return dict(self.__dict__)


@dataclass
class TrainResult:
    model: nn.Module
    curve: list[EpochMetrics] = field(default_factory=list)

    @property
    def last(self) -> EpochMetrics:
        return self.curve[-1]


# Called after each epoch with the metrics and the model; returning True stops training.
EpochCallback = Callable[[EpochMetrics, nn.Module], bool | None]
# Called with the state of each checkpoint epoch; its tensors are live until it returns.
CheckpointCallback = Callable[[TrainState], None]


class Evaluation(NamedTuple):
    accuracy: float
    spike_rate: float
    loss: float  # mean cross-entropy, no label smoothing


@torch.no_grad()
def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Evaluation:
    """Accuracy, spike rate and loss of `model` in eval mode on (x, y), in one pass."""
    model.eval()
    # Summed on the device and read once: a read per batch would wait for the GPU every batch.
    correct = torch.zeros((), dtype=torch.int64, device=y.device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=y.device)
    with SpikeMonitor(model) as monitor:
        for start in range(0, len(y), EVAL_BATCH):
            logits = model(x[start : start + EVAL_BATCH])
            labels = y[start : start + EVAL_BATCH]
            correct += (logits.argmax(1) == labels).sum()
            loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum")
    samples = max(1, len(y))
    return Evaluation(int(correct) / samples, monitor.rate, float(loss_sum) / samples)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, spike rate) of `model` in eval mode on (x, y)."""
    accuracy, spike_rate, _ = measure(model, x, y)
    return accuracy, spike_rate


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def batch_loss(
    model: SpikingNetwork,
    surrogates: SurrogateModules | None,
    x: torch.Tensor,
    y: torch.Tensor,
    budget: Budget,
) -> torch.Tensor:
    """The budget's training loss on one batch (surrogate modules needed for the SML losses)."""
    smoothing = budget.label_smoothing
    if budget.loss in ("sml", "sml+tet"):
        if surrogates is None:
            raise ValueError(f"loss {budget.loss!r} needs the surrogate modules")
        steps, features = model.forward_with_features(x, surrogates.taps)
        return sml_loss(
            steps,
            surrogates(features),
            y,
            alpha=budget.sml_alpha,
            lam=budget.sml_lambda,
            tau_kd=budget.sml_tau_kd,
            tet_lam=budget.tet_lambda if budget.loss == "sml+tet" else None,
            phi=budget.tet_phi,
            label_smoothing=smoothing,
        )
    steps = model.forward_steps(x)
    if budget.loss == "tet":
        return tet_loss(steps, y, budget.tet_lambda, budget.tet_phi, label_smoothing=smoothing)
    return mean_output_ce(steps, y, label_smoothing=smoothing)


def checkpoint_due(budget: Budget, epoch: int) -> bool:
    """Whether a state is taken after `epoch`: every checkpoint_every epochs, and the last."""
    every = budget.checkpoint_every
    return epoch == budget.epochs or (every > 0 and epoch % every == 0)


def train_and_evaluate(
    spec: ArchSpec,
    data: Splits,
    budget: Budget,
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    device: str | torch.device = "cpu",
    on_checkpoint: CheckpointCallback | None = None,
    resume: TrainState | None = None,
) -> TrainResult:
    """Train `spec` on `data` for `budget.epochs` (or until `on_epoch` says stop), from the
    start or from `resume`, a state an earlier run with the same spec, budget and seed took."""
    check_fidelity(spec, budget, data.frames)
    torch.manual_seed(seed)
    data = train_subset(data, budget.train_fraction, seed).to(device)
    model = build_model(spec, seed=seed).to(device)
    data = use_channels_last(model, data, device)
    precision = resolve_precision(budget.precision, device)
    params = count_params(model)
    run = _start_run(spec, model, budget, seed, len(data.y_train), precision, device)
    fingerprint = run_fingerprint(
        spec.model_dump(mode="json"), budget.model_dump(mode="json"), seed
    )
    result = TrainResult(model=model)
    done = 0
    if resume is not None:
        restore(run, resume, fingerprint)
        result.curve = [EpochMetrics(**m) for m in resume.curve]
        done = resume.epoch
    for epoch in range(done + 1, budget.epochs + 1):
        started = time.perf_counter()
        model.time_steps = epoch_time_steps(spec, budget, epoch)
        train_loss = _train_epoch(run, data, budget, precision)
        model.time_steps = spec.time_steps  # measured at the target T (workers/fidelity.py)
        if needs_recalibration(model, run.scheduler.last_epoch):
            # Eval-mode statistics of the current weights, not of a young running average
            # (workers/norm_stats.py).
            recalibrate(model, data.x_train[:RECALIBRATION_SAMPLES])
        accuracy, spike_rate, val_loss = measure(model, data.x_val, data.y_val)
        costs = measure_costs(model, data.x_val[:COST_SAMPLES])
        final = epoch == budget.epochs
        test_accuracy = evaluate(model, data.x_test, data.y_test)[0] if final else None
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=train_loss,
            accuracy=accuracy,
            spike_rate=spike_rate,
            params=params,
            epoch_time_s=time.perf_counter() - started,
            energy=costs.energy_snn_pj,
            sops=costs.sops,
            flops=float(costs.flops),
            energy_ann=costs.energy_ann_pj,
            final=final,
            test_accuracy=test_accuracy,
            val_loss=val_loss,
        )
        result.curve.append(metrics)
        if on_checkpoint is not None and checkpoint_due(budget, epoch):
            curve = [m.as_dict() for m in result.curve]
            on_checkpoint(capture(run, epoch, curve, fingerprint))
        if on_epoch is not None and on_epoch(metrics, model):
            break
    model.eval()
    return result


def _start_run(
    spec: ArchSpec,
    model: SpikingNetwork,
    budget: Budget,
    seed: int,
    train_samples: int,
    precision: Precision,
    device: str | torch.device,
) -> LiveRun:
    """The optimisation objects of a fresh run: optimizer, schedule, scaler, data order."""
    surrogates = None
    trained = list(model.parameters())
    if budget.loss in ("sml", "sml+tet"):
        # Kept apart from the model, so that nothing downstream can see or save them.
        surrogates = build_surrogate_modules(spec, seed=seed).to(device)
        trained += list(surrogates.parameters())
    optimizer = torch.optim.AdamW(trained, lr=budget.lr, weight_decay=budget.weight_decay)
    steps_per_epoch = math.ceil(train_samples / budget.batch_size)
    total_steps = steps_per_epoch * budget.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _lr_factor(step, steps_per_epoch, total_steps)
    )
    return LiveRun(
        model=model,
        surrogates=surrogates,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=precision.grad_scaler(),
        order_rng=torch.Generator().manual_seed(seed),
    )


def _train_epoch(run: LiveRun, data: Splits, budget: Budget, precision: Precision) -> float:
    """One pass over the training split in the run's data order; the mean training loss."""
    model, surrogates = run.model, run.surrogates
    trained = [p for group in run.optimizer.param_groups for p in group["params"]]
    model.train()
    if surrogates is not None:
        surrogates.train()
    loss_sum = 0.0
    order = torch.randperm(len(data.y_train), generator=run.order_rng).to(data.y_train.device)
    for start in range(0, len(order), budget.batch_size):
        batch = order[start : start + budget.batch_size]
        with precision.autocast():
            loss = batch_loss(model, surrogates, data.x_train[batch], data.y_train[batch], budget)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        # Clipping reads true gradients: unscale first (a no-op without fp16's scaler).
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_(trained, CLIP_NORM)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        run.scheduler.step()
        loss_sum += float(loss.detach()) * len(batch)
    return loss_sum / len(order)

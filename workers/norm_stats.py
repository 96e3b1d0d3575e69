"""Batch-norm running statistics that are true from a run's first epoch.

PyTorch starts every running mean at 0 and running variance at 1 and moves them 10% a batch
towards each batch's statistics. A search trains on small data sets: digits is 20 batches an
epoch, so after the first epoch 0.9^20 = 12% of the initial variance of 1 is still in every
running variance, while early in training the true variances are far below 1 (measured on
digits: 4-10 times below). In eval mode every layer's input is then shrunk, few neurons reach
their threshold, and validation accuracy after the first epoch is chance whatever the network
learned (0.11 against 0.44 with the true statistics, for the same weights). The running
average also lags the weights, which move fastest in the first epochs: on the npz sequence
set of benchmarks/search.py, accuracy after epoch 2 ranked 24 architectures
against their final accuracy at Spearman -0.50. A scheduler comparing trials at an early rung
compared noise.

So while a run is young, the statistics are recomputed before each evaluation: reset, then a
cumulative average over a fixed slice of the training split, in train mode without gradients
(as in one-shot NAS, which recalibrates before it ranks). Measured over 24 random
architectures trained 10 epochs, epoch-1 accuracy then ranks final accuracy at 0.68 on digits
(0.07 before) and 0.53 on the sequence set (-0.21); epoch 2 at 0.86 and 0.59. It costs about
a tenth of an epoch on digits each time, so it stops once the initial values have decayed
below STALE_SHARE of the running average, and the training of the weights is untouched.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

# Training samples the statistics are recomputed on, in batches of RECALIBRATION_BATCH.
RECALIBRATION_SAMPLES = 256
RECALIBRATION_BATCH = 128
# Recalibrate while the initial (0, 1) still weighs more than this in the running average.
STALE_SHARE = 0.01


def batch_norms(modules: Iterable[nn.Module]) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every batch norm that keeps running statistics, in the given modules and below."""
    return [
        m
        for module in modules
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def needs_recalibration(model: nn.Module, steps: int) -> bool:
    """Whether, after `steps` training batches, the initial values still weigh more than
    STALE_SHARE in some running average of the model (torch's default momentum: 0.1)."""
    return any(
        norm.momentum is not None and (1.0 - norm.momentum) ** steps > STALE_SHARE
        for norm in batch_norms([model])
    )


@torch.no_grad()
def recalibrate(model: nn.Module, x: torch.Tensor) -> None:
    """Replace the running statistics of every batch norm in `model` by their cumulative average
    over `x` (a slice of the training split) with the current weights. Leaves the model in the
    mode it was in and the momentum of each norm as it was."""
    norms = batch_norms([model])
    momenta = [norm.momentum for norm in norms]
    training = model.training
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # torch's cumulative average over the batches below
    model.train()
    try:
        for start in range(0, len(x), RECALIBRATION_BATCH):
            model(x[start : start + RECALIBRATION_BATCH])
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        model.train(training)

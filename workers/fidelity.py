"""Cheaper fidelities of one training run, chosen by the budget: less data, fewer time steps.

- `train_fraction`: the trainer sees a stratified, seeded share of the training split (each
  class keeps the same share, at least one sample, so that no class vanishes). Validation and
  test splits are never subset: every fidelity is scored on the same samples.
- Time inheritance (`inherit_time_steps`, `inherit_epochs`): the first epochs train at a smaller
  T, which costs about T_small / T of an epoch at the architecture's T, then the rest fine-tune
  at the architecture's T. The network's weights do not depend on T (every layer is shared
  across time steps, and the input encoding takes T per call), so the same parameters carry
  over; only the model's `time_steps` attribute changes. With event frames each step then sums
  more frames (so T_small must divide the frame count). The learning-rate schedule runs over all
  epochs as one.
  Validation, spike rate and costs are always measured at the architecture's T, also after an
  epoch trained at the small T: a curve stays comparable across epochs and across trials, and
  an early-stopping scheduler ranks every trial on the network it would deploy.
"""

from __future__ import annotations

import dataclasses

import torch

from spaces.arch import ArchSpec
from spaces.errors import SpecError
from workers.budget import Budget
from workers.data import Splits


def train_subset(data: Splits, fraction: float, seed: int) -> Splits:
    """`data` with its training split cut to about `fraction`, stratified by class, the same
    samples for the same seed; validation and test unchanged."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"budget.train_fraction must lie in (0, 1], got {fraction}")
    if fraction == 1.0:
        return data
    generator = torch.Generator().manual_seed(seed)
    labels = data.y_train.cpu()
    kept = []
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        take = max(1, round(len(members) * fraction))
        kept.append(members[torch.randperm(len(members), generator=generator)[:take]])
    # In the split's own order: which samples are kept is the seed's choice, not their order.
    index = torch.sort(torch.cat(kept)).values.to(data.y_train.device)
    return dataclasses.replace(data, x_train=data.x_train[index], y_train=data.y_train[index])


def check_fidelity(spec: ArchSpec, budget: Budget, frames: int | None = None) -> None:
    """Refuse a budget whose fidelities do not fit this architecture, or the `frames` per
    sample of event data (a SpecError, so a ValueError, naming the field); what depends on the
    budget alone the Budget checks itself."""
    small = budget.inherit_time_steps
    if small is None:
        return
    if small >= spec.time_steps:
        raise SpecError(
            f"budget.inherit_time_steps ({small}) must be below the architecture's time_steps "
            f"({spec.time_steps})"
        )
    # The events encoding sums equal groups of frames into each step, at every T trained.
    if frames is not None and frames % small:
        raise SpecError(
            f"budget.inherit_time_steps ({small}) does not divide the {frames} frames per "
            "sample of the data set"
        )


def epoch_time_steps(spec: ArchSpec, budget: Budget, epoch: int) -> int:
    """The time steps epoch `epoch` (from 1) trains at."""
    if budget.inherit_time_steps is not None and epoch <= budget.inherit_epochs:
        return budget.inherit_time_steps
    return spec.time_steps

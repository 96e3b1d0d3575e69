"""What a trial spends to reach an early-stopping rung: epochs, or seconds of training.

ASHA compares trials at rungs of grace * eta^k units of a resource. Counted in epochs (the
default), a rung weighs every trial's epoch alike, though in one job an epoch costs from 0.2 s
(one block of width 16 at T=1) to 8 s (three blocks of width 48 at T=4) on a 2-core CPU, and
the front a job returns is judged per second spent. Counted in seconds of training, the rungs
lie where a typical trial would reach them in epochs (grace * eta^k times the median first
epoch of the job's first trials), and every trial is judged on what it shows for that much
time: a network ten times as costly per epoch faces its first rung after an epoch, against
cheaper trials further along, and a cheap one may finish its budget before any rung.

Both give the rung a trial stands at after a report: the highest milestone it has reached, or
None before the first. MultiObjectiveASHA (search/schedulers.py) judges a trial once per rung.
"""

from __future__ import annotations

import math
import statistics
from typing import Protocol

# Trials whose first epoch sets the typical epoch time: the first results of a job, from as
# many trials as a small cluster runs at once; no trial is judged on time before they arrive.
CALIBRATION_TRIALS = 4
EPOCH_TIME_KEY = "epoch_time_s"  # reported by the trainable after every epoch


def rung_milestones(grace: int, eta: int, max_epochs: int) -> list[int]:
    """Epoch counts at which trials are compared: grace * eta^k below the full budget."""
    milestones = []
    epoch = grace
    while epoch < max_epochs:
        milestones.append(epoch)
        epoch *= eta
    return milestones


class Rungs(Protocol):
    """Where a trial stands among a scheduler's rungs (EpochRungs or TimeRungs)."""

    milestones: list[float]

    def rung(self, trial_id: str, epoch: int, values: dict[str, float]) -> float | None:
        """The highest milestone the trial has reached with this report, or None."""


class EpochRungs:
    """Rungs at grace * eta^k epochs below the budget."""

    def __init__(self, grace: int, eta: int, max_epochs: int) -> None:
        self.milestones: list[float] = list(rung_milestones(grace, eta, max_epochs))

    def rung(self, trial_id: str, epoch: int, values: dict[str, float]) -> float | None:
        reached = [m for m in self.milestones if m <= epoch]
        return reached[-1] if reached else None


class TimeRungs:
    """Rungs at grace * eta^k typical epochs of training time, counted per trial from the
    `epoch_time_s` of its reports (an epoch reported twice, after a restore, counts once).
    A trial's last epoch is never judged: it has spent its budget."""

    def __init__(self, grace: int, eta: int, max_epochs: int) -> None:
        self.grace, self.eta, self.max_epochs = grace, eta, max_epochs
        self.first_epoch_s: dict[str, float] = {}
        self.typical_epoch_s: float | None = None
        self.epoch_s: dict[str, dict[int, float]] = {}
        self.milestones: list[float] = []  # those some trial has reached, ascending

    def rung(self, trial_id: str, epoch: int, values: dict[str, float]) -> float | None:
        seconds = values.get(EPOCH_TIME_KEY)
        if seconds is None:
            return None
        self.epoch_s.setdefault(trial_id, {})[epoch] = float(seconds)
        if epoch == 1 and self.typical_epoch_s is None:
            self.first_epoch_s[trial_id] = float(seconds)
            if len(self.first_epoch_s) >= CALIBRATION_TRIALS:
                # Floored so that a job of instant epochs (a test's) still has finite rungs.
                self.typical_epoch_s = max(1e-6, statistics.median(self.first_epoch_s.values()))
        if self.typical_epoch_s is None or epoch >= self.max_epochs:
            return None
        spent = sum(self.epoch_s[trial_id].values())
        first = self.grace * self.typical_epoch_s
        if spent < first:
            return None
        # The k with first * eta^k <= spent, computed by multiplying, as the milestones are.
        k = max(0, math.floor(math.log(spent / first, self.eta)))
        while k > 0 and first * self.eta**k > spent:
            k -= 1
        while first * self.eta ** (k + 1) <= spent:
            k += 1
        milestone = first * self.eta**k
        if milestone not in self.milestones:
            self.milestones = sorted([*self.milestones, milestone])
        return milestone

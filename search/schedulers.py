"""Early stopping of trials: ASHA on accuracy, and a multi-objective ASHA.

ASHA (Li et al., MLSys 2020) checks a trial at rungs of grace * eta^k epochs and lets it go on
only if it is in the top 1/eta of the trials seen at that rung. Ray Tune's scheduler ranks by
one metric. `MultiObjectiveASHA` ranks by the place on the front instead: non-dominated sorting
of the job's objectives (normalised as in search.pareto), then crowding distance within a front,
so that a small, sparse network is not stopped for being less accurate than a large one.

A stopped trial keeps its last epoch's values in the study, is tagged early_stopped by the
searcher (epochs trained < budget) and is left out of the front the API returns. This module
and the driver are the only places that know Ray's scheduler API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from search.job_spec import EarlyStopping
from search.pareto import costs, promotion_order

TIME_ATTR = "epoch"  # reported by the trainable after every epoch, from 1


def rung_milestones(grace: int, eta: int, max_epochs: int) -> list[int]:
    """Epoch counts at which trials are compared: grace * eta^k below the full budget."""
    milestones = []
    epoch = grace
    while epoch < max_epochs:
        milestones.append(epoch)
        epoch *= eta
    return milestones


class MultiObjectiveASHA(FIFOScheduler):
    """Asynchronous successive halving that promotes by non-dominated sorting and crowding."""

    def __init__(
        self, objectives: Sequence[str], grace: int, reduction_factor: int, max_epochs: int
    ) -> None:
        super().__init__()
        self.objectives = list(objectives)
        self.eta = reduction_factor
        self.milestones = rung_milestones(grace, reduction_factor, max_epochs)
        # milestone -> trial id -> the trial's normalised costs when it reached the milestone
        self.rungs: dict[int, dict[str, tuple[float, ...]]] = {m: {} for m in self.milestones}
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the objectives come from the job spec, not from Tune's single metric

    def decide(self, trial_id: str, epoch: int, values: dict[str, float]) -> str:
        """CONTINUE or STOP for a trial that reported `values` after `epoch` epochs."""
        if any(o not in values for o in self.objectives):
            return TrialScheduler.CONTINUE
        for milestone in reversed(self.milestones):
            if epoch < milestone:
                continue
            recorded = self.rungs[milestone]
            if trial_id in recorded:
                return TrialScheduler.CONTINUE  # already judged at this rung and kept
            recorded[trial_id] = costs(values, self.objectives)
            ids = list(recorded)
            order = promotion_order([recorded[i] for i in ids])
            keep = math.ceil(len(ids) / self.eta)
            if ids.index(trial_id) in order[:keep]:
                return TrialScheduler.CONTINUE
            self.stopped += 1
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if TIME_ATTR not in result:
            return TrialScheduler.CONTINUE
        return self.decide(trial.trial_id, int(result[TIME_ATTR]), result)

    def debug_string(self) -> str:
        sizes = ", ".join(f"{m} epochs: {len(r)}" for m, r in self.rungs.items())
        return f"MultiObjectiveASHA: {self.stopped} stopped; rungs {sizes}"


def make_scheduler(
    spec: EarlyStopping, objectives: Sequence[str], max_epochs: int
) -> TrialScheduler | None:
    """The Ray Tune scheduler of a job, or None to train every trial for its full budget."""
    if spec.kind == "none":
        return None
    if spec.kind == "asha":
        return ASHAScheduler(
            time_attr=TIME_ATTR,
            metric="accuracy",
            mode="max",
            max_t=max_epochs,
            grace_period=spec.grace_epochs,
            reduction_factor=spec.reduction_factor,
        )
    return MultiObjectiveASHA(objectives, spec.grace_epochs, spec.reduction_factor, max_epochs)

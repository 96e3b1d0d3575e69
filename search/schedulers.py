"""Early stopping of trials: ASHA on accuracy, and a multi-objective ASHA.

ASHA (Li et al., MLSys 2020) checks a trial at rungs of grace * eta^k epochs and lets it go on
only if it is in the top 1/eta of the trials seen at that rung. Ray Tune's scheduler ranks by
one metric. `MultiObjectiveASHA` ranks by the place on the front instead: non-dominated sorting
of the job's objectives (normalised as in search.pareto), so that a small, sparse network is not
stopped for being less accurate than a large one; within the front where the cut falls, by
each trial's exclusive share of that front's hypervolume (as SMS-EMOA selects), or, with
`promote_by: crowding`, by NSGA-II's crowding distance.

The share of hypervolume is the default because the front a job returns is judged by its
hypervolume, and crowding distance promotes the wrong trials for it: every front's extremes get
an infinite distance, and at an early rung the trial with the lowest spike rate is often a
network that has not learnt yet (accuracy near chance, almost no spikes), promoted ahead of
any accurate one. Replaying 150 recorded 10-epoch random-search trials per data set through
both rules (benchmarks/early_stopping_replay.py: 2 workers, 20 random orders, grace 1, eta 2):
crowding never reached the hypervolume of random search's first 30 trials in their time, and
ended below it (digits 0.434 against 0.452; npz sequence set 0.392 against 0.431); the share
of hypervolume reached it in 0.66 and 0.83 of that time at the median, and ended above it
(0.462, 0.435).

A stopped trial keeps its last epoch's values in the study, is tagged early_stopped by the
searcher (epochs trained < budget), is left out of the front the API returns, and is shown to
the sampler as PRUNED (search/full_budget_view.py). This module
and the driver are the only places that know Ray's scheduler API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from search.front_arithmetic import front_ranks, hypervolume_contributions
from search.job_spec import EarlyStopping, PromoteBy, RungMetric
from search.pareto import REFERENCE_POINT, costs, crowding_distances

TIME_ATTR = "epoch"  # reported by the trainable after every epoch, from 1


def rung_milestones(grace: int, eta: int, max_epochs: int) -> list[int]:
    """Epoch counts at which trials are compared: grace * eta^k below the full budget."""
    milestones = []
    epoch = grace
    while epoch < max_epochs:
        milestones.append(epoch)
        epoch *= eta
    return milestones


def rung_winners(points: Sequence[Sequence[float]], keep: int, by: PromoteBy) -> set[int]:
    """Indices of the `keep` points (normalised costs) a rung promotes: whole fronts in order of
    non-dominated rank, then the best of the front where the cut falls, by `by`; ties go to
    the earlier point."""
    ranks = front_ranks(points)
    if keep >= len(points):
        return set(range(len(points)))
    cut = int(np.sort(ranks)[keep - 1])
    winners = {int(i) for i in np.flatnonzero(ranks < cut)}
    members = np.flatnonzero(ranks == cut)
    section = [points[int(i)] for i in members]
    if by == "hypervolume":
        share = hypervolume_contributions(section, [REFERENCE_POINT] * len(section[0]))
    else:
        share = np.asarray(crowding_distances(section))
    best = sorted(range(len(members)), key=lambda k: (-share[k], members[k]))
    winners.update(int(members[k]) for k in best[: keep - len(winners)])
    return winners


def rung_values(values: dict[str, float], rung_metric: RungMetric) -> dict[str, float]:
    """What a rung compares: the reported values, with accuracy estimated from the epoch's
    training or validation loss when `rung_metric` names one (none when that loss is missing).
    exp(-loss) is the geometric mean of the probability the network gives the true class, in
    [0, 1] as accuracy is, and ranks trials as their loss does."""
    if rung_metric == "accuracy":
        return values
    estimated = {k: v for k, v in values.items() if k != "accuracy"}
    if values.get(rung_metric) is not None:
        estimated["accuracy"] = math.exp(-float(values[rung_metric]))
    return estimated


class MultiObjectiveASHA(FIFOScheduler):
    """Asynchronous successive halving that promotes by non-dominated sorting, then by share of
    hypervolume (or crowding distance) within a front."""

    def __init__(
        self,
        objectives: Sequence[str],
        grace: int,
        reduction_factor: int,
        max_epochs: int,
        promote_by: PromoteBy = "hypervolume",
        rung_metric: RungMetric = "accuracy",
    ) -> None:
        super().__init__()
        self.objectives = list(objectives)
        self.promote_by: PromoteBy = promote_by
        self.rung_metric: RungMetric = rung_metric
        self.eta = reduction_factor
        self.milestones = rung_milestones(grace, reduction_factor, max_epochs)
        # milestone -> trial id -> the trial's normalised costs when it reached the milestone
        self.rungs: dict[int, dict[str, tuple[float, ...]]] = {m: {} for m in self.milestones}
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        return True  # the objectives come from the job spec, not from Tune's single metric

    def decide(self, trial_id: str, epoch: int, values: dict[str, float]) -> str:
        """CONTINUE or STOP for a trial that reported `values` after `epoch` epochs."""
        values = rung_values(values, self.rung_metric)
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
            keep = math.ceil(len(ids) / self.eta)
            winners = rung_winners([recorded[i] for i in ids], keep, self.promote_by)
            if ids.index(trial_id) in winners:
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
            metric=spec.rung_metric,
            mode="max" if spec.rung_metric == "accuracy" else "min",  # a loss
            max_t=max_epochs,
            grace_period=spec.grace_for(max_epochs),
            reduction_factor=spec.reduction_factor,
        )
    return MultiObjectiveASHA(
        objectives,
        spec.grace_for(max_epochs),
        spec.reduction_factor,
        max_epochs,
        promote_by=spec.promote_by or "hypervolume",
        rung_metric=spec.rung_metric,
    )

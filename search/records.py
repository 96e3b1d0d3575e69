"""Plain records of a study's trials, as the API and the CLI show them.

Optuna keeps objective values by position; these records name them, and they read the user
attributes that the driver writes on each trial (the names below are the contract between the
driver, which writes them, and every reader).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import optuna
from pydantic import BaseModel

# User attributes written on every Optuna trial by the driver.
ATTR_ARCH = "arch"  # the ArchSpec as JSON-compatible dict, set when the trial is asked
ATTR_BUDGET_EPOCHS = "budget_epochs"  # epochs the trial was meant to train
ATTR_EPOCHS_TRAINED = "epochs_trained"  # epochs it did train
ATTR_EARLY_STOPPED = "early_stopped"  # True when a scheduler stopped it before its budget
ATTR_TEST_ACCURACY = "test_accuracy"  # on the test split, finished trials only
ATTR_DURATION_S = "duration_s"  # wall time of the trial's training
ATTR_CURVE = "curve"  # per-epoch metrics: list of dicts
ATTR_COSTS = "costs"  # params, flops, sops, energy, energy_ann, spike_rate of the last epoch
ATTR_ERROR = "error"  # why a trial failed, when it did
ATTR_NODE = "node"  # {"node_id", "hostname"} of the Ray node the trial trained on
ATTR_REJECTED = "rejected"  # why a draw broke a constraint known before training (never trained)

TrialStateName = Literal["waiting", "running", "complete", "failed", "pruned", "rejected"]

_STATE_NAMES: dict[optuna.trial.TrialState, TrialStateName] = {
    optuna.trial.TrialState.WAITING: "waiting",
    optuna.trial.TrialState.RUNNING: "running",
    optuna.trial.TrialState.COMPLETE: "complete",
    optuna.trial.TrialState.FAIL: "failed",
    optuna.trial.TrialState.PRUNED: "pruned",
}


class TrialRecord(BaseModel):
    number: int
    state: TrialStateName
    arch: dict[str, Any] | None
    values: dict[str, float]
    test_accuracy: float | None
    epochs_trained: int
    early_stopped: bool
    duration_s: float | None

    @property
    def trained_full_budget(self) -> bool:
        return self.state == "complete" and not self.early_stopped


class Progress(BaseModel):
    """Trial counts of a job (the REST contract). Draws rejected before training count in none
    of them: they are listed among the trials with state "rejected"."""

    complete: int = 0
    running: int = 0
    failed: int = 0
    total: int = 0


# The user attributes trial_record reads: listing pages loads only these (not the curve, the
# costs or the node), which is most of a page's JSON decoding on big studies.
RECORD_ATTRS = frozenset(
    {
        ATTR_ARCH,
        ATTR_BUDGET_EPOCHS,
        ATTR_EPOCHS_TRAINED,
        ATTR_EARLY_STOPPED,
        ATTR_DURATION_S,
        ATTR_TEST_ACCURACY,
        ATTR_REJECTED,
    }
)


class TrialLike(Protocol):
    """What a record is read from: an Optuna FrozenTrial, or the rows study_tables reads
    (without building a FrozenTrial, whose timestamps cost more than the rest of a record)."""

    @property
    def number(self) -> int: ...
    @property
    def state(self) -> optuna.trial.TrialState: ...
    @property
    def values(self) -> list[float] | None: ...
    @property
    def user_attrs(self) -> dict[str, Any]: ...


def trial_record(trial: TrialLike, objectives: list[str]) -> TrialRecord:
    """Name a trial's values and read the driver's user attributes."""
    attrs = trial.user_attrs
    values: dict[str, float] = {}
    if trial.values is not None:
        values = {name: float(v) for name, v in zip(objectives, trial.values, strict=False)}
    budget = attrs.get(ATTR_BUDGET_EPOCHS)
    trained = int(attrs.get(ATTR_EPOCHS_TRAINED, 0))
    early = bool(attrs.get(ATTR_EARLY_STOPPED, budget is not None and trained < budget))
    duration = attrs.get(ATTR_DURATION_S)
    test_accuracy = attrs.get(ATTR_TEST_ACCURACY)
    state: TrialStateName = _STATE_NAMES.get(trial.state, "failed")
    if ATTR_REJECTED in attrs:
        state = "rejected"
    return TrialRecord(
        number=trial.number,
        state=state,
        arch=attrs.get(ATTR_ARCH),
        values=values,
        test_accuracy=None if test_accuracy is None else float(test_accuracy),
        epochs_trained=trained,
        early_stopped=early,
        duration_s=None if duration is None else float(duration),
    )

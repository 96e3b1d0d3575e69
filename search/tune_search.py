"""Ray Tune's OptunaSearch, bound to a job's study, writing what readers of the study need.

OptunaSearch keeps one Optuna trial per Ray trial but records only final objective values, and
with several objectives it drops intermediate results. This subclass also writes, as user
attributes: the architecture (when the trial is asked), the per-epoch curve and the epochs
trained (every epoch), and at completion the test accuracy, wall time and whether a scheduler
stopped the trial early. A trial that errored is told FAIL even if it had reported epochs
(OptunaSearch would tell it COMPLETE with partial values). Trials Tune stops without a word to
the searcher (a spent time budget) are ended by `close_unfinished`. Draws that break a
constraint known before training, or repeat an architecture the job already has
(search/duplicates.py), are rejected before Tune sees them; after a repeat, a sampler wrapped in
ExploreOnRepeat draws the next candidate at random (search/explore_on_repeat.py).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

from search.duplicates import HOLDS_A_RESULT, DrawnArchitectures
from search.explore_on_repeat import ExploreOnRepeat
from search.optuna_space import OptunaSuggester
from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_COSTS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_NODE,
    ATTR_REJECTED,
    ATTR_TEST_ACCURACY,
)
from spaces.errors import ConstraintViolation, SpecError
from spaces.space import SearchSpace

# Draws in a row that may break a constraint known before training (max_params) before the job
# gives up: a space whose candidates almost all break its own limit is a mistake in the spec.
MAX_REJECTED_DRAWS = 200
# Draws in a row of an architecture the job already has before one is trained again (see
# search/duplicates.py).
MAX_REPEATED_DRAWS = 10

# Per-epoch keys kept in a trial's curve.
CURVE_KEYS = (
    "epoch",
    "train_loss",
    "accuracy",
    "val_loss",
    "spike_rate",
    "energy",
    "sops",
    "epoch_time_s",
)
# Cost metrics of the trained network, kept as one user attribute at completion.
COST_KEYS = ("params", "flops", "sops", "energy", "energy_ann", "spike_rate")


@contextlib.contextmanager
def _sampler_time_is_not_training() -> Iterator[None]:
    """Ray warns when the define-by-run function takes over a second, and tells the user to move
    training into the trainable. Ours only names the sampler's choices: the time is the sampler's
    own draw (GP's takes about a second on 2 cores), and the warning would repeat every trial."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Define-by-run function passed", category=UserWarning
        )
        yield


class DefineByRun:
    """The define-by-run function OptunaSearch calls with each new trial.

    A class rather than a closure: Tune pickles the searcher into its experiment checkpoint.
    """

    def __init__(self, space: SearchSpace, budget_epochs: int) -> None:
        self.space = space
        self.budget_epochs = budget_epochs

    def __call__(self, trial: Any) -> dict[str, Any]:
        arch = self.space.sample(OptunaSuggester(trial)).model_dump(mode="json")
        trial.set_user_attr(ATTR_ARCH, arch)
        trial.set_user_attr(ATTR_BUDGET_EPOCHS, self.budget_epochs)
        # Constants merged into this trial's Ray config beside the sampled params.
        return {"arch": arch, "trial_number": trial.number}


class StudySearch(OptunaSearch):
    """OptunaSearch that keeps each trial's curve and completion facts in the study."""

    def __init__(self, *args: Any, budget_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._budget_epochs = budget_epochs
        self._curves: dict[str, list[dict[str, float]]] = {}
        self._last_results: dict[str, dict[str, Any]] = {}
        self._drawn: DrawnArchitectures | None = None
        self._archs: dict[str, dict[str, Any]] = {}  # by Tune trial id, to forget on failure

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Draw until a candidate meets the constraints known before training and is not an
        architecture the job already trained or is training. A rejected draw is told FAIL
        (samplers ignore it) and tagged, so it is never trained, never counts towards n_trials,
        and readers can tell it from a trial that broke. After a repeat, the next draw is random
        where the sampler is an ExploreOnRepeat. After MAX_REPEATED_DRAWS repeats in a row the
        repeat is trained after all: the space is nearly exhausted."""
        drawn = self._drawn_architectures()
        broke_limit = repeats = 0
        while True:
            try:
                with _sampler_time_is_not_training():
                    config = super().suggest(trial_id)
            except ConstraintViolation as e:
                self._reject(trial_id, e.arch, str(e))
                broke_limit += 1
                if broke_limit >= MAX_REJECTED_DRAWS:
                    raise SpecError(
                        f"{MAX_REJECTED_DRAWS} candidates in a row broke the space's constraints "
                        "(space.max_params): loosen them or shrink the space"
                    ) from None
                continue
            if config is None:
                return None
            arch = config["arch"]
            earlier = drawn.trial_of(arch)
            if earlier is not None and repeats < MAX_REPEATED_DRAWS:
                repeats += 1
                self._reject(
                    trial_id,
                    None,
                    f"the architecture of trial {earlier}, which the job trains with the same "
                    "seed: a second run would give the same result",
                )
                if isinstance(self._sampler, ExploreOnRepeat):
                    self._sampler.explore_next()
                continue
            drawn.add(arch, self._ot_trials[trial_id].number)
            self._archs[trial_id] = arch
            return config

    def _reject(self, trial_id: str, arch: dict[str, Any] | None, why: str) -> None:
        assert self._ot_study is not None  # set up before any trial was asked
        ot_trial = self._ot_trials.pop(trial_id)
        if arch is not None:
            ot_trial.set_user_attr(ATTR_ARCH, arch)
        ot_trial.set_user_attr(ATTR_REJECTED, why)
        self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)

    def _drawn_architectures(self) -> DrawnArchitectures:
        """Read from the study before the first draw, so that a resumed job knows what its
        earlier rounds trained; kept up to date here from then on."""
        if self._drawn is None:
            assert self._ot_study is not None  # set up before any trial was asked
            trials = self._ot_study.get_trials(deepcopy=False, states=HOLDS_A_RESULT)
            self._drawn = DrawnArchitectures.from_trials(trials)
        return self._drawn

    def _record_epoch(self, ot_trial: optuna.Trial, trial_id: str, result: dict[str, Any]) -> None:
        """Append an epoch to the trial's curve, once: the last result of a trial that a
        scheduler stops reaches only on_trial_complete, the last of one that finishes both."""
        curve = self._curves.setdefault(trial_id, [])
        point = {k: float(result[k]) for k in CURVE_KEYS if k in result}
        if "epoch" not in point or (curve and curve[-1].get("epoch") == point["epoch"]):
            return
        # A trial Ray restarted after its worker died reports again from the epoch after its
        # latest checkpoint (or from epoch 1): the curve is that of the run that finishes, so
        # drop what the lost run reported from there on.
        curve[:] = [p for p in curve if p["epoch"] < point["epoch"]]
        curve.append(point)
        ot_trial.set_user_attr(ATTR_CURVE, curve)
        ot_trial.set_user_attr(ATTR_EPOCHS_TRAINED, int(point["epoch"]))

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        self._record_epoch(ot_trial, trial_id, result)
        self._last_results[trial_id] = result
        super().on_trial_result(trial_id, result)

    def close_unfinished(self) -> list[int]:
        """End the trials Tune stopped without telling the searcher, as it does with the trials
        still running when a time budget is spent: one that reported an epoch is told COMPLETE
        with its last values (tagged early_stopped), one that reported none PRUNED. Returns
        their numbers. Call after Tuner.fit returns."""
        closed = []
        for trial_id, ot_trial in list(self._ot_trials.items()):
            if trial_id in self._completed_trials:
                continue
            self.on_trial_complete(trial_id, result=self._last_results.get(trial_id))
            closed.append(ot_trial.number)
        return closed

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return
        if result:
            self._record_epoch(ot_trial, trial_id, result)
            epochs = int(result.get("epoch", 0))
            ot_trial.set_user_attr(ATTR_EPOCHS_TRAINED, epochs)
            ot_trial.set_user_attr(ATTR_EARLY_STOPPED, epochs < self._budget_epochs)
            if "time_total_s" in result:
                ot_trial.set_user_attr(ATTR_DURATION_S, float(result["time_total_s"]))
            if "node_id" in result:
                ot_trial.set_user_attr(
                    ATTR_NODE, {"node_id": result["node_id"], "hostname": result.get("hostname")}
                )
            ot_trial.set_user_attr(
                ATTR_COSTS, {k: float(result[k]) for k in COST_KEYS if k in result}
            )
            if result.get("test_accuracy") is not None:
                ot_trial.set_user_attr(ATTR_TEST_ACCURACY, float(result["test_accuracy"]))
        if error:
            assert self._ot_study is not None  # set up before any trial was asked
            if self._drawn is not None and trial_id in self._archs:
                self._drawn.forget(self._archs[trial_id], ot_trial.number)
            self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.FAIL)
            self._completed_trials.add(trial_id)
            return
        super().on_trial_complete(trial_id, result=result, error=error)

"""Samplers learn from full-budget trials only.

A trial that a scheduler stopped early, or that a spent time budget closed, stays COMPLETE in
the study with the values of its last epoch (so the API, the dashboard and optuna-dashboard
show what it reached, tagged early_stopped). A sampler must not read those values as the
trial's result: after one or two epochs a network is far from what it would reach, and a
multi-objective sampler reads a small, barely trained network as a small, inaccurate one, and
learns the wrong front. TPE would put such trials among its good ones whenever they are small
enough to be non-dominated, NSGA-II would breed from them, GP would fit them.

`FullBudgetView` wraps a sampler and shows it every early-stopped trial as what Optuna calls a
trial stopped before its budget: PRUNED, without values. Each sampler then does what it does
with pruned trials: TPE counts them among its bad draws (below every complete trial, since
multi-objective pruned trials report no intermediate values), NSGA-II and GP leave them out.
Nothing in the study changes; only what the wrapped sampler reads.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from search.records import ATTR_EARLY_STOPPED


def stopped_early(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and bool(trial.user_attrs.get(ATTR_EARLY_STOPPED))


def as_seen(trial: FrozenTrial) -> FrozenTrial:
    """The trial as a sampler behind the view sees it: a stopped one as PRUNED (a copy)."""
    if not stopped_early(trial):
        return trial
    pruned = copy.copy(trial)
    pruned.state = TrialState.PRUNED
    pruned.values = None
    return pruned


class _StudyView:
    """The study, but for the trials it lists. Everything else (directions, storage, system
    attributes the samplers keep there) is the study's own."""

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
        use_cache: bool = False,
    ) -> list[FrozenTrial]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=None, use_cache=use_cache)
        seen = [as_seen(t) for t in trials]
        return seen if states is None else [t for t in seen if t.state in states]

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


_LOCK_TYPE = type(threading.Lock())


class FullBudgetView(optuna.samplers.BaseSampler):
    """A sampler that sees early-stopped trials as PRUNED (see the module's docstring).

    Picklable whatever it wraps: Ray Tune pickles the searcher, its sampler with it, when a
    Tuner is made and at every experiment checkpoint, and Optuna 5.1's NSGA-II and NSGA-III
    keep a threading.Lock, which cannot be pickled. The wrapped sampler travels without its
    locks and gets new ones when unpickled.
    """

    def __init__(self, sampler: optuna.samplers.BaseSampler) -> None:
        self.sampler = sampler

    def __getstate__(self) -> dict[str, Any]:
        inner = copy.copy(self.sampler)
        locks = [name for name, value in vars(inner).items() if isinstance(value, _LOCK_TYPE)]
        for name in locks:
            delattr(inner, name)
        return {"sampler": inner, "locks": locks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.sampler = state["sampler"]
        for name in state["locks"]:
            setattr(self.sampler, name, threading.Lock())

    def __str__(self) -> str:
        return f"FullBudgetView({self.sampler})"

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(_view(study), trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.sampler.sample_relative(_view(study), trial, search_space)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self.sampler.sample_independent(_view(study), trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(_view(study), trial)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        if state == TrialState.COMPLETE and trial.user_attrs.get(ATTR_EARLY_STOPPED):
            state, values = TrialState.PRUNED, None
        self.sampler.after_trial(_view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()


def _view(study: optuna.Study) -> optuna.Study:
    # Duck-typed: samplers read a study through the few members _StudyView answers or passes on.
    return _StudyView(study)  # type: ignore[return-value]

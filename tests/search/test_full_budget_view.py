"""Samplers behind FullBudgetView see early-stopped trials as PRUNED: what the view lists, that the
study itself is unchanged, and what a real TPE sampler draws with and without it."""

from __future__ import annotations

import pickle
from collections import Counter

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from search.full_budget_view import FullBudgetView, _StudyView
from search.records import ATTR_EARLY_STOPPED
from search.samplers import SAMPLER_NAMES, make_sampler

DIRECTIONS = ["maximize", "minimize"]  # accuracy, params
CHOICE = {"mixer": CategoricalDistribution(["stm", "conv"])}


def _study_with(trials: list[tuple[str, float, float, bool]]) -> optuna.Study:
    """An in-memory study of complete trials: (mixer, accuracy, params, stopped early)."""
    study = optuna.create_study(directions=DIRECTIONS)
    for mixer, accuracy, params, early in trials:
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                values=[accuracy, params],
                params={"mixer": mixer},
                distributions=CHOICE,
                user_attrs={ATTR_EARLY_STOPPED: early},
            )
        )
    return study


def test_view_lists_stopped_trials_as_pruned_and_leaves_the_study_alone() -> None:
    study = _study_with([("stm", 0.9, 100.0, False), ("conv", 0.2, 10.0, True)])
    view = _StudyView(study)
    seen = view._get_trials(deepcopy=False)
    assert [t.state for t in seen] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert seen[0].values == [0.9, 100.0] and seen[1].values is None
    assert [t.number for t in view.get_trials(states=(TrialState.COMPLETE,))] == [0]
    assert [t.number for t in view.get_trials(states=(TrialState.PRUNED,))] == [1]
    # The study, its cache and what every other reader sees are unchanged.
    for trials in (study.get_trials(), study._get_trials(deepcopy=False, use_cache=True)):
        assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
        assert trials[1].values == [0.2, 10.0]
    assert view.directions == study.directions  # everything else is the study's own


def _draws(sampler: optuna.samplers.BaseSampler, study: optuna.Study, n: int) -> Counter[str]:
    drawn: Counter[str] = Counter()
    for _ in range(n):
        trial = study.ask()
        drawn[trial.suggest_categorical("mixer", ["stm", "conv"])] += 1
        study.tell(trial, state=TrialState.FAIL)  # keep the evidence as it is between draws
    return drawn


def _misleading_study(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    """Trained to the end, stm is accurate and conv is not; but conv's trials that were stopped
    after an epoch look best of all (their last values: few parameters, and accuracy that the
    full-budget conv trials never reached)."""
    trials = [("stm", 0.90, 1000.0, False)] * 6 + [("conv", 0.20, 2000.0, False)] * 6
    trials += [("conv", 0.95, 10.0, True)] * 12
    study = _study_with(trials)
    study.sampler = sampler
    return study


def _tpe() -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=0, n_startup_trials=0)


def test_tpe_behind_the_view_learns_from_full_budget_trials() -> None:
    bare = _draws(_tpe(), _misleading_study(_tpe()), 30)
    view = FullBudgetView(_tpe())
    behind = _draws(view, _misleading_study(view), 30)
    # Bare, TPE takes the stopped trials' values for results and draws conv; behind the view
    # it counts them among its bad draws and draws stm.
    assert bare["conv"] > bare["stm"]
    assert behind["stm"] > 2 * behind["conv"]


def test_after_trial_reports_a_stopped_trial_as_pruned() -> None:
    calls: list[tuple[TrialState, object]] = []

    class Recording(optuna.samplers.RandomSampler):
        def after_trial(self, study, trial, state, values) -> None:  # type: ignore[no-untyped-def]
            calls.append((state, values))

    view = FullBudgetView(Recording(seed=0))
    study = optuna.create_study(directions=DIRECTIONS, sampler=view)
    for early in (False, True):
        trial = study.ask()
        trial.set_user_attr(ATTR_EARLY_STOPPED, early)
        study.tell(trial, [0.5, 100.0])
    assert calls == [(TrialState.COMPLETE, [0.5, 100.0]), (TrialState.PRUNED, None)]
    # The study keeps both as told: complete, with their values.
    assert [t.values for t in study.trials] == [[0.5, 100.0], [0.5, 100.0]]


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_every_sampler_survives_pickling_and_samples_after(name: str) -> None:
    view = FullBudgetView(make_sampler(name, seed=0))
    copy = pickle.loads(pickle.dumps(view))
    assert type(copy.sampler) is type(view.sampler)
    # Optuna 5.1's GA samplers lock their generation cache: the copy has a lock of its own.
    if hasattr(view.sampler, "_thread_lock"):
        assert copy.sampler._thread_lock is not view.sampler._thread_lock
    study = optuna.create_study(directions=DIRECTIONS, sampler=copy)
    for _ in range(3):
        trial = study.ask()
        trial.suggest_categorical("mixer", ["stm", "conv"])
        study.tell(trial, [0.5, 100.0])
    assert len(study.trials) == 3

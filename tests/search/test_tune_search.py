"""StudySearch, Ray Tune's OptunaSearch bound to a job's study: what it writes into the study
when it asks for candidates, without starting Ray (the searcher is a plain object)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest

from search.records import ATTR_ARCH, ATTR_REJECTED
from search.results import list_trials, read_progress
from search.study import open_storage, study_name
from search.tune_search import MAX_REJECTED_DRAWS
from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import count_params, spec_params
from spaces.errors import SpecError
from spaces.space import RandomSuggester, SearchSpace, SpaceConstraints
from tests.search.searchers import OBJECTIVES, study_search


def test_spec_params_counts_the_built_network() -> None:
    space = SearchSpace(SpaceConstraints(max_stages=2), (8, 8), num_classes=10)
    for seed in range(5):
        spec = space.sample(RandomSuggester(seed))
        assert spec_params(spec) == count_params(build_model(spec, seed=0))


def test_candidates_above_max_params_are_rejected_never_returned(tmp_path: Path) -> None:
    """The limit sits between the smallest and the largest networks of the space, so some draws
    break it: those are told FAIL, tagged, counted as rejected, and never reach a trainable."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/search.db"
    limit = 20_000
    searcher = study_search(
        url, SpaceConstraints(dims=(16, 64), max_depth=3, max_params=limit), seed=1
    )
    configs = [searcher.suggest(f"trial_{i}") for i in range(6)]
    for config in configs:
        assert config is not None
        assert spec_params(ArchSpec.model_validate(config["arch"])) <= limit
    storage = open_storage(url)
    progress = read_progress(storage, 1, total=6)
    assert progress.failed == 0 and progress.running == 6, "rejected draws are not failures"
    records, count = list_trials(storage, 1, OBJECTIVES, limit=1000, offset=0)
    rejected = [r for r in records if r.state == "rejected"]
    assert rejected, "the limit was meant to reject some draws"
    assert count == 6 + len(rejected)
    study = optuna.load_study(study_name=study_name(1), storage=storage)
    for trial in study.get_trials():
        if ATTR_REJECTED in trial.user_attrs:
            assert trial.state == optuna.trial.TrialState.FAIL
            assert "max_params" in trial.user_attrs[ATTR_REJECTED]
            assert spec_params(ArchSpec.model_validate(trial.user_attrs[ATTR_ARCH])) > limit


def test_a_space_that_cannot_meet_its_limit_fails_with_a_message(tmp_path: Path) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = study_search(
        f"sqlite:///{tmp_path}/search.db",
        SpaceConstraints(dims=(128,), min_depth=2, max_depth=2, max_params=100),
    )
    with pytest.raises(SpecError, match=rf"{MAX_REJECTED_DRAWS} candidates.*max_params"):
        searcher.suggest("trial_0")


def test_a_restarted_trial_keeps_the_curve_of_the_run_that_finishes(tmp_path: Path) -> None:
    """Ray restarts a trial whose worker died: its epochs are reported from 1 again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searcher = study_search(f"sqlite:///{tmp_path}/search.db", SpaceConstraints(dims=(16,)))
    searcher.suggest("t")
    for epoch in (1, 2, 1, 2, 2):
        searcher.on_trial_result("t", {"epoch": epoch, "accuracy": 0.1 * epoch + 0.05})
    curve = searcher._curves["t"]
    assert [p["epoch"] for p in curve] == [1.0, 2.0]


class _SlowRandomSampler(optuna.samplers.RandomSampler):
    """A sampler whose draw takes over a second, as GP's does on 2 cores."""

    def sample_independent(self, *args: Any, **kwargs: Any) -> Any:
        if not self._slept:
            time.sleep(1.1)
            self._slept = True
        return super().sample_independent(*args, **kwargs)

    _slept = False


def test_a_slow_draw_is_not_reported_as_training_in_the_search_space(tmp_path: Path) -> None:
    """Ray warns when the define-by-run function takes over a second, as if it trained; the
    time is the sampler's, so no such warning reaches the user."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/search.db"
    searcher = study_search(url, SpaceConstraints(dims=(16,)), sampler=_SlowRandomSampler())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        started = time.perf_counter()
        assert searcher.suggest("t") is not None
    assert time.perf_counter() - started > 1.0, "the draw was meant to be slow"
    assert not [w for w in caught if "Define-by-run" in str(w.message)]

"""ExploreOnRepeat: after a repeated architecture, the next draw is random; every other draw is
the wrapped sampler's, which still sees every trial begin and end."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial

from search.duplicates import arch_key
from search.explore_on_repeat import EXPLORE_SEED_OFFSET, ExploreOnRepeat
from search.records import ATTR_REJECTED
from search.study import open_storage, study_name
from search.tune_search import MAX_REPEATED_DRAWS
from spaces.space import SpaceConstraints
from tests.search.searchers import study_search

optuna.logging.set_verbosity(optuna.logging.WARNING)

X = FloatDistribution(0.0, 100.0)
SPACE = SpaceConstraints(
    mixers=("identity", "pool"),
    dims=(16, 32),
    max_depth=1,
    mlp_ratios=(1.0, 2.0),
    time_steps=(2,),
    downsample=(1,),
)


class FirstChoice(optuna.samplers.BaseSampler):
    """Always the first choice of a categorical and the low end of a range: a sampler that has
    settled on one point, as TPE does on a small space, so that every draw after the first is a
    repeat."""

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if isinstance(param_distribution, CategoricalDistribution):
            return param_distribution.choices[0]
        return param_distribution.low  # type: ignore[attr-defined]


def _ask_x(study: optuna.Study) -> float:
    trial = study.ask()
    x = trial.suggest_float("x", X.low, X.high)
    study.tell(trial, x)
    return x


def test_only_the_trial_after_explore_next_is_drawn_at_random() -> None:
    sampler = ExploreOnRepeat(FirstChoice(), seed=5)
    study = optuna.create_study(sampler=sampler)
    assert [_ask_x(study) for _ in range(3)] == [0.0, 0.0, 0.0]
    sampler.explore_next()
    explored = _ask_x(study)
    expected = optuna.samplers.RandomSampler(seed=5 + EXPLORE_SEED_OFFSET)
    reference = optuna.create_study(sampler=expected)
    assert explored == _ask_x(reference), "the seeded random sampler's first draw"
    assert explored != 0.0
    assert [_ask_x(study) for _ in range(2)] == [0.0, 0.0], "back to the wrapped sampler"


def test_an_explorer_given_draws_the_trial_after_a_repeat() -> None:
    """A job with progressive depth gives its own explorer (one whose depths are capped)."""

    class HighEnd(FirstChoice):
        def sample_independent(self, study: Any, trial: Any, name: str, d: Any) -> Any:
            return d.high

    sampler = ExploreOnRepeat(FirstChoice(), seed=5, explorer=HighEnd())
    study = optuna.create_study(sampler=sampler)
    assert _ask_x(study) == 0.0
    sampler.explore_next()
    assert _ask_x(study) == 100.0
    assert _ask_x(study) == 0.0


def test_nsga2_leaves_explored_trials_out_of_its_generations() -> None:
    """NSGA-II gives a trial its generation when it draws it and breeds from generations: the
    trials drawn at random have none, every other has one, and the study runs on past the
    first generation."""
    nsga = optuna.samplers.NSGAIISampler(seed=0, population_size=4)
    sampler = ExploreOnRepeat(nsga, seed=0)
    study = optuna.create_study(sampler=sampler)
    explored = set()
    for i in range(16):
        if i % 3 == 0:
            sampler.explore_next()
            explored.add(i)
        _ask_x(study)
    key = "NSGAIISampler:generation"
    assert {t.number for t in study.trials if key not in t.system_attrs} == explored
    assert max(t.system_attrs.get(key, 0) for t in study.trials) >= 1


def test_it_survives_pickling_and_samples_after() -> None:
    """Ray Tune pickles the searcher, and the sampler in it."""
    sampler = ExploreOnRepeat(optuna.samplers.TPESampler(seed=0), seed=0)
    sampler.explore_next()
    copy = pickle.loads(pickle.dumps(sampler))
    study = optuna.create_study(sampler=copy)
    assert 0.0 <= _ask_x(study) <= 100.0


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name(1), storage=open_storage(url)).get_trials()


@pytest.mark.parametrize("explore", [True, False])
def test_a_settled_sampler_gets_a_new_architecture_after_one_repeat(
    tmp_path: Path, explore: bool
) -> None:
    """A sampler that draws one architecture only: behind ExploreOnRepeat the searcher's second
    candidate is another architecture, drawn at random after the repeat (again only if the
    random draw repeats too); unwrapped, it is the same architecture after MAX_REPEATED_DRAWS
    rejected ones."""
    url = f"sqlite:///{tmp_path}/search.db"
    sampler = ExploreOnRepeat(FirstChoice(), seed=1) if explore else FirstChoice()
    searcher = study_search(url, SPACE, sampler=sampler)
    first, second = searcher.suggest("t0"), searcher.suggest("t1")
    assert first is not None and second is not None
    rejected = [t for t in _trials(url) if ATTR_REJECTED in t.user_attrs]
    if explore:
        assert arch_key(first["arch"]) != arch_key(second["arch"])
        assert 1 <= len(rejected) < MAX_REPEATED_DRAWS
    else:
        assert arch_key(first["arch"]) == arch_key(second["arch"])
        assert len(rejected) == MAX_REPEATED_DRAWS

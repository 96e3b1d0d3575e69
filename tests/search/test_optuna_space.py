"""The Optuna adapter of the search space: same names, same choices, same specs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.optuna_space import OptunaSuggester
from spaces.space import RandomSuggester, SearchSpace, SpaceConstraints

CONSTRAINTS = SpaceConstraints(
    mixers=("stm", "ssa", "conv", "pool", "identity"),
    dims=(16, 32),
    min_depth=1,
    max_depth=3,
    max_stages=2,
    neurons=("lif", "plif", "klif"),
    surrogates=("sigmoid", "atan", "dspike"),
    time_steps=(2, 4),
    downsample=(1, 2, 4),
    max_tokens=16,
)
SPACE = SearchSpace(CONSTRAINTS, (8, 8), num_classes=10)


@pytest.mark.parametrize("seed", range(10))
def test_fixed_trial_reproduces_a_random_draw(seed: int) -> None:
    suggester = RandomSuggester(seed)
    spec = SPACE.sample(suggester)
    trial = optuna.trial.FixedTrial(suggester.params)
    assert SPACE.sample(OptunaSuggester(trial)) == spec
    assert trial.params == suggester.params


def test_live_trials_sample_valid_specs() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    for _ in range(15):
        trial = study.ask()
        spec = SPACE.sample(OptunaSuggester(trial))
        assert spec.num_tokens <= CONSTRAINTS.max_tokens
        assert trial.params["s0.depth"] == len(spec.stages[0].blocks)
        assert isinstance(trial.params["downsample"], int)
        study.tell(trial, [0.5, float(spec.depth)])


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_heads_choices_do_not_depend_on_dim(storage: str, tmp_path: Path) -> None:
    """Optuna refuses a categorical parameter whose choices change between trials of a study
    ("CategoricalDistribution does not support dynamic value space"); the heads that divide
    one dim must not become a different choice list for another dim."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    constraints = SpaceConstraints(
        mixers=("stm",), dims=(24, 32), heads=(1, 2, 4, 8, 16), min_depth=1, max_depth=1
    )
    space = SearchSpace(constraints, (8, 8), num_classes=10)
    url = None if storage == "memory" else f"sqlite:///{tmp_path}/heads.db"
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    dims = set()
    for _ in range(12):
        trial = study.ask()
        spec = space.sample(OptunaSuggester(trial))
        dim = spec.stages[0].dim
        assert dim % spec.stages[0].blocks[0].mixer.heads == 0
        dims.add(dim)
        study.tell(trial, 0.5)
    assert dims == {24, 32}

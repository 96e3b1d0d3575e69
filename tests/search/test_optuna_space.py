"""The Optuna adapter of the search space: same names, same choices, same specs."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.optuna_space import OptunaSuggester
from search.samplers import EVERY_CHOICE_SAMPLERS, make_sampler
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


def test_every_choice_draws_name_the_same_parameters() -> None:
    """With every_choice, depth 1 and depth 3 draws name the same parameters, and an Optuna trial
    holding those parameters builds the same architecture."""
    names = set()
    depths = set()
    for seed in range(30):
        suggester = RandomSuggester(seed)
        spec = SPACE.sample(suggester, every_choice=True)
        depths.add(len(spec.stages[0].blocks))
        names.add(frozenset(suggester.params))
        trial = optuna.trial.FixedTrial(suggester.params)
        assert SPACE.sample(OptunaSuggester(trial), every_choice=True) == spec
    assert depths == {1, 2, 3}
    assert len(names) == 1
    assert "s1.b2.heads" in next(iter(names))


@pytest.mark.parametrize("sampler_name", ["nsga2", "nsga3"])
def test_evolutionary_samplers_evolve_the_block_choices(sampler_name: str) -> None:
    """NSGA-II/III recombine only Optuna's intersection search space; with every choice drawn,
    every block's mixer and MLP ratio is in it, not drawn at random beside the evolution."""
    assert sampler_name in EVERY_CHOICE_SAMPLERS
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace(SpaceConstraints(), (8, 8), num_classes=10)
    sampler = make_sampler(sampler_name, seed=0, n_trials=12)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    for i in range(6):
        trial = study.ask()
        spec = space.sample(OptunaSuggester(trial), every_choice=True)
        study.tell(trial, [i / 6, float(spec.depth)])
    modelled = set(sampler.infer_relative_search_space(study, study.ask()))
    for b in range(SpaceConstraints().max_depth):
        assert {f"s0.b{b}.mixer", f"s0.b{b}.mlp_ratio", f"s0.b{b}.kernel"} <= modelled
    assert {"s0.depth", "s0.dim", "time_steps", "downsample"} <= modelled


def test_other_samplers_draw_only_the_choices_used() -> None:
    """GP's acquisition would chase variations of unused choices (each one a repeat of a trained
    architecture, refused), and TPE models the conditional space in groups: their draws name
    only what the architecture uses."""
    assert not {"gp", "tpe", "random"} & EVERY_CHOICE_SAMPLERS
    for seed in range(20):
        suggester = RandomSuggester(seed)
        spec = SPACE.sample(suggester)
        used = {f"s{s}.b{b}" for s, st in enumerate(spec.stages) for b in range(len(st.blocks))}
        blocks = {name.rsplit(".", 1)[0] for name in suggester.params if ".b" in name}
        assert blocks == used

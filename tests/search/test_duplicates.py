"""Repeated architectures: the searcher asks again instead of training an architecture the job
already trained or is training (every trial trains with the job's seed, so a repeat would give
the same result), and forgets one whose trial failed."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from search.duplicates import DrawnArchitectures, arch_key
from search.records import ATTR_ARCH, ATTR_REJECTED
from search.results import list_trials, read_progress
from search.study import open_storage, study_name
from search.tune_search import MAX_REPEATED_DRAWS
from spaces.space import SpaceConstraints
from tests.search.searchers import OBJECTIVES, study_search

# Four architectures: two widths by two MLP ratios, one block of one mixer.
FOUR = SpaceConstraints(
    mixers=("identity",),
    dims=(16, 32),
    max_depth=1,
    mlp_ratios=(1.0, 2.0),
    time_steps=(2,),
    downsample=(1,),
    kernels=(3,),
)
RESULT = {"epoch": 2, "accuracy": 0.5, "params": 1000.0, "spike_rate": 0.1}


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/search.db"


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study_name(1), storage=open_storage(url)).get_trials()


def test_the_key_ignores_field_order() -> None:
    assert arch_key({"a": 1, "b": [1, 2]}) == arch_key({"b": [1, 2], "a": 1})
    assert arch_key({"a": 1}) != arch_key({"a": 2})


def test_a_failed_trial_frees_its_architecture_only_if_it_holds_it() -> None:
    drawn = DrawnArchitectures()
    drawn.add({"a": 1}, 3)
    drawn.add({"a": 1}, 5)  # a repeat trained after all: trial 3 still holds the result
    drawn.forget({"a": 1}, 5)
    assert drawn.trial_of({"a": 1}) == 3
    drawn.forget({"a": 1}, 3)
    assert drawn.trial_of({"a": 1}) is None


def test_only_trials_with_a_result_hold_their_architecture() -> None:
    """Complete and running trials hold theirs; failed ones, pruned ones (a time budget spent
    before their first epoch) and rejected draws do not."""

    def trial(
        number: int, state: optuna.trial.TrialState, **attrs: object
    ) -> optuna.trial.FrozenTrial:
        values = [0.5, 1000.0, 0.1] if state == optuna.trial.TrialState.COMPLETE else None
        frozen = optuna.trial.create_trial(
            state=state, values=values, user_attrs={ATTR_ARCH: {"n": number}, **attrs}
        )
        frozen.number = number
        return frozen

    states = optuna.trial.TrialState
    drawn = DrawnArchitectures.from_trials(
        [
            trial(0, states.COMPLETE),
            trial(1, states.RUNNING),
            trial(2, states.FAIL),
            trial(3, states.PRUNED),
            trial(4, states.FAIL, **{ATTR_REJECTED: "a repeat"}),
        ]
    )
    assert [drawn.trial_of({"n": n}) for n in range(5)] == [0, 1, None, None, None]


def test_a_repeat_is_rejected_naming_the_trial_that_has_it(tmp_path: Path) -> None:
    """Random search over four architectures repeats within four trials: each repeat is told
    FAIL, tagged with the trial that has the architecture, and left out of the counts; a repeat
    is trained only after MAX_REPEATED_DRAWS rejected ones in a row."""
    url = _url(tmp_path)
    searcher = study_search(url, FOUR, seed=3)
    for i in range(4):
        assert searcher.suggest(f"t{i}") is not None

    trials = _trials(url)
    repeats = [t for t in trials if ATTR_REJECTED in t.user_attrs]
    assert repeats, "random draws over four architectures repeat within four trials"
    holder: dict[str, int] = {}
    run_of_repeats = 0
    for t in trials:
        key = arch_key(t.user_attrs[ATTR_ARCH])
        if ATTR_REJECTED in t.user_attrs:
            assert t.state == optuna.trial.TrialState.FAIL
            why = t.user_attrs[ATTR_REJECTED]
            assert f"the architecture of trial {holder[key]}," in why
            assert "same seed" in why
            run_of_repeats += 1
            continue
        assert t.state == optuna.trial.TrialState.RUNNING
        assert key not in holder or run_of_repeats == MAX_REPEATED_DRAWS
        holder.setdefault(key, t.number)
        run_of_repeats = 0
    progress = read_progress(open_storage(url), 1, total=4)
    assert (progress.running, progress.failed) == (4, 0)
    records, count = list_trials(open_storage(url), 1, OBJECTIVES, limit=1000, offset=0)
    assert count == len(trials)
    assert sum(r.state == "rejected" for r in records) == len(repeats)


def test_an_exhausted_space_trains_a_repeat_after_the_limit(tmp_path: Path) -> None:
    """A space of one architecture: the second trial comes after MAX_REPEATED_DRAWS rejected
    draws, and is that architecture again."""
    url = _url(tmp_path)
    one = FOUR.model_copy(update={"dims": (16,), "mlp_ratios": (1.0,)})
    searcher = study_search(url, one)
    first, second = searcher.suggest("t0"), searcher.suggest("t1")
    assert first is not None and second is not None
    assert arch_key(first["arch"]) == arch_key(second["arch"])
    states = [(t.state, ATTR_REJECTED in t.user_attrs) for t in _trials(url)]
    running = (optuna.trial.TrialState.RUNNING, False)
    rejected = (optuna.trial.TrialState.FAIL, True)
    assert states == [running, *[rejected] * MAX_REPEATED_DRAWS, running]


def test_the_architecture_of_a_failed_trial_may_be_drawn_again(tmp_path: Path) -> None:
    """Three trials hold three architectures, one fails in training: the fourth and fifth
    draws can only be the two without a result, so the failed one is trained again."""
    url = _url(tmp_path)
    searcher = study_search(url, FOUR, seed=3)
    configs = {f"t{i}": searcher.suggest(f"t{i}") for i in range(3)}
    searcher.on_trial_complete("t0", result={"epoch": 1, "accuracy": 0.1}, error=True)
    searcher.on_trial_complete("t1", result=RESULT)
    fourth, fifth = searcher.suggest("t3"), searcher.suggest("t4")
    assert fourth is not None and fifth is not None
    assert configs["t0"] is not None
    failed_arch = arch_key(configs["t0"]["arch"])
    assert failed_arch in {arch_key(fourth["arch"]), arch_key(fifth["arch"])}
    assert arch_key(fourth["arch"]) != arch_key(fifth["arch"])


def test_a_resumed_search_knows_what_earlier_rounds_trained(tmp_path: Path) -> None:
    """A new searcher on the study (a resumed job) rejects the architectures that the first
    one's trials finished, and not the one whose trial failed."""
    url = _url(tmp_path)
    first = study_search(url, FOUR, seed=3)
    done = {f"t{i}": first.suggest(f"t{i}") for i in range(3)}
    first.on_trial_complete("t0", result=RESULT)
    first.on_trial_complete("t1", result=RESULT)
    first.on_trial_complete("t2", result={"epoch": 1, "accuracy": 0.1}, error=True)

    second = study_search(url, FOUR, seed=11)
    new = [second.suggest(f"r{i}") for i in range(2)]
    keys = {t: arch_key(config["arch"]) for t, config in done.items() if config is not None}
    drawn = {arch_key(c["arch"]) for c in new if c is not None}
    assert len(keys) == 3 and len(drawn) == 2
    assert not drawn & {keys["t0"], keys["t1"]}
    assert keys["t2"] in drawn

"""A StudySearch on a small image space and an SQLite study, without Ray: the searcher is a
plain object, so tests can ask it for candidates and tell it results directly."""

from __future__ import annotations

import optuna

from search.study import open_storage, study_name
from search.tune_search import DefineByRun, StudySearch
from spaces.space import SearchSpace, SpaceConstraints

OBJECTIVES = ["accuracy", "params", "spike_rate"]
BUDGET_EPOCHS = 2


def study_search(
    url: str,
    constraints: SpaceConstraints,
    seed: int = 0,
    sampler: optuna.samplers.BaseSampler | None = None,
) -> StudySearch:
    space = SearchSpace(constraints, (8, 8), num_classes=10)
    return StudySearch(
        space=DefineByRun(space, budget_epochs=BUDGET_EPOCHS),
        metric=OBJECTIVES,
        mode=["max", "min", "min"],
        sampler=sampler or optuna.samplers.RandomSampler(seed=seed),
        study_name=study_name(1),
        storage=open_storage(url),
        budget_epochs=BUDGET_EPOCHS,
    )

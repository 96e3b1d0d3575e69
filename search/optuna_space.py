"""The search space as Optuna distributions: a Suggester over an Optuna trial.

The space's conditional structure lives in spaces.space.SearchSpace; this adapter only maps its
named choices onto suggest_categorical / suggest_int, so every sampler sees the same names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


class OptunaSuggester:
    """spaces.space.Suggester backed by an optuna.Trial (or Ray's capturing wrapper of one)."""

    def __init__(self, trial: Any) -> None:
        self._trial = trial

    def categorical(self, name: str, choices: Sequence[T]) -> T:
        options = list(choices)
        # Optuna stores categorical choices as JSON scalars; index floats/ints directly.
        return self._trial.suggest_categorical(name, options)

    def integer(self, name: str, low: int, high: int) -> int:
        return int(self._trial.suggest_int(name, low, high))

"""Which architectures a job has already trained, or is training.

Every trial of a job trains with the job's seed, so an architecture drawn a second time would
train to the same result (bit for bit on CPU): a second run costs a trial's time and adds nothing
to the front. Samplers do draw them again: TPE from a narrow Parzen estimator, NSGA-II from
parents that crossover and mutation leave unchanged (8 of TPE's 61 trials were repeats in a
job of benchmarks/search.py on digits). Optuna leaves the check to the objective;
here the searcher asks for another candidate instead (search/tune_search.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import optuna

from search.records import ATTR_ARCH, ATTR_REJECTED

# A trial in one of these states holds its architecture's result, or will. A failed trial's
# does not, nor does a pruned one's (ended by a spent time budget before its first epoch): their
# architectures may be drawn and trained again.
HOLDS_A_RESULT = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)


def arch_key(arch: dict[str, Any]) -> str:
    """One string per architecture, whatever order its fields were written in."""
    return json.dumps(arch, sort_keys=True, separators=(",", ":"))


class DrawnArchitectures:
    """The architectures handed to training, each with the number of its trial."""

    def __init__(self) -> None:
        self._trial_of: dict[str, int] = {}

    @classmethod
    def from_trials(cls, trials: Iterable[optuna.trial.FrozenTrial]) -> DrawnArchitectures:
        """What an earlier round of the job (before a resume) trained or is training."""
        drawn = cls()
        for trial in trials:
            attrs = trial.user_attrs
            if trial.state in HOLDS_A_RESULT and ATTR_ARCH in attrs and ATTR_REJECTED not in attrs:
                drawn.add(attrs[ATTR_ARCH], trial.number)
        return drawn

    def trial_of(self, arch: dict[str, Any]) -> int | None:
        """The trial that trained, or trains, this architecture; None for a new one."""
        return self._trial_of.get(arch_key(arch))

    def add(self, arch: dict[str, Any], number: int) -> None:
        self._trial_of.setdefault(arch_key(arch), number)

    def forget(self, arch: dict[str, Any], number: int) -> None:
        """Trial `number` failed: its architecture has no result, and may be drawn again."""
        key = arch_key(arch)
        if self._trial_of.get(key) == number:
            del self._trial_of[key]

    def __len__(self) -> int:
        return len(self._trial_of)

"""What a progressive search holds back early in a job, and when it lets it in.

Each cap looks at one choice (by its name in spaces/space.py and its Optuna distribution) and
the share of the job's budget spent (search/budget_spent.py), and returns the values a draw may
take, or None when every value is open.

- Depth: each stage has the space's fewest blocks until FIRST_THRESHOLD of the budget, then one
  block more at each of the thresholds spread evenly from there to LAST_THRESHOLD.
- Mixers: the mixers whose cost grows with the square of the token count (QUADRATIC_MIXERS:
  STM, SSA, SDSA) are left out of every block's draw until FIRST_THRESHOLD, where the space
  offers another mixer.

Why these two: the front a job returns is judged by its hypervolume over accuracy, size and
spike rate, and its largest shares come from small accurate networks (benchmarks/search_results.md,
2026-12-06). One block trains in less than half the time of three (recorded medians 2.9-3.7 s
against 7.1-9.5 s a trial), and on the npz sequence set (64 steps, up to 64 tokens) an STM
mixer's token matrices alone hold 4 x 64^2 = 16k parameters, more than a whole one-block
network of width 32 without it; random draws replayed from 150 recorded trials reached random
search's hypervolume in 0.62 (npz set) and 0.52 (digits) of its time at one block, 0.51 and 0.46
at one block without STM, against 0.98 unconfined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from spaces.space import QUADRATIC_MIXERS, is_depth_choice, is_mixer_choice

FIRST_THRESHOLD, LAST_THRESHOLD = 0.35, 0.75


class Cap(Protocol):
    def __call__(
        self, name: str, distribution: BaseDistribution, spent: float
    ) -> Sequence[Any] | None:
        """The values choice `name` may take once `spent` (0..1) of the budget is gone, or None
        when it is not this cap's choice or every value is open."""
        ...


def depth_cap(low: int, high: int, spent: float) -> int:
    """The deepest stage a draw may have once `spent` (0..1) of the budget is gone."""
    # No level (a fixed depth): no threshold. One level: unlocked at the first threshold
    # (linspace of one point is its start).
    thresholds = np.linspace(FIRST_THRESHOLD, LAST_THRESHOLD, high - low)
    return low + int(np.sum(spent >= thresholds))


def cap_depth(name: str, distribution: BaseDistribution, spent: float) -> range | None:
    if not (is_depth_choice(name) and isinstance(distribution, IntDistribution)):
        return None
    low, high = int(distribution.low), int(distribution.high)
    cap = depth_cap(low, high, spent)
    return range(low, cap + 1) if cap < high else None


def cap_mixers(name: str, distribution: BaseDistribution, spent: float) -> list[Any] | None:
    if not (is_mixer_choice(name) and isinstance(distribution, CategoricalDistribution)):
        return None
    if spent >= FIRST_THRESHOLD:
        return None
    linear = [c for c in distribution.choices if c not in QUADRATIC_MIXERS]
    # A space of quadratic mixers only (or none of them) has nothing to hold back.
    return linear if 0 < len(linear) < len(distribution.choices) else None

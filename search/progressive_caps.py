"""What a progressive search holds back early in a job, and when it lets it in.

Each cap looks at one choice (by its name in spaces/choice_names.py and its Optuna
distribution), the share of the job's budget spent (search/budget_spent.py) and the trial's
choices drawn so far, and returns the values a draw may take, or None when every value is open.

- Depth: each stage has the space's fewest blocks until FIRST_THRESHOLD of the budget, then one
  block more at each of the thresholds spread evenly from there to LAST_THRESHOLD.
- Tokens: the downsampling is the space's largest (the fewest tokens) until FIRST_THRESHOLD,
  then one step finer at each threshold spread evenly from there to LAST_THRESHOLD. The token
  count multiplies the cost of every layer: in random search's jobs of 2026-12-07 the trials at
  downsample 1 (64 tokens) took 43-52% of the training time, up to 131 s a trial against 5-19 s
  at downsample 4, and were never the most accurate; at downsample 4 (16 tokens of the npz
  set, 4 of digits) trials reached 0.96 and 0.98 accuracy (benchmarks/search_results.md,
  2026-12-07).
- Mixers: the mixers whose cost grows with the square of the token count (QUADRATIC_MIXERS:
  STM, SSA, SDSA) are left out of a block's draw until FIRST_THRESHOLD where the draw's token
  count N exceeds its stage's width D, and the space offers another mixer. Per time step SSA's
  and SDSA's attention takes about N^2 D products against the N D^2 of a block's projections,
  and STM's token matrices hold H N^2 parameters against a projection's D^2: past N = D the
  quadratic term is the block's largest. Where N <= D (digits at downsample 2: 16 tokens) they
  cost no more than the rest of the block and are drawn from the start.

Why these: the front a job returns is judged by its hypervolume over accuracy, size and
spike rate, and its largest shares come from small accurate networks (benchmarks/search_results.md,
2026-12-06). One block trains in less than half the time of three (recorded medians 2.9-3.7 s
against 7.1-9.5 s a trial), and on the npz sequence set (64 steps, up to 64 tokens) an STM
mixer's token matrices alone hold 4 x 64^2 = 16k parameters, more than a whole one-block
network of width 32 without it; random draws replayed from 150 recorded trials reached random
search's hypervolume in 0.62 (npz set) and 0.52 (digits) of its time at one block, 0.51 and 0.46
at one block without STM, against 0.98 unconfined. Measured in jobs (TPE, multi-objective
ASHA): depth and tokens together reached random search's final hypervolume in 0.29 (npz set)
and 0.34 (digits) of its time, depth alone 0.71 and 0.41, depth and mixers 0.58 and 0.57.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from spaces.arch import num_tokens
from spaces.choice_names import DOWNSAMPLE_CHOICE, dim_choice, is_depth_choice, mixer_choice_stage
from spaces.space import QUADRATIC_MIXERS

FIRST_THRESHOLD, LAST_THRESHOLD = 0.35, 0.75


class Cap(Protocol):
    def __call__(
        self,
        name: str,
        distribution: BaseDistribution,
        spent: float,
        drawn: Mapping[str, Any],
    ) -> Sequence[Any] | None:
        """The values choice `name` may take once `spent` (0..1) of the budget is gone, given
        the trial's choices `drawn` so far (empty in a joint draw, made before any), or None
        when it is not this cap's choice or every value is open."""
        ...


def levels_open(levels: int, spent: float) -> int:
    """How many of `levels` steps above the cheapest value are open once `spent` (0..1) of the
    budget is gone: one at each threshold spread evenly from FIRST_ to LAST_THRESHOLD."""
    # No level (a fixed choice): no threshold. One level: unlocked at the first threshold
    # (linspace of one point is its start).
    thresholds = np.linspace(FIRST_THRESHOLD, LAST_THRESHOLD, levels)
    return int(np.sum(spent >= thresholds))


def depth_cap(low: int, high: int, spent: float) -> int:
    """The deepest stage a draw may have once `spent` (0..1) of the budget is gone."""
    return low + levels_open(high - low, spent)


def cap_depth(
    name: str, distribution: BaseDistribution, spent: float, drawn: Mapping[str, Any]
) -> range | None:
    if not (is_depth_choice(name) and isinstance(distribution, IntDistribution)):
        return None
    low, high = int(distribution.low), int(distribution.high)
    cap = depth_cap(low, high, spent)
    return range(low, cap + 1) if cap < high else None


@dataclass(frozen=True)
class CapQuadraticMixers:
    """Holds STM, SSA and SDSA back early where a block's tokens outnumber its channels (module
    docstring), for samples of `input_shape`."""

    input_shape: tuple[int, ...]

    def __call__(
        self, name: str, distribution: BaseDistribution, spent: float, drawn: Mapping[str, Any]
    ) -> list[Any] | None:
        stage = mixer_choice_stage(name)
        if stage is None or not isinstance(distribution, CategoricalDistribution):
            return None
        if spent >= FIRST_THRESHOLD or self._affordable(stage, drawn):
            return None
        linear = [c for c in distribution.choices if c not in QUADRATIC_MIXERS]
        # A space of quadratic mixers only (or none of them) has nothing to hold back.
        return linear if 0 < len(linear) < len(distribution.choices) else None

    def _affordable(self, stage: int, drawn: Mapping[str, Any]) -> bool:
        downsample, width = drawn.get(DOWNSAMPLE_CHOICE), drawn.get(dim_choice(stage))
        # Not drawn yet (the joint draw comes before any choice): held back from it, and drawn
        # on its own once the token count and width are known.
        if downsample is None or width is None:
            return False
        return num_tokens(self.input_shape, int(downsample)) <= int(width)


def cap_tokens(
    name: str, distribution: BaseDistribution, spent: float, drawn: Mapping[str, Any]
) -> list[Any] | None:
    """The downsampling: the coarsest token grid first, each finer one from its threshold."""
    if name != DOWNSAMPLE_CHOICE or not isinstance(distribution, CategoricalDistribution):
        return None
    # Fewest tokens first: the largest downsampling.
    coarse_first = sorted(distribution.choices, key=lambda d: -int(d))  # type: ignore[arg-type]
    allowed = coarse_first[: 1 + levels_open(len(coarse_first) - 1, spent)]
    return allowed if len(allowed) < len(coarse_first) else None

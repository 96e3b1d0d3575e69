"""A progressive search on a real Optuna study with TPE: depths rise with the trials, the
quadratic mixers come in at 35% of the budget where a block's tokens outnumber its channels
(from the start where they do not), TPE draws everything else and everything once it is
open."""

from __future__ import annotations

import optuna
import pytest

from search.budget_spent import BudgetSpent
from search.progressive import Progressive
from search.progressive_caps import Cap, CapQuadraticMixers, cap_depth, cap_tokens
from search.samplers import SamplerOptions, make_sampler

MIXERS = ["stm", "conv", "pool"]
# Sequences of 64 steps: 64, 32 or 16 tokens at downsample 1, 2 or 4, against widths of 16, 32
# and 48 channels.
SEQUENCE = (64,)
CAP_MIXERS = CapQuadraticMixers(SEQUENCE)


def run_study(caps: list[Cap], n_trials: int = 40) -> list[optuna.trial.FrozenTrial]:
    base = make_sampler("tpe", 3, n_trials=n_trials, options=SamplerOptions(n_startup_trials=5))
    sampler = Progressive(base, BudgetSpent(n_trials=n_trials, time_budget_s=None), caps, seed=3)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        # In the order spaces/space.py draws them: downsampling, then width and depth, then
        # the blocks' mixers.
        downsample = trial.suggest_categorical("downsample", [1, 2, 4])
        dim = trial.suggest_categorical("s0.dim", [16, 32, 48])
        depth = trial.suggest_int("s0.depth", 1, 3)
        blocks = [trial.suggest_categorical(f"s0.b{b}.mixer", MIXERS) for b in range(depth)]
        # STM pays here, and fine tokens too, so TPE, once it may, draws them often.
        accuracy = dim / 48 + 0.2 * blocks.count("stm") - 0.1 * blocks.count("pool")
        return accuracy + 0.05 * depth + 0.1 / downsample, float(dim * depth)

    study.optimize(objective, n_trials=n_trials)
    return study.trials


def mixers_of(trial: optuna.trial.FrozenTrial) -> list[str]:
    return [v for k, v in trial.params.items() if k.endswith(".mixer")]


def tokens_outnumber_channels(trial: optuna.trial.FrozenTrial) -> bool:
    return SEQUENCE[0] // trial.params["downsample"] > trial.params["s0.dim"]


def test_tpe_with_progressive_depth() -> None:
    """40 trials without a time budget: depth 1 up to trial 13 (35% of 40 is 14), at most 2
    up to trial 29, any depth after; TPE (multivariate, its random start-up over) draws the
    width, and also models the depth once it is open."""
    trials = run_study([cap_depth])
    depths = [t.params["s0.depth"] for t in trials]
    assert set(depths[:14]) == {1}
    assert set(depths[14:30]) <= {1, 2} and 2 in depths[14:30]
    assert 3 in depths[30:]
    # The width is TPE's to draw throughout: every value is tried.
    assert {t.params["s0.dim"] for t in trials} == {16, 32, 48}
    # The mixers are not held back: STM from the start.
    assert "stm" in {m for t in trials[:14] for m in mixers_of(t)}


def test_tpe_with_progressive_mixers_and_depth() -> None:
    """In the first 14 trials (the random start-up and TPE's draws) no STM where a block's
    tokens outnumber its channels, STM drawn where they do not, both other mixers drawn; from
    trial 14 TPE models every mixer and draws STM, which pays, at every token count."""
    trials = run_study([cap_depth, CAP_MIXERS])
    early_costly = [m for t in trials[:14] if tokens_outnumber_channels(t) for m in mixers_of(t)]
    early_cheap = [m for t in trials[:14] if not tokens_outnumber_channels(t) for m in mixers_of(t)]
    assert early_costly and set(early_costly) <= {"conv", "pool"}
    assert "stm" in early_cheap
    assert {"conv", "pool"} <= set(early_costly + early_cheap)
    late = [m for t in trials[14:] for m in mixers_of(t)]
    assert late.count("stm") >= len(late) // 3, late
    assert any("stm" in mixers_of(t) and tokens_outnumber_channels(t) for t in trials[14:])
    assert set(t.params["s0.depth"] for t in trials[:14]) == {1}


def test_tpe_with_progressive_tokens() -> None:
    """Downsample 4 (16 tokens) up to trial 13, 4 or 2 up to trial 29, any after; TPE, which
    finds fine grids pay here, draws downsample 1 once it may. Depth and mixers are TPE's
    throughout."""
    trials = run_study([cap_tokens])
    downsample = [t.params["downsample"] for t in trials]
    assert set(downsample[:14]) == {4}
    assert set(downsample[14:30]) == {4, 2}
    assert 1 in downsample[30:]
    assert {t.params["s0.depth"] for t in trials[:14]} == {1, 2, 3}


@pytest.mark.parametrize("caps", [[], [CAP_MIXERS]], ids=["no caps", "mixers only"])
def test_without_the_depth_cap_every_depth_is_drawn_from_the_start(caps: list[Cap]) -> None:
    trials = run_study(caps, n_trials=20)
    assert {t.params["s0.depth"] for t in trials[:7]} == {1, 2, 3}

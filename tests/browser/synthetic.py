"""Made-up but realistic trials for a job's study, written through Optuna's own API.

The browser tests and benchmarks/dashboard_load.py need jobs of hundreds to thousands of
trials without training any: valid architectures (they export), accuracy that grows with size,
spike rates, early-stopped trials with short curves, failures, rejected draws, and start and
completion times of trials run several at a time.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import optuna
import sqlalchemy

from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_COSTS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_ERROR,
    ATTR_REJECTED,
    ATTR_TEST_ACCURACY,
)
from search.study import study_name

OBJECTIVES = ("accuracy", "params", "spike_rate")
DIRECTIONS = ("maximize", "minimize", "minimize")
MIXERS = ("stm", "ssa", "sdsa", "conv", "pool", "identity")


def _arch(rng: random.Random) -> tuple[dict[str, Any], int]:
    """A valid ArchSpec for 8x8 digits, and a parameter count that grows with it."""
    stages = []
    params = 10 * 64
    for _ in range(rng.choice([1, 1, 2])):
        dim = rng.choice([16, 32, 48, 64])
        blocks = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(MIXERS)
            ratio = rng.choice([1.0, 2.0, 4.0])
            mixer: dict[str, Any] = {"kind": kind, "heads": rng.choice([1, 2, 4]), "kernel": 3}
            if kind in ("conv", "pool"):
                mixer["kernel"] = rng.choice([3, 5])
            blocks.append({"mixer": mixer, "mlp_ratio": ratio})
            params += int(dim * dim * (2 * ratio + (3 if kind in ("stm", "ssa", "sdsa") else 1)))
        stages.append({"dim": dim, "blocks": blocks})
    arch = {
        "input_shape": [8, 8],
        "num_classes": 10,
        "time_steps": rng.choice([2, 4]),
        "encoding": "direct",
        "downsample": rng.choice([1, 2]),
        "stages": stages,
        "neuron": {"kind": "lif", "surrogate": rng.choice(["sigmoid", "atan"])},
    }
    return arch, params


def synthetic_trials(
    n: int, seed: int = 0, budget_epochs: int = 8, concurrency: int = 8
) -> list[optuna.trial.FrozenTrial]:
    """`n` trials as a driver would leave them: 80 % complete, 14 % stopped early, 3 % failed,
    3 % rejected before training."""
    rng = random.Random(seed)
    start = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
    free_at = [start] * concurrency  # when each worker slot is next free
    trials = []
    for _ in range(n):
        arch, params = _arch(rng)
        attrs: dict[str, Any] = {ATTR_ARCH: arch, ATTR_BUDGET_EPOCHS: budget_epochs}
        draw = rng.random()
        slot = min(range(concurrency), key=lambda i: free_at[i])
        began = free_at[slot]
        if draw < 0.03:  # rejected: never trained
            attrs[ATTR_REJECTED] = f"{params} parameters is more than space.max_params"
            trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs)
            trial.datetime_start = trial.datetime_complete = began.astimezone().replace(tzinfo=None)
            trials.append(trial)
            continue
        epochs = budget_epochs if draw >= 0.2 else rng.randint(1, max(1, budget_epochs // 3))
        ceiling = min(0.98, 0.55 + 0.08 * math.log10(params) + rng.gauss(0, 0.05))
        curve = []
        for epoch in range(1, epochs + 1):
            reached = ceiling * (1 - math.exp(-epoch / 2.5))
            curve.append(
                {
                    "epoch": float(epoch),
                    "train_loss": 2.3 * math.exp(-epoch / 3) + rng.random() * 0.05,
                    # No draw of its own: the rest of the synthetic study stays as it was.
                    "val_loss": 2.4 * math.exp(-epoch / 3.5) + 0.1,
                    "accuracy": round(reached, 4),
                    "spike_rate": 0.05 + 0.25 * rng.random(),
                    "epoch_time_s": params / 4000 + rng.random(),
                }
            )
        seconds = sum(p["epoch_time_s"] for p in curve) + 2
        ended = began + timedelta(seconds=seconds)
        free_at[slot] = ended
        attrs.update({ATTR_CURVE: curve, ATTR_EPOCHS_TRAINED: epochs, ATTR_DURATION_S: seconds})
        if 0.17 <= draw < 0.2:  # failed partway
            attrs[ATTR_ERROR] = "RuntimeError: CUDA out of memory (made up)"
            trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=attrs)
        else:
            early = epochs < budget_epochs
            attrs[ATTR_EARLY_STOPPED] = early
            if not early:
                attrs[ATTR_TEST_ACCURACY] = round(curve[-1]["accuracy"] - rng.random() * 0.03, 4)
            rate = curve[-1]["spike_rate"]
            sops = params * arch["time_steps"] * 16 * rate
            attrs[ATTR_COSTS] = {
                "params": float(params),
                "flops": float(params * 16),
                "sops": sops,
                "energy": sops * 0.9 + params * 4.6 * 0.05,  # pJ, roughly E_AC and E_MAC
                "energy_ann": params * 16 * 4.6,
                "spike_rate": rate,
            }
            values = [curve[-1]["accuracy"], float(params), rate]
            trial = optuna.trial.create_trial(values=values, user_attrs=attrs)
        # FrozenTrial holds naive local times, as RDBStorage returns them.
        trial.datetime_start = began.astimezone().replace(tzinfo=None)
        trial.datetime_complete = ended.astimezone().replace(tzinfo=None)
        trials.append(trial)
    return trials


def fill_study(database_url: str, job_id: int, trials: list[optuna.trial.FrozenTrial]) -> None:
    """Create the job's study and add the trials. On SQLite, without fsync per trial: a 5,000
    trial study takes about 20 s instead of 100 s, and nothing here needs to survive a crash."""
    storage = optuna.storages.RDBStorage(database_url)
    if database_url.startswith("sqlite"):

        def no_sync(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

        sqlalchemy.event.listen(storage.engine, "connect", no_sync)
        storage.engine.dispose()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name(job_id), storage=storage, directions=list(DIRECTIONS)
    )
    study.add_trials(trials)
    storage.engine.dispose()

"""Early-stopping rules replayed on recorded learning curves: which rung settings and which
promotion rule reach random search's hypervolume soonest, without running a job per setting.

Run by hand (2 cores: recording takes 10-15 minutes a data set; a replay a few minutes):
    .venv/bin/python -m benchmarks.early_stopping_replay [--trials 150] [--epochs 10]
        [--datasets digits,seq] [--orders 20] [--curves-dir DIR]
        [--rules hypervolume:1:2,crowding:1:2,...]

Recording: a random-search job of --trials trials of --epochs epochs each, every trial trained
to the end (no scheduler), through the product's driver, on the same data sets and space as
benchmarks/search.py; every trial's per-epoch validation accuracy and loss, training loss,
spike rate and epoch time are kept (in --curves-dir, reused when present). Random search draws
independently, so any order of the recorded trials is a random search's order.

Replay, for each of --orders random orders of the recorded trials: 2 workers take trials in
that order and train them epoch by epoch (each epoch lasting its recorded time, plus a fixed
0.3 s a trial, the measured orchestration overhead); the product's MultiObjectiveASHA
(search/schedulers.py) decides at every epoch, exactly as in a job. The baseline is random
search without early stopping: the first 30 trials of the same order, run to the end. For each
rule: the time at which the hypervolume of its full-budget trials first reaches the baseline's
final hypervolume, over the baseline's time (both counted from 8 s before the first trial, the
time a job takes to start Ray and load data, as benchmarks/search.py counts them),
median over the orders and the share of orders at or below 0.5; and the hypervolume it has at
the baseline's time.

Before the replay, for each data set: the rank correlation between each signal a rung can rank
by (validation accuracy, training loss, validation loss) at each early epoch and the final
validation accuracy.

What it leaves out: a model-based sampler (its draws depend on the results, so no recording
can stand in for them), and the noise between two trainings of one architecture (each trial is
trained once, with the job's seed, as in a job).
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast, get_args

import optuna
from ray.tune.schedulers import TrialScheduler
from scipy.stats import spearmanr

from benchmarks.search_jobs import write_sequences
from search.driver import DriverConfig, run_job
from search.front_arithmetic import hypervolume
from search.job_spec import JobSpec, PromoteBy, RungMetric
from search.pareto import REFERENCE_POINT, costs
from search.records import ATTR_CURVE
from search.schedulers import MultiObjectiveASHA
from search.study import open_storage, study_name

OBJECTIVES = ["accuracy", "params", "spike_rate"]
BASELINE_TRIALS = 30
WORKERS = 2
TRIAL_OVERHEAD_S = 0.3
START_S = 8.0
DEFAULT_RULES = (
    "crowding:1:2,hypervolume:1:2,hypervolume:1:3,hypervolume:2:2,hypervolume:2:3,"
    "hypervolume:3:2,hypervolume:3:3"
)


@dataclass(frozen=True)
class Recorded:
    """One trial trained to the end: its parameters and its per-epoch curve."""

    params: float
    accuracy: list[float]
    spike_rate: list[float]
    epoch_s: list[float]
    train_loss: list[float]
    val_loss: list[float]

    def values(self, epoch: int) -> dict[str, float]:
        return {
            "accuracy": self.accuracy[epoch - 1],
            "params": self.params,
            "spike_rate": self.spike_rate[epoch - 1],
            "train_loss": self.train_loss[epoch - 1],
            "val_loss": self.val_loss[epoch - 1],
        }


@dataclass(frozen=True)
class Rule:
    promote_by: PromoteBy
    grace: int
    eta: int
    rung_metric: RungMetric

    @property
    def name(self) -> str:
        by = {"accuracy": "acc", "train_loss": "loss", "val_loss": "vloss"}[self.rung_metric]
        return f"{self.promote_by} g{self.grace} eta{self.eta} {by}"


def record(dataset: str, trials: int, epochs: int, seed: int, path: Path) -> list[Recorded]:
    """Run the random-search job and keep its curves (read back from `path` when present)."""
    if not path.exists():
        work = Path(tempfile.mkdtemp(prefix="spikenas-replay-"))
        (work / "data").mkdir()
        write_sequences(work / "data" / "seq.npz")
        ref = {"name": "digits"} if dataset == "digits" else {"name": "npz", "path": "seq.npz"}
        spec = JobSpec.model_validate(
            {
                "name": f"record-{dataset}",
                "dataset": ref,
                "n_trials": trials,
                "max_concurrent": WORKERS,
                "budget": {"epochs": epochs, "batch_size": 64},
                "sampler": "random",
                "objectives": OBJECTIVES,
                "seed": seed,
                "space": {"dims": [16, 32, 48], "max_depth": 3, "time_steps": [1, 2, 4]},
            }
        )
        config = DriverConfig(
            database_url=f"sqlite:///{work}/record.db",
            data_dir=work / "data",
            artifacts_dir=work / "artifacts",
            num_cpus=WORKERS,
            verbose=0,
        )
        run_job(1, spec, config)
        study = optuna.load_study(
            study_name=study_name(1), storage=open_storage(config.database_url)
        )
        rows = []
        for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
            curve = t.user_attrs.get(ATTR_CURVE, [])
            if len(curve) == epochs:
                rows.append(
                    {
                        "params": t.values[1],
                        "accuracy": [p["accuracy"] for p in curve],
                        "spike_rate": [p["spike_rate"] for p in curve],
                        "epoch_s": [p["epoch_time_s"] for p in curve],
                        "train_loss": [p["train_loss"] for p in curve],
                        "val_loss": [p["val_loss"] for p in curve],
                    }
                )
        path.write_text(json.dumps(rows))
    rows = json.loads(path.read_text())
    if any("train_loss" not in row or "val_loss" not in row for row in rows):
        raise SystemExit(f"{path}: recorded before curves kept both losses; delete it")
    return [Recorded(**row) for row in rows]


def replay(
    trials: list[Recorded], rule: Rule | None, epochs: int, until_s: float
) -> list[tuple[float, float]]:
    """(time, hypervolume of the full-budget trials so far) at each full-budget completion,
    up to `until_s`; `rule` None trains every trial to the end."""
    scheduler = (
        None
        if rule is None
        else MultiObjectiveASHA(
            OBJECTIVES, rule.grace, rule.eta, epochs, rule.promote_by, rule.rung_metric
        )
    )
    queue = iter(enumerate(trials))
    running: list[tuple[float, int, int, int]] = []  # (end of epoch, worker, trial index, epoch)

    def start(worker: int, now: float) -> None:
        nxt = next(queue, None)
        if nxt is not None:
            index, trial = nxt
            end = now + TRIAL_OVERHEAD_S + trial.epoch_s[0]
            heapq.heappush(running, (end, worker, index, 1))

    for worker in range(WORKERS):
        start(worker, 0.0)
    history: list[tuple[float, float]] = []
    finished: list[tuple[float, ...]] = []
    while running:
        now, worker, index, epoch = heapq.heappop(running)
        if now > until_s:
            break
        trial = trials[index]
        decision = TrialScheduler.CONTINUE
        if scheduler is not None:
            decision = scheduler.decide(str(index), epoch, trial.values(epoch))
        if epoch == epochs:
            finished.append(costs(trial.values(epoch), OBJECTIVES))
            history.append((now, hypervolume(finished, [REFERENCE_POINT] * len(OBJECTIVES))))
            start(worker, now)
        elif decision == TrialScheduler.STOP:
            start(worker, now)
        else:
            heapq.heappush(running, (now + trial.epoch_s[epoch], worker, index, epoch + 1))
    return history


def rank_agreement(recorded: list[Recorded], epochs: int) -> list[str]:
    """Spearman correlation, over the recorded trials, between what a rung could rank by at
    each early epoch and the final validation accuracy (higher: a rung there stops the right
    trials). Losses enter negated, so that higher is better for all three."""
    final = [t.accuracy[-1] for t in recorded]
    signals = {
        "val accuracy": lambda t, e: t.accuracy[e - 1],
        "-train loss": lambda t, e: -t.train_loss[e - 1],
        "-val loss": lambda t, e: -t.val_loss[e - 1],
    }
    shown = range(1, min(epochs, 7))
    lines = [f"  {'epoch':<13}" + "".join(f"{e:>6}" for e in shown)]
    for name, signal in signals.items():
        rho = [float(spearmanr([signal(t, e) for t in recorded], final)[0]) for e in shown]
        lines.append(f"  {name:<13}" + "".join(f"{r:>6.2f}" for r in rho))
    return lines


def reached_at(history: list[tuple[float, float]], target: float) -> float:
    return next((t for t, hv in history if hv >= target - 1e-12), math.inf)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--datasets", default="digits,seq")
    parser.add_argument("--orders", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="the recording job's seed")
    parser.add_argument("--curves-dir", type=Path, default=Path("benchmark-output/replay"))
    parser.add_argument(
        "--rules", default=DEFAULT_RULES, help="promote_by:grace:eta[:rung_metric],..."
    )
    args = parser.parse_args()
    rules = []
    for text in args.rules.split(","):
        by, grace, eta, *metric = text.split(":")
        rung_metric = metric[0] if metric else "accuracy"
        if by not in get_args(PromoteBy):
            parser.error(f"--rules: {by!r} is not one of {get_args(PromoteBy)}")
        if rung_metric not in get_args(RungMetric):
            parser.error(f"--rules: {rung_metric!r} is not one of {get_args(RungMetric)}")
        rules.append(Rule(cast(PromoteBy, by), int(grace), int(eta), cast(RungMetric, rung_metric)))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args.curves_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"{'data':<6} {'rule':<26} {'t to random / random t':>22} {'orders <= 0.5':>13} "
        f"{'hv at random t':>14} {'random hv':>9}"
    )
    lines = [header, "-" * len(header)]
    for dataset in args.datasets.split(","):
        path = args.curves_dir / f"{dataset}-{args.trials}x{args.epochs}-seed{args.seed}.json"
        started = time.time()
        recorded = record(dataset, args.trials, args.epochs, args.seed, path)
        print(f"{dataset}: {len(recorded)} curves ({time.time() - started:.0f} s)", flush=True)
        print(f"{dataset}: rank correlation with the final validation accuracy")
        print("\n".join(rank_agreement(recorded, args.epochs)), flush=True)
        ratios: dict[str, list[float]] = {r.name: [] for r in rules}
        at_time: dict[str, list[float]] = {r.name: [] for r in rules}
        baseline_hv = []
        for order in range(args.orders):
            trials = recorded[:]
            random.Random(order).shuffle(trials)
            base = replay(trials[:BASELINE_TRIALS], None, args.epochs, math.inf)
            base_s, target = base[-1]
            baseline_hv.append(target)
            for rule in rules:
                history = replay(trials, rule, args.epochs, base_s)
                reach = reached_at(history, target)
                ratios[rule.name].append((START_S + reach) / (START_S + base_s))
                at_time[rule.name].append(history[-1][1] if history else 0.0)
        for rule in rules:
            r = ratios[rule.name]
            lines.append(
                f"{dataset:<6} {rule.name:<26} {statistics.median(r):>22.2f} "
                f"{sum(x <= 0.5 for x in r) / len(r):>13.0%} "
                f"{statistics.mean(at_time[rule.name]):>14.4f} "
                f"{statistics.mean(baseline_hv):>9.4f}"
            )
    print(
        f"\n{args.orders} random orders of the recorded trials, {WORKERS} workers; baseline: "
        f"random search's first {BASELINE_TRIALS} trials without early stopping"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

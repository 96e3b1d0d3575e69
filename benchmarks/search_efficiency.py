"""Search efficiency: hypervolume against wall time for each sampler, with and without the
multi-objective ASHA scheduler, at equal budget; and the orchestration overhead per trial.

Run by hand (2 cores: the default settings take about 1 hour 40 minutes, 1.5-2 minutes a job;
--schedulers none about 45 minutes; --epochs 3 about a third; --quick a few minutes):
    .venv/bin/python -m benchmarks.search_efficiency [--quick] [--seeds 3] [--first-seed 0]
        [--trials 30] [--epochs 3] [--datasets digits,seq] [--samplers random,nsga2,tpe]
        [--out runs.json] [--budget time|trials] [--schedulers none,mo_asha] [--grace 3]
        [--reduction-factor 2]

Every configuration runs the product's driver (search.driver.run_job: Ray Tune, OptunaSearch on
an SQLite study, the scheduler) on digits and on an npz data set generated here (a synthetic
1-D sequence task: the class is which of 10 frequencies a noisy sine carries), for each seed,
with the same epochs per trial and concurrency (2 trials at a time on 2 CPUs).

Equal budget is equal wall time (--budget time, the default): random search runs n_trials, and
every other configuration the same data set and seed gets random's search time as the job's
time_budget_s, with room for 10 x n_trials, and sampler_options that size NSGA-II's population
and TPE's random start-up for n_trials, as random's job has them (sized for the 10 x n_trials
ceiling, NSGA-II's first 20 trials would be random search's). An early-stopping scheduler
spends less on the trials it stops, and so tries more of them in the same time; at equal trial
counts (--budget trials, every configuration n_trials) it would only end sooner with fewer
full-budget trials. From the study:
- the hypervolume of the front of full-budget trials (search.pareto: normalised objectives,
  reference point 1) after each trial finishes, against wall time since the job started;
- final hypervolume, the job's wall time, and the time at which it first reached random
  search's final hypervolume for the same data set and seed ("t to random", ratio to random's
  wall time; the target is 0.5 or less for the best configuration). A run that never reaches
  it counts as infinite; the table gives the median over seeds and every seed's ratio;
- orchestration overhead: per trial, its wall time minus the time its epochs report (training,
  evaluation, metrics), i.e. Ray, Optuna, the database and process start-up; the table gives
  the median per trial and that median as a share of a 30 s trial (target at most 5%).

The budget is 30 trials of 10 epochs. At 12 trials the model-based samplers spend most of the
job on their random start-up (search/samplers.py scales it with n_trials), which measures
nothing. At 3 epochs a job lasts 40 s, of which the first 8-9 s (starting Ray, a worker process
importing torch and loading the data for each of the first two trials) pass before any trial
ends, whatever the sampler: a fixed fifth of random's wall time that no sampler can win back.
Trials of 10 epochs (a 2-minute job) are closer to what a search runs, and still shorter than
the 30 s trial of the overhead target.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

from search.driver import DriverConfig, run_job
from search.job_spec import DEFAULT_GRACE_TENTHS, JobSpec
from search.pareto import front_hypervolume
from search.records import ATTR_CURVE, ATTR_EARLY_STOPPED
from search.samplers import population_size, startup_trials
from search.study import open_storage, study_name

OBJECTIVES = ["accuracy", "params", "spike_rate"]
SAMPLERS = ["random", "nsga2", "tpe"]
SCHEDULERS = ["none", "mo_asha"]
TRIAL_CEILING = 10  # n_trials of a job under a time budget, in random's n_trials


@dataclass
class Run:
    dataset: str
    sampler: str
    scheduler: str
    seed: int
    wall_s: float
    history: list[tuple[float, float]]  # (seconds since start, hypervolume)
    overhead_s: list[float]

    @property
    def final_hv(self) -> float:
        return self.history[-1][1] if self.history else 0.0

    def time_to(self, target: float) -> float:
        for t, hv in self.history:
            if hv >= target - 1e-12:
                return t
        return math.inf


def write_sequences(path: Path, seed: int = 0) -> None:
    """A 10-class 1-D task: noisy sines of 10 frequencies, 64 samples long."""
    rng = np.random.default_rng(seed)
    n, length = 1500, 64
    y = rng.integers(0, 10, n)
    t = np.arange(length)
    phase = rng.uniform(0, 2 * np.pi, n)
    x = np.sin(2 * np.pi * (1 + y[:, None]) * t / length + phase[:, None])
    x = (x + rng.normal(0, 0.6, x.shape)).astype(np.float32)
    np.savez(path, x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y[1200:])


def sampler_options(sampler: str, n_trials: int) -> dict[str, int]:
    """The settings a job of n_trials would get by default, fixed."""
    if sampler in ("nsga2", "nsga3"):
        return {"population_size": population_size(n_trials)}
    if sampler in ("tpe", "gp"):
        return {"n_startup_trials": startup_trials(n_trials)}
    return {}


def job(
    dataset: str,
    sampler: str,
    scheduler: str,
    seed: int,
    args: argparse.Namespace,
    time_budget_s: float | None = None,
) -> JobSpec:
    ref = {"name": "digits"} if dataset == "digits" else {"name": "npz", "path": "seq.npz"}
    return JobSpec.model_validate(
        {
            "name": f"bench-{dataset}-{sampler}-{scheduler}-{seed}",
            "dataset": ref,
            # Under a time budget n_trials is only a ceiling, high enough that time decides: an
            # early-stopping scheduler's trials can cost a tenth of a full one (3 x n_trials
            # ended such jobs at two thirds of their time, at 10 epochs a trial).
            "n_trials": args.trials if time_budget_s is None else TRIAL_CEILING * args.trials,
            "time_budget_s": time_budget_s,
            "sampler_options": sampler_options(sampler, args.trials),
            "max_concurrent": 2,
            "budget": {"epochs": args.epochs, "batch_size": 64},
            "sampler": sampler,
            "objectives": OBJECTIVES,
            "seed": seed,
            "space": {"dims": [16, 32, 48], "max_depth": 3, "time_steps": [1, 2, 4]},
            "early_stopping": {"kind": scheduler}
            if scheduler == "none"
            else {
                "kind": scheduler,
                "grace_epochs": args.grace,
                "reduction_factor": args.reduction_factor,
            },
        }
    )


def run_one(spec: JobSpec, work: Path, job_id: int) -> tuple[float, float, list, list[float]]:
    """Wall time, search time (from the first trial's start), HV history, overhead per trial."""
    config = DriverConfig(
        database_url=f"sqlite:///{work}/bench.db",
        data_dir=work / "data",
        artifacts_dir=work / "artifacts",
        num_cpus=2,
        verbose=0,
    )
    started = time.time()
    run_job(job_id, spec, config)
    wall = time.time() - started
    study = optuna.load_study(
        study_name=study_name(job_id), storage=open_storage(config.database_url)
    )
    # (start, end, trial) of every complete trial, in the order they ended.
    finished = [
        (t.datetime_start, t.datetime_complete, t)
        for t in study.get_trials()
        if t.state == optuna.trial.TrialState.COMPLETE
        and t.datetime_start is not None
        and t.datetime_complete is not None
    ]
    finished.sort(key=lambda row: row[1])
    history: list[tuple[float, float]] = []
    full: list[dict[str, float]] = []
    overhead: list[float] = []
    # From the first trial's start to the job's end: what Tune's time budget counts, without
    # starting Ray and loading the data.
    first_start = min((start for start, _, _ in finished), default=None)
    search_s = wall if first_start is None else started + wall - first_start.timestamp()
    for start, end, t in finished:
        trained = sum(p.get("epoch_time_s", 0.0) for p in t.user_attrs.get(ATTR_CURVE, []))
        overhead.append((end - start).total_seconds() - trained)
        if not t.user_attrs.get(ATTR_EARLY_STOPPED, False):
            full.append(dict(zip(OBJECTIVES, t.values, strict=True)))
        history.append((end.timestamp() - started, front_hypervolume(full, OBJECTIVES)))
    return wall, search_s, history, overhead


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="4 trials, 2 epochs, 1 seed")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--datasets", default="digits,seq")
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help="random is always run")
    parser.add_argument(
        "--schedulers",
        default=",".join(SCHEDULERS),
        help="random without a scheduler, the baseline, is always run",
    )
    parser.add_argument(
        "--grace",
        type=int,
        help=f"early stopping's grace_epochs (default: the job spec's, "
        f"{DEFAULT_GRACE_TENTHS}/10 of the epochs)",
    )
    parser.add_argument(
        "--reduction-factor", type=int, default=2, help="early stopping's reduction_factor"
    )
    parser.add_argument("--out", type=Path, help="write every run's history here as JSON")
    parser.add_argument(
        "--budget",
        choices=["time", "trials"],
        default="time",
        help="equal wall time (random's search time) or equal n_trials",
    )
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    samplers = ["random", *(s for s in args.samplers.split(",") if s != "random")]
    requested = args.schedulers.split(",")
    schedulers = ["none", *(s for s in requested if s != "none")]
    if args.quick:
        args.seeds, args.trials, args.epochs = 1, 4, 2
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="spikenas-bench-search-"))
    (work / "data").mkdir()
    write_sequences(work / "data" / "seq.npz")
    runs: list[Run] = []
    job_id = 0
    for dataset in datasets:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            random_search_s: float | None = None
            for sampler in samplers:
                for scheduler in schedulers:
                    baseline = sampler == "random" and scheduler == "none"
                    if not baseline and scheduler not in requested:
                        continue
                    job_id += 1
                    budget_s = None if baseline or args.budget == "trials" else random_search_s
                    spec = job(dataset, sampler, scheduler, seed, args, budget_s)
                    wall, search_s, history, overhead = run_one(spec, work, job_id)
                    if baseline:
                        random_search_s = search_s
                    runs.append(Run(dataset, sampler, scheduler, seed, wall, history, overhead))
                    print(
                        f"  {dataset:<6} seed {seed} {sampler:<6} {scheduler:<7} "
                        f"{wall:6.1f} s  hv {runs[-1].final_hv:.4f}",
                        flush=True,
                    )
                    if args.out:  # after every run: a long benchmark cut short keeps its runs
                        args.out.write_text(json.dumps([dataclasses.asdict(r) for r in runs]))
    budget = (
        "each configuration given random's search time"
        if args.budget == "time"
        else "every configuration the same n_trials"
    )
    print(
        f"\n{args.trials} trials x {args.epochs} epochs for random, {budget}; 2 at a time, "
        f"{args.seeds} seed(s); hypervolume of full-budget trials (normalised, reference 1)"
    )
    header = (
        f"{'data':<6} {'sampler':<7} {'sched':<7} {'final hv':>14} {'wall s':>8} "
        f"{'t to random s':>13} {'/ random wall':>13} {'per seed':<16} {'overhead s':>10} "
        f"{'of 30 s':>7}"
    )
    print(header)
    print("-" * len(header))
    for dataset in datasets:
        baseline = {
            r.seed: r
            for r in runs
            if r.dataset == dataset and r.sampler == "random" and r.scheduler == "none"
        }
        for sampler in samplers:
            for scheduler in schedulers:
                group = [
                    r
                    for r in runs
                    if (r.dataset, r.sampler, r.scheduler) == (dataset, sampler, scheduler)
                ]
                if not group:
                    continue
                hvs = [r.final_hv for r in group]
                reach = [r.time_to(baseline[r.seed].final_hv) for r in group]
                ratio = [t / baseline[r.seed].wall_s for t, r in zip(reach, group, strict=True)]
                per_trial = statistics.median(o for r in group for o in r.overhead_s)
                spread = statistics.stdev(hvs) if len(hvs) > 1 else 0.0
                print(
                    f"{dataset:<6} {sampler:<7} {scheduler:<7} "
                    f"{statistics.mean(hvs):>7.4f}±{spread:<6.4f} "
                    f"{statistics.mean(r.wall_s for r in group):>8.1f} "
                    f"{statistics.median(reach):>13.1f} {statistics.median(ratio):>13.2f} "
                    f"{' '.join(f'{x:.2f}' for x in ratio):<16} "
                    f"{per_trial:>10.2f} {per_trial / 30:>7.1%}"
                )


if __name__ == "__main__":
    main()

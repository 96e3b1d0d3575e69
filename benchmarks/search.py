"""Search: hypervolume against wall time for each sampler, with and without the multi-objective
ASHA scheduler, at equal budget; the orchestration overhead per trial; and a driver killed with
SIGKILL mid-job, then resumed. One run, several seeds, one table per part.

Run by hand, from the repository root (as a module: `python benchmarks/search.py` would import
this file for the product's `search` package):
    .venv/bin/python -m benchmarks.search [--quick] [--seeds 3] [--first-seed 0]
        [--trials 30] [--epochs 10] [--datasets digits,seq]
        [--samplers random,nsga2,tpe,tpe_progressive,tpe_prog_mixers,tpe_prog_tokens]
        [--schedulers none,mo_asha] [--budget time|trials] [--grace 3] [--reduction-factor 2]
        [--startup-trials N]
        [--rung-metric accuracy,train_loss,val_loss] [--resume-trials 10] [--out runs.json]
    .venv/bin/python -m benchmarks.search --table-from runs.json   # the tables of a saved run
On 2 cores the defaults take 65 minutes to 1 hour 50 minutes (6 kill-and-resume jobs of about
a minute, then 36 jobs of 1.2-2.5 minutes, seed by seed), and over 6 hours on a slower machine
(2.3 and 10 minutes; importing torch takes 5 s there); --schedulers none about half; --quick a
few minutes. A run cut short keeps what --out holds: --table-from prints its tables. What
earlier runs measured, with their commands: benchmarks/search_results.md.

Hypervolume. Every configuration runs the product's driver (search.driver.run_job: Ray Tune,
OptunaSearch on an SQLite study, the scheduler) on digits and on an npz data set generated here
(benchmarks/search_jobs.py: a synthetic 1-D sequence task, the class is which of 10 frequencies
a noisy sine carries), for each seed, with the same epochs per trial and concurrency (2 trials
at a time on 2 CPUs).

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

What a rung ranks by (--rung-metric): one of the job spec's rung metrics, or several,
comma-separated, to run each early-stopping configuration once per metric against the same
random-search baselines (the table's "rungs by" column): with one metric a run, random search
would have to reproduce the same hypervolume and wall time in every run for the runs to compare.

Kill and resume (benchmarks/search_resume.py). For each data set and seed, a job of
--resume-trials trials of the last sampler, scheduler and rung metric named (TPE with
multi-objective ASHA by default) runs in a driver process that is killed with SIGKILL once 3
trials have finished and another is in the middle of its training; a new driver then runs the
job on the same study. The table gives the finished trials at the kill, the interrupted trials
(failed and retried), the finished trials at the end (the target: exactly the requested
number), and how many of the trials finished before the kill are unchanged after it (the
target: all).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import annotated_types
import optuna
from pydantic import BaseModel

from benchmarks.search_jobs import Run, job, run_one, write_sequences
from benchmarks.search_resume import ResumeRow, kill_and_resume
from benchmarks.search_tables import print_tables
from search.job_spec import DEFAULT_GRACE_TENTHS, EarlyStopping, JobSpec, RungMetric
from search.samplers import SamplerOptions
from workers.budget import Budget

SAMPLERS = ["random", "nsga2", "tpe"]
SCHEDULERS = ["none", "mo_asha"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 trials, 2 epochs, 1 seed")
    parser.add_argument("--seeds", type=at_least(1), default=3)
    parser.add_argument(
        "--first-seed",
        type=at_least(spec_minimum(JobSpec, "seed")),
        default=0,
        help="seeds first-seed .. first-seed + seeds - 1",
    )
    parser.add_argument("--trials", type=at_least(spec_minimum(JobSpec, "n_trials")), default=30)
    parser.add_argument("--epochs", type=at_least(spec_minimum(Budget, "epochs")), default=10)
    parser.add_argument("--datasets", default="digits,seq")
    parser.add_argument(
        "--samplers",
        default=",".join(SAMPLERS),
        help="random search without a scheduler, the baseline, is always run; with a "
        "scheduler only when named; tpe_progressive is TPE with progressive_depth, "
        "tpe_prog_mixers with progressive_depth and progressive_mixers, tpe_prog_tokens with "
        "progressive_depth and progressive_tokens",
    )
    parser.add_argument(
        "--schedulers",
        default=",".join(SCHEDULERS),
        help="random without a scheduler, the baseline, is always run",
    )
    parser.add_argument(
        "--grace",
        type=at_least(spec_minimum(EarlyStopping, "grace_epochs")),
        help=f"early stopping's grace_epochs (default: the job spec's, "
        f"{DEFAULT_GRACE_TENTHS}/10 of the epochs)",
    )
    parser.add_argument(
        "--reduction-factor",
        type=at_least(spec_minimum(EarlyStopping, "reduction_factor")),
        default=2,
        help="early stopping's reduction_factor",
    )
    parser.add_argument(
        "--startup-trials",
        type=at_least(spec_minimum(SamplerOptions, "n_startup_trials")),
        help="TPE's and GP's random start-up trials (default: a quarter of --trials, "
        "bounded, as a job of that many trials gets)",
    )
    parser.add_argument(
        "--rung-metric",
        type=rung_metrics,
        help="what early stopping ranks a rung by, one or several comma-separated of "
        f"{','.join(get_args(RungMetric))}: each early-stopping configuration runs once per "
        "metric (default: the job spec's)",
    )
    parser.add_argument(
        "--budget",
        choices=["time", "trials"],
        default="time",
        help="equal wall time (random's search time) or equal n_trials",
    )
    parser.add_argument(
        "--resume-trials",
        type=at_least(0),
        default=10,
        help="trials of each kill-and-resume job (0: no kill-and-resume jobs)",
    )
    parser.add_argument("--out", type=Path, help="write every run's results here as JSON")
    parser.add_argument(
        "--table-from", type=Path, help="print the tables of a JSON written by --out; run nothing"
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.epochs, args.resume_trials = 1, 4, 2, 5
    return args


def spec_minimum(model: type[BaseModel], field: str) -> int:
    """The smallest value the job spec allows in `field` of `model` (its pydantic ge=), so the
    options below refuse what a job would, without copying the bounds."""
    for constraint in model.model_fields[field].metadata:
        if isinstance(constraint, annotated_types.Ge):
            return int(constraint.ge)  # type: ignore[call-overload]  # annotated_types types ge as SupportsGe
    raise ValueError(f"{model.__name__}.{field} has no lower bound")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than `minimum`, refused before any job runs
    (the job spec would refuse it too, but only once the random baselines had run)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the smallest allowed, {minimum}")
        return value

    return parse


def rung_metrics(text: str) -> list[str]:
    """--rung-metric's value: rung metrics, comma-separated, each one the job spec knows."""
    known = get_args(RungMetric)
    metrics = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in known]
    if unknown or not metrics:
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose one or more, comma-separated, of {', '.join(known)}"
        )
    return list(dict.fromkeys(metrics))


class Results:
    """Every job's results, written to --out after each job: a long run cut short keeps them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.out: Path | None = args.out
        self.saved: dict[str, Any] = {"settings": describe(args), "runs": [], "resume": []}
        self.jobs = 0

    def next_job_id(self) -> int:
        """Every job of the run has its own id, so its own study in the databases."""
        self.jobs += 1
        return self.jobs

    def add(self, part: str, result: Run | ResumeRow) -> None:
        self.saved[part].append(dataclasses.asdict(result))
        if self.out:
            self.out.write_text(json.dumps(self.saved))


def run_hypervolume_jobs(args: argparse.Namespace, work: Path, results: Results) -> None:
    named = args.samplers.split(",")
    samplers = ["random", *(s for s in named if s != "random")]
    requested = args.schedulers.split(",")
    schedulers = ["none", *(s for s in requested if s != "none")]
    # None: the job spec's default decides what a rung ranks by.
    metrics: list[str | None] = args.rung_metric or [None]
    # Seeds outermost: a run cut short still holds whole seeds, of every data set.
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for dataset in args.datasets.split(","):
            random_search_s: float | None = None
            for sampler in samplers:
                for scheduler, metric in scheduler_variants(schedulers, metrics):
                    baseline = sampler == "random" and scheduler == "none"
                    if not baseline and (scheduler not in requested or sampler not in named):
                        continue
                    budget_s = None if baseline or args.budget == "trials" else random_search_s
                    spec = job(dataset, sampler, scheduler, seed, args, budget_s, metric)
                    wall, search_s, history, overhead = run_one(spec, work, results.next_job_id())
                    if baseline:
                        random_search_s = search_s
                    run = Run(dataset, sampler, scheduler, seed, wall, history, overhead, metric)
                    results.add("runs", run)
                    print(
                        f"  {dataset:<6} seed {seed} {sampler:<15} {scheduler:<7} "
                        f"{metric or '':<10} {wall:6.1f} s  hv {run.final_hv:.4f}",
                        flush=True,
                    )


def scheduler_variants(
    schedulers: list[str], metrics: list[str | None]
) -> list[tuple[str, str | None]]:
    """(scheduler, rung metric) pairs: no scheduler once, every other once per metric."""
    return [
        pair
        for s in schedulers
        for pair in ([(s, None)] if s == "none" else [(s, m) for m in metrics])
    ]


def run_resume_jobs(args: argparse.Namespace, work: Path, results: Results) -> None:
    """Each kill-and-resume job runs the last sampler, scheduler and rung metric named (the ones
    that the hypervolume table is about), for a fixed number of trials."""
    sampler = args.samplers.split(",")[-1]
    scheduler = args.schedulers.split(",")[-1]
    metric = args.rung_metric[-1] if args.rung_metric else None
    resume_args = argparse.Namespace(**{**vars(args), "trials": args.resume_trials})
    for dataset in args.datasets.split(","):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            spec = job(dataset, sampler, scheduler, seed, resume_args, rung_metric=metric)
            database_url = f"sqlite:///{work}/resume.db"
            row = kill_and_resume(spec, dataset, work, results.next_job_id(), database_url)
            results.add("resume", row)
            print(
                f"  {dataset:<6} seed {seed} killed at {row.complete_at_kill} finished, "
                f"resumed to {row.complete_after} of {row.requested}",
                flush=True,
            )


def main() -> None:
    args = parse_args()
    if args.table_from:
        try:
            saved = json.loads(args.table_from.read_text())
            print_tables(saved)
        except (OSError, ValueError, KeyError, TypeError) as error:
            message = f"--table-from {args.table_from}: not a file that --out wrote ({error!r})"
            raise SystemExit(message) from None
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="spikenas-bench-search-"))
    (work / "data").mkdir()
    write_sequences(work / "data" / "seq.npz")
    results = Results(args)
    # The kill-and-resume jobs first: they are short, and a long run cut short keeps their table.
    if args.resume_trials > 0:
        run_resume_jobs(args, work, results)
    run_hypervolume_jobs(args, work, results)
    print_tables(results.saved)


def describe(args: argparse.Namespace) -> dict[str, object]:
    return {
        "trials": args.trials,
        "epochs": args.epochs,
        "seeds": args.seeds,
        "budget": args.budget,
        "grace": args.grace,
        "reduction_factor": args.reduction_factor,
        "startup_trials": args.startup_trials,
        "rung_metric": args.rung_metric,
        "resume_trials": args.resume_trials,
    }


if __name__ == "__main__":
    main()

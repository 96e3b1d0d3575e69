"""The tables of benchmarks/search.py: hypervolume against wall time per configuration (data
set, sampler, scheduler, what a rung ranks by), and the kill-and-resume jobs. They read the
runs as --out saves them, so that --table-from prints a saved run's tables, runs saved by
earlier versions of the benchmark included."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.search_jobs import Run
from benchmarks.search_resume import KILL_AFTER_COMPLETE, ResumeRow


def print_tables(saved: dict[str, Any]) -> None:
    settings = saved["settings"]
    runs = [Run(**{**r, "history": [tuple(p) for p in r["history"]]}) for r in saved["runs"]]
    if runs:
        print_hypervolume(runs, settings)
    rows = [ResumeRow(**r) for r in saved["resume"]]
    if rows:
        print_resume(rows)


def print_hypervolume(runs: list[Run], settings: dict[str, Any]) -> None:
    budget = (
        "each configuration given random's search time"
        if settings["budget"] == "time"
        else "every configuration the same n_trials"
    )
    seeds = sorted({r.seed for r in runs})
    print(
        f"\n{settings['trials']} trials x {settings['epochs']} epochs for random, {budget}; "
        f"2 at a time, seeds {', '.join(map(str, seeds))}; hypervolume of full-budget trials "
        "(normalised, reference 1)"
    )
    grace = settings.get("grace") or "default"
    print(f"early stopping: grace {grace}, reduction factor {settings['reduction_factor']}")
    if settings.get("startup_trials") is not None:  # runs saved before the option: the default
        print(f"TPE's and GP's random start-up: {settings['startup_trials']} trials")
    header = (
        f"{'data':<6} {'sampler':<15} {'sched':<7} {'rungs by':<10} {'final hv':>14} "
        f"{'wall s':>8} {'t to random s':>13} {'/ random wall':>13} {'per seed':<16} "
        f"{'overhead s':>10} {'of 30 s':>7}"
    )
    print(header)
    print("-" * len(header))
    # Runs saved before a run could hold several metrics have no rung_metric of their own: the
    # run's one metric (a string in its settings) decided, or the job spec's default.
    saved_metric = settings.get("rung_metric")
    run_metric = saved_metric if isinstance(saved_metric, str) else "default"

    def rungs_by(run: Run) -> str:
        return "-" if run.scheduler == "none" else run.rung_metric or run_metric

    # Every configuration's runs, in the order the run met them, measured against the random
    # search of the same data set and seed.
    groups: dict[tuple[str, str, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.sampler, r.scheduler, rungs_by(r)), []).append(r)
    baselines = {
        (r.dataset, r.seed): r for r in runs if r.sampler == "random" and r.scheduler == "none"
    }
    for (dataset, sampler, scheduler, metric), members in groups.items():
        pairs = [
            (r, baselines[(dataset, r.seed)]) for r in members if (dataset, r.seed) in baselines
        ]
        if not pairs:
            continue
        group = [r for r, _ in pairs]
        hvs = [r.final_hv for r in group]
        reach = [r.time_to(base.final_hv) for r, base in pairs]
        ratio = [t / base.wall_s for t, (_, base) in zip(reach, pairs, strict=True)]
        per_trial = statistics.median(o for r in group for o in r.overhead_s)
        spread = statistics.stdev(hvs) if len(hvs) > 1 else 0.0
        print(
            f"{dataset:<6} {sampler:<15} {scheduler:<7} {metric:<10} "
            f"{statistics.mean(hvs):>7.4f}±{spread:<6.4f} "
            f"{statistics.mean(r.wall_s for r in group):>8.1f} "
            f"{statistics.median(reach):>13.1f} {statistics.median(ratio):>13.2f} "
            f"{' '.join(f'{x:.2f}' for x in ratio):<16} "
            f"{per_trial:>10.2f} {per_trial / 30:>7.1%}"
        )


def print_resume(rows: list[ResumeRow]) -> None:
    print(
        f"\ndriver killed with SIGKILL mid-job (at least {KILL_AFTER_COMPLETE} trials finished, "
        "one training), then resumed on the same study"
    )
    header = (
        f"{'data':<6} {'sampler':<15} {'sched':<7} {'seed':>4} {'requested':>9} "
        f"{'done at kill':>12} {'interrupted':>11} {'retried':>7} {'done at end':>11} "
        f"{'kept unchanged':>14} {'resume s':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        kept = f"{r.kept_unchanged}/{r.complete_at_kill}"
        print(
            f"{r.dataset:<6} {r.sampler:<15} {r.scheduler:<7} {r.seed:>4} {r.requested:>9} "
            f"{r.complete_at_kill:>12} {r.interrupted:>11} {r.retried:>7} "
            f"{r.complete_after:>11} {kept:>14} {r.resume_s:>8.1f}"
        )

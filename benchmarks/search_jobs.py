"""The jobs of benchmarks/search.py's hypervolume runs: each configuration (data set, sampler,
scheduler, what a rung ranks by, seed) as a job spec, run through the product's driver, and
read back from its study as a hypervolume history and the overhead of each trial."""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

from search.driver import DriverConfig, run_job
from search.job_spec import JobSpec
from search.pareto import front_hypervolume
from search.records import ATTR_CURVE, ATTR_EARLY_STOPPED
from search.samplers import population_size, startup_trials
from search.study import open_storage, study_name

OBJECTIVES = ["accuracy", "params", "spike_rate"]
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
    rung_metric: str | None = None  # None: no scheduler, or the job spec's default

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


# Benchmark names for a sampler with an option set: the job spec's sampler and the options.
SAMPLER_VARIANTS: dict[str, tuple[str, dict[str, bool]]] = {
    "tpe_progressive": ("tpe", {"progressive_depth": True}),
    "tpe_prog_mixers": ("tpe", {"progressive_depth": True, "progressive_mixers": True}),
    "tpe_prog_tokens": ("tpe", {"progressive_depth": True, "progressive_tokens": True}),
}


def sampler_options(sampler: str, n_trials: int, startup: int | None = None) -> dict[str, int]:
    """The settings a job of n_trials would get by default, fixed; `startup` replaces TPE's and
    GP's random start-up when given."""
    if sampler in ("nsga2", "nsga3"):
        return {"population_size": population_size(n_trials)}
    if sampler in ("tpe", "gp"):
        return {"n_startup_trials": startup_trials(n_trials) if startup is None else startup}
    return {}


def job(
    dataset: str,
    sampler: str,
    scheduler: str,
    seed: int,
    args: argparse.Namespace,
    time_budget_s: float | None = None,
    rung_metric: str | None = None,
) -> JobSpec:
    ref = {"name": "digits"} if dataset == "digits" else {"name": "npz", "path": "seq.npz"}
    named = sampler
    sampler, options = SAMPLER_VARIANTS.get(named, (named, {}))
    return JobSpec.model_validate(
        {
            "name": "-".join(
                [
                    "bench",
                    dataset,
                    named,
                    scheduler,
                    *([rung_metric] if rung_metric else []),
                    str(seed),
                ]
            ),
            "dataset": ref,
            # Under a time budget n_trials is only a ceiling, high enough that time decides: an
            # early-stopping scheduler's trials can cost a tenth of a full one (3 x n_trials
            # ended such jobs at two thirds of their time, at 10 epochs a trial).
            "n_trials": args.trials if time_budget_s is None else TRIAL_CEILING * args.trials,
            "time_budget_s": time_budget_s,
            "sampler_options": {
                **sampler_options(sampler, args.trials, args.startup_trials),
                **options,
            },
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
                # Left out when not asked, so the job spec's default decides.
                **({"rung_metric": rung_metric} if rung_metric else {}),
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

"""Run one search job: Ray Tune with StudySearch on the job's Optuna study.

Blocking. Connects to the Ray cluster at `ray_address` or starts a local Ray, runs the trials,
and shuts Ray down again whatever happens. A KeyboardInterrupt (the job runner turns SIGTERM
into one) stops the trials and propagates. A job whose study has trials resumes from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import optuna
import ray
from ray import tune

from search.budget_spent import BudgetSpent
from search.constraints import EnergyConstraint
from search.explore_on_repeat import EXPLORE_SEED_OFFSET, ExploreOnRepeat, random_explorer
from search.full_budget_view import FullBudgetView
from search.job_spec import JobSpec
from search.progressive import Progressive
from search.progressive_caps import Cap, CapQuadraticMixers, cap_depth, cap_tokens
from search.resume import WORKER_RESTARTS, ResumePlan, prepare_resume
from search.samplers import make_sampler
from search.schedulers import make_scheduler
from search.study import open_storage, study_name
from search.time_budget import TimeKeeper, time_left, time_used
from search.tune_search import DefineByRun, StudySearch
from spaces.space import SearchSpace
from workers.artifacts import job_dir
from workers.data import load_dataset
from workers.encoding_fit import check_encoding, check_frames
from workers.trainable import spikenas_trainable

log = logging.getLogger(__name__)

# Tune reads every trial's result files into a ResultGrid when fit() returns; a trial that the
# time budget stopped before its first report has none, and Tune warns with a FileNotFoundError
# naming its folder. The job's results live in the study (and the searcher closes such trials),
# never in that grid, so the warning only alarms the user.
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)


@dataclass(frozen=True)
class DriverConfig:
    database_url: str
    data_dir: Path
    artifacts_dir: Path
    ray_address: str | None = None
    num_cpus: int | None = None
    verbose: int = 1  # Ray Tune's status tables: 0 when a caller shows its own progress


# Rounds of tuning one driver runs before it gives up on reaching the requested trials.
MAX_ROUNDS = 3


def run_job(job_id: int, spec: JobSpec, config: DriverConfig) -> None:
    """Run the job's search until its study holds n_trials finished trials, its time budget
    is spent (search/time_budget.py), or rounds run out.

    Each round first settles the study (search/resume.py): what a dead driver, or a trial whose
    completion was lost with the database in this run, left RUNNING is failed, tagged and
    queued again, and the round runs only what is left of the budget.
    """
    # Load the data once here: a bad data set fails the job before any trial is started.
    data = load_dataset(spec.dataset, config.data_dir, seed=spec.seed)
    check_encoding(data, spec.encoding)
    if spec.budget.inherit_time_steps is not None:
        # Epochs at the smaller T group event frames too: refuse before any trial starts.
        check_frames(data, spec.budget.inherit_time_steps, field="budget.inherit_time_steps")
    space = SearchSpace(
        spec.space, data.input_shape, data.num_classes, encoding=spec.encoding, frames=data.frames
    )
    started = False
    try:
        for _ in range(MAX_ROUNDS):
            plan = prepare_resume(
                open_storage(config.database_url), job_id, spec.n_trials, spec.seed
            )
            if plan.remaining == 0:
                return
            study = _open_study(job_id, spec, config)
            seconds = time_left(study, spec.time_budget_s)
            if seconds is not None and seconds <= 0:
                log.info("job %d: its time budget (%.0f s) is spent", job_id, spec.time_budget_s)
                return
            if not started:
                _start_ray(config)
                started = True
            _run_round(job_id, spec, config, space, plan, study, seconds)
    finally:
        if started:
            ray.shutdown()


def _open_study(job_id: int, spec: JobSpec, config: DriverConfig) -> optuna.Study:
    """The job's study, created here on a first run so the round's time can be kept in it."""
    return optuna.create_study(
        study_name=study_name(job_id),
        storage=open_storage(config.database_url),
        directions=spec.directions,
        load_if_exists=True,
    )


def _sampler(
    spec: JobSpec, space: SearchSpace, plan: ResumePlan, study: optuna.Study
) -> ExploreOnRepeat:
    """The job's sampler, sized for the whole job (also in a resumed round: the study holds the
    earlier trials). It learns from full-budget trials only (search/full_budget_view.py) and
    draws at random after a repeat (search/explore_on_repeat.py); with progressive_depth,
    progressive_mixers or progressive_tokens both draws hold back deep stages, quadratic mixers
    or fine token grids early on (search/progressive.py)."""
    sampler = make_sampler(
        spec.sampler,
        plan.seed,
        None if spec.max_energy_pj is None else EnergyConstraint(spec.max_energy_pj),
        n_trials=spec.n_trials,
        options=spec.sampler_options,
    )
    caps = _progressive_caps(spec, space)
    if not caps:
        return ExploreOnRepeat(FullBudgetView(sampler), plan.seed)
    spent = BudgetSpent(spec.n_trials, spec.time_budget_s, earlier_s=time_used(study))
    explorer = Progressive(random_explorer(plan.seed), spent, caps, plan.seed + EXPLORE_SEED_OFFSET)
    held_back = Progressive(sampler, spent, caps, plan.seed)
    return ExploreOnRepeat(FullBudgetView(held_back), plan.seed, explorer)


def _progressive_caps(spec: JobSpec, space: SearchSpace) -> list[Cap]:
    """What the job's sampler_options ask a progressive search to hold back."""
    caps: list[Cap] = []
    if spec.sampler_options.progressive_depth:
        caps.append(cap_depth)
    if spec.sampler_options.progressive_mixers:
        caps.append(CapQuadraticMixers(space.input_shape))
    if spec.sampler_options.progressive_tokens:
        caps.append(cap_tokens)
    return caps


def _run_round(
    job_id: int,
    spec: JobSpec,
    config: DriverConfig,
    space: SearchSpace,
    plan: ResumePlan,
    study: optuna.Study,
    seconds_left: float | None,
) -> None:
    searcher = StudySearch(
        space=DefineByRun(space, spec.budget.epochs),
        metric=list(spec.objectives),
        mode=["max" if d == "maximize" else "min" for d in spec.directions],
        # Samplers learn from full-budget trials only (search/full_budget_view.py), and draw
        # at random after a repeat (search/explore_on_repeat.py).
        sampler=_sampler(spec, space, plan, study),
        study_name=study_name(job_id),
        storage=open_storage(config.database_url),
        budget_epochs=spec.budget.epochs,
    )
    constants = {
        "job_id": job_id,
        "dataset": spec.dataset.model_dump(mode="json"),
        "budget": spec.budget.model_dump(mode="json"),
        "seed": spec.seed,
        "data_dir": str(Path(config.data_dir).resolve()),
        "artifacts_dir": str(Path(config.artifacts_dir).resolve()),
        "cpus": spec.cpus_per_trial,
        "gpus": spec.gpus_per_trial,
    }
    keeper = TimeKeeper(study)
    trainable = tune.with_resources(
        spikenas_trainable, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}
    )
    tuner = tune.Tuner(
        trainable,
        param_space=constants,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=make_scheduler(spec.early_stopping, spec.objectives, spec.budget.epochs),
            num_samples=plan.remaining,
            max_concurrent_trials=spec.max_concurrent,
            # A finished trial's worker process takes the next trial: starting a process and
            # importing torch is most of a trial's cost outside training
            # (benchmarks/search.py). Every trial of a job asks for the same resources, and the
            # trainable sets its threads, seeds and data afresh on each call.
            reuse_actors=True,
            # Trials still running when it is spent stop there, kept and tagged early_stopped.
            time_budget_s=seconds_left,
        ),
        run_config=tune.RunConfig(
            name=study_name(job_id),
            storage_path=str((job_dir(config.artifacts_dir, job_id) / "ray").resolve()),
            verbose=config.verbose,
            failure_config=tune.FailureConfig(max_failures=WORKER_RESTARTS),
            # A restarted trial resumes from its latest training state (workers/trainable.py);
            # older ones are only disk.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            callbacks=[keeper],
        ),
    )
    try:
        tuner.fit()
    finally:
        keeper.record()
    closed = searcher.close_unfinished()
    if closed:
        log.info("job %d: trials %s stopped when the time budget ran out", job_id, closed)


def _start_ray(config: DriverConfig) -> None:
    if config.ray_address:
        log.info("joining the Ray cluster at %s", config.ray_address)
        ray.init(address=config.ray_address, log_to_driver=True)
    else:
        ray.init(num_cpus=config.num_cpus, include_dashboard=False, log_to_driver=True)

"""The kill-and-resume part of benchmarks/search.py: a job's driver killed with SIGKILL in the
middle of the job, then a new driver run on the same study, as a user's would be after a crash.

The driver runs in its own process group (with the local Ray it starts), so that SIGKILL takes
the driver and its trial workers down at once, as a lost machine would. It is killed once some
trials have finished and another is in the middle of its training (at least one epoch trained,
not all): the moment that can lose or double-count work. The new driver then runs the job to
its end, and the row says whether the study holds exactly the requested finished trials, whether
every trial finished before the kill is still there unchanged (values, parameters, per-epoch
curve), and how the interrupted trials were failed and retried.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.driver import DriverConfig, run_job
from search.job_spec import JobSpec
from search.records import ATTR_CURVE, ATTR_EPOCHS_TRAINED
from search.resume import ATTR_INTERRUPTED, ATTR_RETRY
from search.study import open_storage, study_name

# The driver's process: the job spec as JSON and the DriverConfig's fields as arguments.
_DRIVER = """
import sys
from pathlib import Path
from search.driver import DriverConfig, run_job
from search.job_spec import JobSpec
spec = JobSpec.model_validate_json(sys.argv[1])
config = DriverConfig(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), num_cpus=2, verbose=0)
run_job(int(sys.argv[5]), spec, config)
"""
KILL_AFTER_COMPLETE = 3  # finished trials before the kill
WAIT_S = 900.0  # for the moment to kill: the first trials of a job take a minute or two


@dataclass
class ResumeRow:
    dataset: str
    sampler: str
    scheduler: str
    seed: int
    requested: int
    complete_at_kill: int
    interrupted: int  # RUNNING at the kill, failed by the next driver
    retried: int  # of those, trained again to the end
    complete_after: int
    kept_unchanged: int  # finished before the kill and identical after the resume
    resume_s: float  # the second driver's wall time


def _snapshot(trial: FrozenTrial) -> tuple[Any, ...]:
    """What must survive a resume unchanged: the objectives, the architecture, the curve."""
    return (trial.values, trial.params, trial.user_attrs.get(ATTR_CURVE))


def _study(database_url: str, job_id: int) -> optuna.Study:
    return optuna.load_study(study_name=study_name(job_id), storage=open_storage(database_url))


def _ready_to_kill(database_url: str, job_id: int, budget_epochs: int) -> bool:
    try:
        trials = _study(database_url, job_id).get_trials(deepcopy=False)
    except KeyError:  # the driver has not made the study yet
        return False
    complete = sum(t.state == TrialState.COMPLETE for t in trials)
    training = any(
        t.state == TrialState.RUNNING
        and 1 <= t.user_attrs.get(ATTR_EPOCHS_TRAINED, 0) < budget_epochs
        for t in trials
    )
    return complete >= KILL_AFTER_COMPLETE and training


def kill_and_resume(
    spec: JobSpec, dataset: str, work: Path, job_id: int, database_url: str
) -> ResumeRow:
    """Run `spec` as job `job_id` in a driver process, SIGKILL it mid-job, resume it here."""
    config = DriverConfig(database_url, work / "data", work / "artifacts", num_cpus=2, verbose=0)
    argv = [sys.executable, "-c", _DRIVER, spec.model_dump_json(), database_url]
    argv += [str(config.data_dir), str(config.artifacts_dir), str(job_id)]
    log_path = work / f"driver-{job_id}.log"
    with open(log_path, "wb") as log:
        driver = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + WAIT_S
        while not _ready_to_kill(database_url, job_id, spec.budget.epochs):
            if driver.poll() is not None:
                raise RuntimeError(
                    f"the driver ended (exit {driver.returncode}) before the kill; its log:\n"
                    + log_path.read_text()[-3000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"no moment to kill the driver within {WAIT_S:.0f} s")
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its local Ray
        driver.wait(30)
    before = _study(database_url, job_id).get_trials()
    kept = {t.number: _snapshot(t) for t in before if t.state == TrialState.COMPLETE}
    stale = {t.number for t in before if t.state == TrialState.RUNNING}

    started = time.time()
    run_job(job_id, spec, config)
    resume_s = time.time() - started

    after = {t.number: t for t in _study(database_url, job_id).get_trials()}
    complete = [t for t in after.values() if t.state == TrialState.COMPLETE]
    interrupted = [
        n
        for n in stale
        if after[n].state == TrialState.FAIL and ATTR_INTERRUPTED in after[n].user_attrs
    ]
    retried = {t.user_attrs[ATTR_RETRY]["of"] for t in complete if ATTR_RETRY in t.user_attrs}
    return ResumeRow(
        dataset=dataset,
        sampler=spec.sampler,
        scheduler=spec.early_stopping.kind,
        seed=spec.seed,
        requested=spec.n_trials,
        complete_at_kill=len(kept),
        interrupted=len(interrupted),
        retried=len(retried & stale),
        complete_after=len(complete),
        kept_unchanged=sum(
            after[n].state == TrialState.COMPLETE and _snapshot(after[n]) == snapshot
            for n, snapshot in kept.items()
        ),
        resume_s=resume_s,
    )

"""Resume a job from its study after its driver died.

A driver that dies (SIGKILL, a lost machine, a lost database connection, the service stopping)
leaves trials RUNNING in its Optuna study that nobody will finish. Before a driver runs a job
it calls `prepare_resume`, which
  - fails each RUNNING trial, tagged ATTR_INTERRUPTED with the reason, so that no reader takes
    it for a live one and no sampler learns from it;
  - queues a retry of each (Optuna's enqueue_trial: a WAITING trial with the same parameters,
    which the next `ask` returns before any new draw), tagged ATTR_RETRY with the trial it
    retries and the attempt, at most MAX_TRIAL_RETRIES times per architecture;
  - counts what is left of the budget: n_trials minus the trials that ended on their own
    (complete, or failed in training). Interrupted trials and draws rejected before training
    (ATTR_REJECTED) count for nothing, so no finished trial is lost or counted twice.
A new job (no study yet) is left as it is, with its whole budget to run.

Only one driver may run a job at a time (the job manager sees to it): these functions change
trials that a live driver would still own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from search.records import ATTR_REJECTED
from search.study import StudyNotFound, load_study

log = logging.getLogger(__name__)

ATTR_INTERRUPTED = "interrupted"  # why a trial was failed without finishing (its driver died)
ATTR_RETRY = "retry"  # {"of": number of the first try, "attempt": 1, 2, ...} on a retry
MAX_TRIAL_RETRIES = 2  # retries of an interrupted architecture, before it is left failed
# Ray Tune restarts of a trial whose worker process died, within one driver (FailureConfig).
WORKER_RESTARTS = 2

DRIVER_DIED = "its driver stopped while it ran; the job resumed without it"


@dataclass(frozen=True)
class ResumePlan:
    """What a driver starting on a job's study found and left to do."""

    seed: int  # the sampler's seed: the job's for a new study, shifted for a resumed one
    remaining: int  # trials to run (retries included)
    complete: int = 0  # finished trials kept
    failed: int = 0  # trials that failed in training: they spent their part of the budget
    interrupted: list[int] = field(default_factory=list)  # failed here, by number
    retried: list[int] = field(default_factory=list)  # of those, queued again


def _tag_and_fail(
    storage: optuna.storages.BaseStorage,
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    reason: str,
) -> bool:
    """Fail a RUNNING trial with its reason; False if it ended meanwhile."""
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
    try:
        storage.set_trial_user_attr(trial_id, ATTR_INTERRUPTED, reason)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    return True


def close_interrupted(storage: optuna.storages.BaseStorage, job_id: int, reason: str) -> list[int]:
    """Fail the job's RUNNING trials, tagged with `reason`, once its driver has stopped (a
    cancel, a job given up); the numbers of the trials failed."""
    try:
        study = load_study(storage, job_id)
    except StudyNotFound:
        return []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t.number for t in running if _tag_and_fail(storage, study, t, reason)]


def _next_attempt(trial: optuna.trial.FrozenTrial) -> tuple[int, int]:
    """(number of the first try, attempt) that a retry of `trial` would be."""
    retry = trial.user_attrs.get(ATTR_RETRY)
    if isinstance(retry, dict) and "of" in retry and "attempt" in retry:
        return int(retry["of"]), int(retry["attempt"]) + 1
    return trial.number, 1


def prepare_resume(
    storage: optuna.storages.BaseStorage, job_id: int, n_trials: int, seed: int
) -> ResumePlan:
    """Settle the study a previous driver left and say how many trials are left to run."""
    try:
        study = load_study(storage, job_id)
    except StudyNotFound:
        return ResumePlan(seed=seed, remaining=n_trials)
    trials = study.get_trials(deepcopy=False)
    if not trials:
        return ResumePlan(seed=seed, remaining=n_trials)

    complete = failed = 0
    interrupted: list[int] = []
    retried: list[int] = []
    for trial in trials:
        rejected = ATTR_REJECTED in trial.user_attrs
        if trial.state == TrialState.RUNNING and rejected:
            # A draw being rejected when the driver died: finish the rejection, no retry.
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        elif rejected:
            continue
        elif trial.state == TrialState.COMPLETE:
            complete += 1
        elif trial.state in (TrialState.FAIL, TrialState.PRUNED):
            failed += ATTR_INTERRUPTED not in trial.user_attrs
        elif trial.state == TrialState.RUNNING and _tag_and_fail(
            storage, study, trial, DRIVER_DIED
        ):
            interrupted.append(trial.number)
            first, attempt = _next_attempt(trial)
            if attempt <= MAX_TRIAL_RETRIES:
                study.enqueue_trial(
                    trial.params,
                    user_attrs={ATTR_RETRY: {"of": first, "attempt": attempt}},
                    skip_if_exists=False,
                )
                retried.append(trial.number)
        # WAITING: a retry queued by an earlier resume, which the next ask() takes first.
    plan = ResumePlan(
        # A different stream of draws: the job's own seed would repeat the first run's.
        seed=(seed + len(trials)) % 2**32,
        remaining=max(0, n_trials - complete - failed),
        complete=complete,
        failed=failed,
        interrupted=interrupted,
        retried=retried,
    )
    log.info(
        "job %d resumes: %d trials complete, %d failed, %d interrupted (%d retried), %d to run",
        job_id,
        complete,
        failed,
        len(interrupted),
        len(retried),
        plan.remaining,
    )
    return plan

"""The service killed with SIGKILL in the middle of a job, then started again: the job completes
with every trial that had finished before the kill kept as it was.

Two cases. The driver outlives the service (it leads its own session): the new service adopts
it and the job goes on undisturbed. The driver dies with it (a machine restart, the OOM killer):
the new service puts the job back in the queue and the next driver resumes it from its study.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from search.resume import ATTR_INTERRUPTED, ATTR_RETRY
from search.study import open_storage, study_name
from tests.fault.harness import (
    FINAL,
    JOB,
    Server,
    complete_trials,
    job_pid,
    job_resumes,
    kill_group,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# Long enough that the driver is still training when the second service has started (it must
# find the driver alive to adopt it): with worker processes reused between trials, the fault
# harness's 4-trial job ends within the seconds a service takes to start.
LONG_JOB = {**JOB, "n_trials": 10, "budget": {**JOB["budget"], "epochs": 6}}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("driver_dies_too", [False, True], ids=["driver-lives", "driver-dies"])
def test_service_killed_mid_job_and_restarted(
    database_url: str,
    tmp_path: Path,
    service_env: Callable[[str], dict[str, str]],
    servers: list[Server],
    driver_dies_too: bool,
) -> None:
    env = service_env(database_url)
    first = Server(env, tmp_path / "serve.log").start()
    servers.append(first)
    job_id = first.submit(LONG_JOB)
    first.wait_until_finished_and_running(job_id)
    pid = job_pid(database_url, job_id)
    assert pid is not None
    first.kill()
    kept = _complete_in_study(database_url, job_id)
    assert kept
    if driver_dies_too:
        kill_group(pid)
    else:
        os.kill(pid, 0)  # still there, training, its service gone

    second = Server(env, tmp_path / "serve.log").start()
    servers.append(second)
    wait_for(lambda: second.get(f"/api/jobs/{job_id}")["status"] in FINAL, 600, "the job to end")
    job = second.get(f"/api/jobs/{job_id}")
    log = second.get(f"/api/jobs/{job_id}/log?limit=1048576")
    assert job["status"] == "succeeded", (job, log[-3000:])
    assert job["progress"]["complete"] == LONG_JOB["n_trials"] and job["progress"]["running"] == 0
    complete = complete_trials(second, job_id)
    for number, values in kept.items():  # no finished trial lost or changed
        assert complete[number] == values
    study = optuna.load_study(study_name=study_name(job_id), storage=open_storage(database_url))
    interrupted = [t for t in study.get_trials() if ATTR_INTERRUPTED in t.user_attrs]
    if driver_dies_too:
        assert job_resumes(database_url, job_id) == 1
        assert "back to the queue to resume" in log and "resume 1 of" in log
        assert interrupted  # the trials the dead driver had running, failed and tagged
        retries = [t for t in study.get_trials() if ATTR_RETRY in t.user_attrs]
        assert {t.user_attrs[ATTR_RETRY]["of"] for t in retries} == {t.number for t in interrupted}
    else:
        assert job_resumes(database_url, job_id) == 0
        assert f"driver {pid} adopted" in log
        assert not interrupted  # nothing was disturbed
    second.stop()


def _complete_in_study(database_url: str, job_id: int) -> dict[int, dict[str, float]]:
    """Finished trials straight from the study (the service is down), named as the API names
    them."""
    study = optuna.load_study(study_name=study_name(job_id), storage=open_storage(database_url))
    names = list(JOB.get("objectives", ["accuracy", "params", "spike_rate"]))
    return {
        t.number: dict(zip(names, t.values, strict=True))
        for t in study.get_trials()
        if t.state == optuna.trial.TrialState.COMPLETE
    }

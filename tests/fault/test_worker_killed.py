"""A Ray worker process killed with SIGKILL while it trains a trial: Ray Tune restarts the trial
(FailureConfig, search.resume.WORKER_RESTARTS) and the job completes with exactly the requested
trials, the restarted one counted once in its Optuna study."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from search.records import ATTR_REJECTED
from search.study import open_storage, study_name
from tests.fault.harness import FINAL, JOB, Server, job_pid, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state


def _descends_from(pid: int, ancestor: int) -> bool:
    seen = 0
    current: int | None = pid
    while current and current > 1 and seen < 64:
        if current == ancestor:
            return True
        current, seen = _parent(current), seen + 1
    return False


def trial_workers(driver: int) -> list[int]:
    """Ray worker processes of this driver's local Ray that run a trial (an actor of the
    trainable, named by Ray in its process title)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        is_trial = title.startswith("ray::") and ("ImplicitFunc" in title or "trainable" in title)
        if is_trial and _descends_from(int(entry.name), driver):
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_killed_worker_is_restarted_and_its_trial_counted_once(
    database_url: str,
    tmp_path: Path,
    service_env: Callable[[str], dict[str, str]],
    servers: list[Server],
) -> None:
    server = Server(service_env(database_url), tmp_path / "serve.log").start()
    servers.append(server)
    job_id = server.submit(JOB)

    def training() -> bool:
        progress = server.get(f"/api/jobs/{job_id}")["progress"]
        pid = job_pid(database_url, job_id)
        return bool(progress["running"] >= 1 and pid and trial_workers(pid))

    wait_for(training, 300, "a trial training in a Ray worker")
    victim = trial_workers(job_pid(database_url, job_id) or 0)[0]
    os.kill(victim, signal.SIGKILL)

    wait_for(lambda: server.get(f"/api/jobs/{job_id}")["status"] in FINAL, 600, "the job's end")
    job = server.get(f"/api/jobs/{job_id}")
    log = server.get(f"/api/jobs/{job_id}/log?limit=1048576")
    assert job["status"] == "succeeded", (job, log[-3000:])
    # Every trial finished, none failed: the killed one was restarted, not given up.
    assert job["progress"] == {
        "complete": JOB["n_trials"],
        "running": 0,
        "failed": 0,
        "total": JOB["n_trials"],
    }
    study = optuna.load_study(study_name=study_name(job_id), storage=open_storage(database_url))
    trials = [t for t in study.get_trials() if ATTR_REJECTED not in t.user_attrs]
    assert len(trials) == JOB["n_trials"]  # the restarted trial is one Optuna trial, not two
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # Ray saw the worker die, and restarted its trial rather than giving it up.
    assert "ActorDiedError" in log and "terminated successfully after retrying" in log
    server.stop()

"""The job manager with real processes: recovery after a restart (adopt or resume), launching
within the slot limit, reaping (resume a killed driver, fail a crashed one), cancel by signal,
and stopping its drivers on shutdown (their jobs go back to the queue).

Drivers that fail fast (a data set that is gone) stand in for real searches where the search
itself does not matter; the tests marked `ray` run real ones, briefly.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from search.results import read_progress
from search.study import open_storage
from service.db import session_scope
from service.job_store import claim_queued, get_job, request_cancel, set_pid
from service.jobs import STOPPED, JobManager, _Driver
from service.models import Job
from service.process import EXIT_RESUME
from service.settings import Settings

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _job(settings: Settings, job_id: int) -> Job:
    with session_scope(settings.database_url) as session:
        return get_job(session, job_id)


def _running_with_pid(settings: Settings, job_id: int, pid: int | None) -> None:
    with session_scope(settings.database_url) as session:
        assert claim_queued(session, job_id)
        if pid is not None:
            set_pid(session, job_id, pid)


def _tick_until(manager: JobManager, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done in {timeout} s"
        manager.tick()
        time.sleep(0.2)


@pytest.fixture
def fake_runner(tmp_path: Path) -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    """A live process whose command line is a runner's, in its own session like one."""
    started: list[subprocess.Popen[bytes]] = []

    def start(job_id: int) -> subprocess.Popen[bytes]:
        code = "import time; time.sleep(120)"
        argv = [sys.executable, "-c", code, "service.job_runner", "--job-id", str(job_id)]
        process = subprocess.Popen(argv, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def test_restart_requeues_jobs_whose_driver_is_gone(
    settings: Settings,
    add_job: Callable[..., int],
    fake_runner: Callable[[int], subprocess.Popen[bytes]],
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = add_job(name="gone")
    _running_with_pid(settings, gone, dead.pid)
    never_started = add_job(name="no pid")
    _running_with_pid(settings, never_started, None)
    stranger = add_job(name="pid reused by another program")
    _running_with_pid(settings, stranger, subprocess.os.getpid())  # pytest is no runner
    alive = add_job(name="driver outlived its server")
    runner = fake_runner(alive)
    _running_with_pid(settings, alive, runner.pid)
    queued = add_job(name="queued")

    manager = JobManager(settings)
    manager.recover()
    for job_id in (gone, never_started, stranger):
        job = _job(settings, job_id)
        # Back in the queue: the next driver resumes the job from its study.
        assert job.status == "queued" and job.resumes == 1 and job.pid is None
        assert job.error is None and job.finished_at is None
        log = (settings.artifacts_dir / f"job-{job_id}" / "driver.log").read_text()
        assert "driver was gone when the service started again" in log and "resume 1 of" in log
    assert _job(settings, alive).status == "running"
    assert manager.running == [alive]
    assert _job(settings, queued).status == "queued" and _job(settings, queued).resumes == 0
    assert runner.poll() is None  # recovery signals nobody


def test_restart_gives_up_after_max_resumes_and_honours_cancels(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    settings = settings.model_copy(update={"max_resumes": 2})
    tired = add_job(name="resumed twice already")
    _running_with_pid(settings, tired, None)
    with session_scope(settings.database_url) as session:
        session.execute(update(Job).where(Job.id == tired).values(resumes=2))
    cancelled = add_job(name="cancel asked, then the server died")
    _running_with_pid(settings, cancelled, None)
    with session_scope(settings.database_url) as session:
        request_cancel(session, cancelled)

    JobManager(settings).recover()
    job = _job(settings, tired)
    assert job.status == "failed" and job.finished_at is not None
    assert "gave up after 2 resumes" in (job.error or "")
    assert _job(settings, cancelled).status == "cancelled"


class _ScriptedManager(JobManager):
    """A job manager whose drivers run `script` instead of a search: the launch, reaping and
    settling are the real ones, without Ray. The command line names the job like a runner's."""

    def __init__(self, settings: Settings, script: str) -> None:
        super().__init__(settings)
        self.script = script

    def _spawn(self, job_id: int) -> _Driver:
        log_path = self._log_path(job_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            argv = [sys.executable, "-c", self.script, "service.job_runner", str(job_id)]
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return _Driver(job_id, process.pid, log_path, process)


KILLED = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
LOST_DATABASE = f"import sys; sys.exit({EXIT_RESUME})"
CRASHED = "import sys; print('boom: a bug in the runner'); sys.exit(1)"


@SQLITE_ONLY
@pytest.mark.parametrize("script", [KILLED, LOST_DATABASE], ids=["sigkill", "exit-resume"])
def test_a_driver_that_dies_is_resumed_up_to_the_limit(
    settings: Settings, add_job: Callable[..., int], script: str
) -> None:
    settings = settings.model_copy(update={"max_running_jobs": 1, "max_resumes": 2})
    job_id = add_job()
    manager = _ScriptedManager(settings, script)
    # Each round reaps the dead driver, requeues the job, and starts it again.
    _tick_until(manager, lambda: _job(settings, job_id).status == "failed", 30)
    job = _job(settings, job_id)
    assert job.resumes == 2 and "gave up after 2 resumes" in (job.error or "")
    log = (settings.artifacts_dir / f"job-{job_id}" / "driver.log").read_text()
    assert "resume 1 of 2" in log and "resume 2 of 2" in log
    assert manager.running == []


@SQLITE_ONLY
def test_a_driver_that_crashes_fails_its_job_with_the_log_tail(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    settings = settings.model_copy(update={"max_running_jobs": 1})
    job_id = add_job()
    manager = _ScriptedManager(settings, CRASHED)
    _tick_until(manager, lambda: _job(settings, job_id).status == "failed", 30)
    job = _job(settings, job_id)
    assert job.resumes == 0  # a crash is not resumed: it would crash again
    assert "exited with code 1" in (job.error or "") and "boom" in (job.error or "")


@SQLITE_ONLY
def test_stop_puts_its_jobs_back_in_the_queue(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    settings = settings.model_copy(update={"max_running_jobs": 1})
    job_id = add_job()
    # A runner stopped without a cancel request exits with EXIT_RESUME, as this one does.
    script = (
        "import signal, sys, time\n"
        f"signal.signal(signal.SIGTERM, lambda *a: sys.exit({EXIT_RESUME}))\n"
        "time.sleep(60)"
    )
    manager = _ScriptedManager(settings, script)
    manager.tick()
    pid = _job(settings, job_id).pid
    assert pid is not None and _job(settings, job_id).status == "running"
    time.sleep(0.5)  # the script's handler is in place
    manager.stop()
    job = _job(settings, job_id)
    # Not the job's doing: back in the queue without using up a resume.
    assert job.status == "queued" and job.resumes == 0 and job.pid is None
    with pytest.raises(ProcessLookupError):
        subprocess.os.kill(pid, 0)


def test_cancel_signals_the_drivers_process_group(
    settings: Settings,
    add_job: Callable[..., int],
    fake_runner: Callable[[int], subprocess.Popen[bytes]],
) -> None:
    job_id = add_job()
    runner = fake_runner(job_id)
    _running_with_pid(settings, job_id, runner.pid)
    manager = JobManager(settings)
    manager.recover()
    manager.tick()
    assert runner.poll() is None  # no cancel asked yet
    with session_scope(settings.database_url) as session:
        request_cancel(session, job_id)
    manager.tick()
    assert runner.wait(10) < 0  # SIGTERM
    # The fake wrote no final status, as a killed runner would not: the manager records it.
    _tick_until(manager, lambda: _job(settings, job_id).status != "running", 10)
    job = _job(settings, job_id)
    assert job.status == "cancelled" and job.finished_at is not None
    assert manager.running == []


@SQLITE_ONLY
def test_launches_within_the_slot_limit_and_reaps(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    settings = settings.model_copy(update={"max_running_jobs": 1})
    # Gone data: each runner fails fast, before Ray, which is all this test needs of it.
    ids = [add_job(name=f"j{i}", dataset={"name": "npz", "path": f"gone{i}.npz"}) for i in (0, 1)]
    manager = JobManager(settings)
    manager.recover()
    manager.tick()
    first, second = (_job(settings, i) for i in ids)
    assert first.status == "running" and first.pid is not None and first.started_at
    assert second.status == "queued"
    assert manager.running == [ids[0]]

    def both_ended() -> bool:
        assert len(manager.running) <= 1
        return all(_job(settings, i).status == "failed" for i in ids)

    _tick_until(manager, both_ended, 120)
    for i, job_id in enumerate(ids):
        job = _job(settings, job_id)
        assert f"gone{i}.npz" in (job.error or "") and job.pid is None
        log = (settings.artifacts_dir / f"job-{job_id}" / "driver.log").read_text()
        assert "starting the driver" in log and "Traceback" in log
    manager.stop()


@SQLITE_ONLY
def test_zero_slots_launch_nothing(settings: Settings, add_job: Callable[..., int]) -> None:
    job_id = add_job()
    manager = JobManager(settings)  # the fixture's max_running_jobs=0
    manager.tick()
    assert _job(settings, job_id).status == "queued" and manager.running == []


def _wait_for_a_running_trial(settings: Settings, manager: JobManager, job_id: int) -> None:
    """Until the driver is deep in the search: Ray up, a trial training (read from the study)."""
    storage = open_storage(settings.database_url)
    _tick_until(manager, lambda: read_progress(storage, job_id, 1).running > 0, 120)


@pytest.mark.ray
@pytest.mark.slow
@SQLITE_ONLY
def test_cancel_stops_a_real_search(settings: Settings, add_job: Callable[..., int]) -> None:
    settings = settings.model_copy(update={"max_running_jobs": 1, "ray_num_cpus": 1})
    job_id = add_job(n_trials=50, budget={"epochs": 20})
    manager = JobManager(settings)
    _wait_for_a_running_trial(settings, manager, job_id)
    with session_scope(settings.database_url) as session:
        request_cancel(session, job_id)
    _tick_until(manager, lambda: _job(settings, job_id).status != "running", 60)
    job = _job(settings, job_id)
    assert job.status == "cancelled" and job.error is None
    log = (settings.artifacts_dir / f"job-{job_id}" / "driver.log").read_text()
    assert f"job {job_id}: cancelled" in log  # the runner itself wrote the outcome
    # The trials it stopped are failed and tagged, none left running; finished ones are kept.
    progress = read_progress(open_storage(settings.database_url), job_id, 50)
    assert progress.running == 0 and progress.failed >= 1
    manager.stop()


@pytest.mark.ray
@pytest.mark.slow
@SQLITE_ONLY
def test_stop_ends_the_drivers_it_started(settings: Settings, add_job: Callable[..., int]) -> None:
    settings = settings.model_copy(update={"max_running_jobs": 1, "ray_num_cpus": 1})
    job_id = add_job(n_trials=50, budget={"epochs": 20})
    manager = JobManager(settings)
    _wait_for_a_running_trial(settings, manager, job_id)
    pid = _job(settings, job_id).pid
    manager.stop()
    job = _job(settings, job_id)
    # Stopped, not failed: the next server resumes it from its study.
    assert (job.status, job.error, job.resumes) == ("queued", None, 0)
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        subprocess.os.kill(pid, 0)
    log = (settings.artifacts_dir / f"job-{job_id}" / "driver.log").read_text()
    assert STOPPED in log

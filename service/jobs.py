"""The job manager: runs each queued job's driver as its own process, outside the API.

A daemon thread, every poll interval:
  (a) reaps drivers that exited; the runner writes its job's final status itself. A driver that
      ended without one is settled here: cancelled when a cancel had been asked for; back in
      the queue, to resume from its study (search.resume), when it was killed by a signal or
      stopped on purpose (exit code EXIT_RESUME: interrupted, database lost), at most
      `max_resumes` times; failed with the tail of its log otherwise (a crash);
  (b) signals the drivers of jobs whose cancel was requested: SIGTERM to the runner, which
      stops its Ray and records the cancel; SIGKILL to its whole process group (its local Ray
      included) after CANCEL_GRACE_S; what is left of a group is killed when it is reaped;
  (c) claims queued jobs while fewer than `max_running_jobs` run and starts for each
      `python -m service.job_runner --job-id N` in a new session, output appended to
      <artifacts_dir>/job-<id>/driver.log.
Drivers are processes rather than threads so that a cancel can kill a whole Ray session and a
crash in training cannot take the API down; and since each leads its own session, a driver
outlives a service killed under it.

On start, jobs left `running` by a previous server are settled: adopted (counted, cancellable,
reaped) when their driver still runs, so the job goes on as if nothing happened; put back in the
queue to resume when it is gone. On stop, the drivers this manager started are stopped and their
jobs put back in the queue (not counted as a resume: the job did nothing wrong), to resume when
a server starts again. A job that ends cancelled or failed here has the trials its driver left
running failed and tagged, so that its study shows none running.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from search.artifacts import job_dir
from search.resume import close_interrupted
from search.study import open_storage
from service.db import session_scope
from service.job_store import claim_queued, finish_running, requeue_running, set_pid
from service.models import Job, utcnow
from service.process import EXIT_RESUME, describe_exit, is_runner, log_tail
from service.settings import Settings, env_name

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 20.0  # Ray needs a few seconds to stop its workers cleanly
STOP_GRACE_S = 10.0  # shorter: a supervisor stopping the service will not wait long
RESTARTED = "the job's driver was gone when the service started again"
STOPPED = "the service stopped while this job ran"
CANCELLED_TRIAL = "the job was cancelled while this trial ran"
FAILED_TRIAL = "the job failed while this trial ran"


@dataclass
class _Driver:
    job_id: int
    pid: int
    log_path: Path
    process: subprocess.Popen[bytes] | None  # None: adopted from a previous server
    signalled_at: float | None = None
    killed: bool = False
    reaped: bool = False  # its group was killed once it exited (never twice: pids are reused)

    @property
    def adopted(self) -> bool:
        return self.process is None

    def exited(self) -> bool:
        if self.process is not None:
            return self.process.poll() is not None
        return not is_runner(self.pid, self.job_id)

    def exit_code(self) -> int | None:
        """The exit code once it exited; None while it runs, and for an adopted driver, whose
        code its parent (a previous server) would have had to collect."""
        return None if self.process is None else self.process.poll()

    def terminate(self) -> None:
        # The runner alone: it stops its own Ray in order; a SIGTERM to the whole group would
        # kill Ray's processes under the driver while it shuts them down.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGTERM)

    def kill_group(self) -> None:
        # The runner leads its own session, so its pid is the group id of it and its local Ray.
        # The kernel does not reuse a pid while it names a live group, so this cannot reach a
        # stranger.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def _note(log_path: Path, text: str) -> None:
    """Append the manager's word on a job to its driver.log, which users read over the API."""
    with contextlib.suppress(OSError):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as f:
            f.write(f"--- {utcnow().isoformat()} {text}\n")


class JobManager:
    """Owns the drivers it starts. `tick` does one round of the loop; it is not thread-safe, so
    call it either from the manager's own thread (after `start`) or, in tests, instead of it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._drivers: dict[int, _Driver] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="spikenas-jobs", daemon=True)

    @property
    def running(self) -> list[int]:
        """Ids of the jobs whose drivers this manager watches."""
        return sorted(self._drivers)

    def start(self) -> None:
        self.recover()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        own = [d for d in self._drivers.values() if not d.adopted]
        for driver in own:
            driver.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for driver in own:
            if not driver.wait(max(0.0, deadline - time.monotonic())):
                driver.kill_group()
                driver.wait(5.0)
            try:
                self._settle(driver, stopping=True)
            except Exception:  # the database is gone too: the next server's recovery settles it
                log.exception("job %d: could not record that the service stopped", driver.job_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop must outlive a failed database round trip
                log.exception("job manager round failed")
            self._stop.wait(self.settings.poll_interval_s)

    def tick(self) -> None:
        for driver in list(self._drivers.values()):
            if driver.exited():
                self._settle(driver)
        self._signal_cancelled()
        self._launch_queued()

    def recover(self) -> None:
        """Settle jobs a previous server left running: adopt live drivers, resume the others."""
        with session_scope(self.settings.database_url) as session:
            rows = session.execute(select(Job.id, Job.pid).where(Job.status == "running")).all()
        for job_id, pid in rows:
            if job_id in self._drivers:
                continue
            if pid is not None and is_runner(pid, job_id):
                log.info("job %d: adopting its running driver (pid %d)", job_id, pid)
                _note(self._log_path(job_id), f"the service restarted; driver {pid} adopted")
                self._drivers[job_id] = _Driver(job_id, pid, self._log_path(job_id), None)
                continue
            self._conclude(job_id, RESTARTED, resumable=True, counted=True)

    def _launch_queued(self) -> None:
        free = self.settings.max_running_jobs - len(self._drivers)
        if free <= 0:
            return
        with session_scope(self.settings.database_url) as session:
            queued = session.scalars(
                select(Job.id).where(Job.status == "queued").order_by(Job.id).limit(free)
            ).all()
        for job_id in queued:
            # Claim first, then spawn: a cancel that lands in between finds the job running
            # and is honoured on the next round instead of being overwritten.
            with session_scope(self.settings.database_url) as session:
                if not claim_queued(session, job_id):
                    continue
            try:
                driver = self._spawn(job_id)
            except OSError as e:
                log.exception("job %d: could not start its driver", job_id)
                with session_scope(self.settings.database_url) as session:
                    finish_running(session, job_id, "failed", f"could not start the driver: {e}")
                continue
            self._drivers[job_id] = driver
            with session_scope(self.settings.database_url) as session:
                set_pid(session, job_id, driver.pid)

    def _log_path(self, job_id: int) -> Path:
        return job_dir(self.settings.artifacts_dir, job_id) / "driver.log"

    def _child_env(self) -> dict[str, str]:
        # Settings given in code (tests, create_app(settings)) must win over the environment.
        env = {k: v for k, v in os.environ.items()}
        for name in Settings.model_fields:
            env.pop(env_name(name), None)
        env.update(self.settings.child_env())
        return env

    def _spawn(self, job_id: int) -> _Driver:
        log_path = self._log_path(job_id)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            out.write(f"--- {utcnow().isoformat()} starting the driver of job {job_id}\n".encode())
            out.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", "service.job_runner", "--job-id", str(job_id)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._child_env(),
                start_new_session=True,
            )
        log.info("job %d: driver started (pid %d)", job_id, process.pid)
        return _Driver(job_id, process.pid, log_path, process)

    def _signal_cancelled(self) -> None:
        with session_scope(self.settings.database_url) as session:
            wanted = session.scalars(
                select(Job.id).where(Job.status == "running", Job.cancel_requested.is_(True))
            ).all()
        now = time.monotonic()
        for job_id in wanted:
            driver = self._drivers.get(job_id)
            if driver is None:
                continue  # another server's driver: that server signals it
            if driver.signalled_at is None:
                log.info("job %d: cancel requested, sending SIGTERM", job_id)
                driver.terminate()
                driver.signalled_at = now
            elif not driver.killed and now - driver.signalled_at > CANCEL_GRACE_S:
                log.warning("job %d: driver still alive after SIGTERM, sending SIGKILL", job_id)
                driver.kill_group()
                driver.killed = True

    def _settle(self, driver: _Driver, stopping: bool = False) -> None:
        """Forget an exited driver once its job's outcome is recorded (kept, and tried again
        next round, while the database cannot be written)."""
        code = driver.exit_code()
        if not driver.adopted and not driver.reaped:
            driver.kill_group()  # whatever of its local Ray outlived it
            driver.reaped = True
        if stopping:
            self._conclude(driver.job_id, STOPPED, resumable=True, counted=False)
        else:
            # A signal (killed, out of memory) or EXIT_RESUME: the job may go on from its study.
            # An adopted driver's code is unknown: it wrote no outcome, so it did not crash
            # cleanly either, and resuming is the safe guess.
            resumable = code is None or code < 0 or code == EXIT_RESUME
            self._conclude(
                driver.job_id, f"its driver {describe_exit(code)}", resumable, counted=True
            )
        self._drivers.pop(driver.job_id, None)

    def _conclude(self, job_id: int, why: str, resumable: bool, counted: bool) -> None:
        """Record the outcome of a running job whose driver is gone without writing one."""
        log_path = self._log_path(job_id)
        with session_scope(self.settings.database_url) as session:
            job = session.get(Job, job_id, populate_existing=True)
            if job is None or job.status != "running":
                return  # the runner wrote its final status
            resumes = job.resumes
            if job.cancel_requested:
                finish_running(session, job_id, "cancelled")
                outcome = "cancelled"
            elif resumable and requeue_running(
                session, job_id, self.settings.max_resumes, count=counted
            ):
                outcome = "queued"
            else:
                if resumable:
                    why += f"; gave up after {resumes} resumes (SPIKENAS_MAX_RESUMES)"
                finish_running(
                    session, job_id, "failed", f"{why}; the end of its log:\n" + log_tail(log_path)
                )
                outcome = "failed"
        if outcome == "queued":
            count = f" (resume {resumes + 1} of {self.settings.max_resumes})" if counted else ""
            log.warning("job %d: %s; back in the queue to resume%s", job_id, why, count)
            _note(
                log_path, f"{why}: the job goes back to the queue to resume from its study{count}"
            )
            return
        reason = CANCELLED_TRIAL if outcome == "cancelled" else FAILED_TRIAL
        try:
            closed = close_interrupted(open_storage(self.settings.database_url), job_id, reason)
        except Exception:  # the outcome is recorded; stale trials are cosmetic, and logged
            log.exception("job %d: could not close the trials its driver left running", job_id)
            closed = []
        log.warning("job %d: %s; %s (%d running trials closed)", job_id, why, outcome, len(closed))
        _note(log_path, f"{why}: the job is {outcome}")

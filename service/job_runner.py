"""`python -m service.job_runner --job-id N`: one job's driver process.

Started by the job manager (service.jobs) after it claimed the job (status running), with the
service's settings in SPIKENAS_* variables and its output going to the job's driver.log. Runs the
search through search.driver and writes the job's final status itself:
  succeeded;
  cancelled when SIGTERM arrives and a cancel was requested (SIGTERM becomes KeyboardInterrupt,
    which the driver answers by stopping Ray);
  failed with a one-paragraph reason on an exception (the traceback goes to the log only).
A SIGTERM without a cancel request, or a lost database (a connection error from the store or
from Optuna, anywhere in the search), ends the runner with no status written and the exit code
EXIT_RESUME: the job manager puts the job back in the queue, and the next driver resumes it
from its study (search.resume).
Exit code 0 when the job succeeded or was cancelled, EXIT_RESUME to be resumed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

import optuna
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from search.driver import DriverConfig, run_job
from search.resume import close_interrupted
from search.study import open_storage
from service.db import session_scope
from service.errors import StoreError
from service.job_store import finish_running, get_job, job_spec
from service.process import EXIT_RESUME
from service.settings import Settings, get_settings
from spaces.errors import SpikenasError

log = logging.getLogger("service.job_runner")
_MESSAGE_CHARS = 600


# Set by our SIGTERM handler. The KeyboardInterrupt it raises can land inside Ray Tune, Optuna or
# SQLAlchemy, which may answer it with an error of their own: after a SIGTERM, whatever the
# search raises is the stop's doing, not a failure of the job.
_terminated = False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _terminated
    # Once: a second SIGTERM must not interrupt the clean-up the first one started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _terminated = True
    raise KeyboardInterrupt


def one_paragraph(error: BaseException) -> str:
    """A short reason for the jobs table; Ray embeds remote tracebacks in its messages, and
    those belong in the log."""
    lines = []
    for line in str(error).splitlines():
        if line.lstrip().startswith("Traceback"):
            break
        lines.append(line.strip())
    text = " ".join(" ".join(lines).split())
    if not isinstance(error, SpikenasError):  # the product's messages are written for users
        text = f"{error.__class__.__name__}: {text}" if text else error.__class__.__name__
    if len(text) > _MESSAGE_CHARS:
        text = text[: _MESSAGE_CHARS - 3] + "..."
    return text + " (details in the job's driver.log)"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and those it was raised from or while handling: Ray and Optuna wrap the
    driver's errors."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(error: BaseException) -> bool:
    """Whether an error, or one it was raised from, is the database going away (a restart, a
    dropped connection): worth resuming the job for, unlike a bug or a bad spec."""
    for current in _chain(error):
        if isinstance(current, (OperationalError, DisconnectionError, StoreError)):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, optuna.exceptions.StorageInternalError):
            return True
    return False


def is_interruption(error: BaseException) -> bool:
    """Whether an error is a SIGTERM's doing: one after our handler ran, or one raised from
    the KeyboardInterrupt it raises or the SystemExit of the handler ray.init installs."""
    return _terminated or any(
        isinstance(current, (KeyboardInterrupt, SystemExit)) for current in _chain(error)
    )


def _finish(settings: Settings, job_id: int, status: str, error: str | None = None) -> None:
    with session_scope(settings.database_url) as session:
        if not finish_running(session, job_id, status, error):
            log.warning("job %d had already ended; leaving its status as it is", job_id)


def _cancel_requested(settings: Settings, job_id: int) -> bool:
    with session_scope(settings.database_url) as session:
        return get_job(session, job_id).cancel_requested


def _interrupted(settings: Settings, job_id: int) -> int:
    """The driver was stopped by a signal. A requested cancel is recorded here; any other stop
    is left to the job manager, which knows whether it was stopping the service."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _cancel_requested(settings, job_id):
        # Ray stopped the trials without telling the study: close them, keeping the finished,
        # before the job reads as cancelled, so that no reader of an ended job sees a trial
        # still running.
        closed = close_interrupted(
            open_storage(settings.database_url),
            job_id,
            "the job was cancelled while this trial ran",
        )
        log.info("job %d: %d running trials closed", job_id, len(closed))
        log.info("job %d: cancelled", job_id)
        _finish(settings, job_id, "cancelled")
        return 0
    log.warning("job %d: stopped by a signal without a cancel request", job_id)
    return EXIT_RESUME


def run(settings: Settings, job_id: int, verbose: int = 1) -> int:
    with session_scope(settings.database_url) as session:
        job = get_job(session, job_id)
        status, cancel, spec = job.status, job.cancel_requested, job_spec(job)
    if status != "running":
        log.error(
            "job %d is %s, not running: the job manager claims a job before running it",
            job_id,
            status,
        )
        return 1
    if cancel:
        _finish(settings, job_id, "cancelled")
        return 0
    config = DriverConfig(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        artifacts_dir=settings.artifacts_dir,
        ray_address=settings.ray_address,
        num_cpus=settings.ray_num_cpus,
        verbose=verbose,
    )
    log.info("job %d (%s): starting the search", job_id, spec.name)
    try:
        run_job(job_id, spec, config)
    except (KeyboardInterrupt, SystemExit):
        # SIGTERM: KeyboardInterrupt from our handler, or SystemExit from the one ray.init puts
        # in its place (Ray calls sys.exit, with a code that does not name the signal).
        return _interrupted(settings, job_id)
    except Exception as e:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if is_interruption(e):
            log.warning("job %d: the search ended with an error after a stop signal: %r", job_id, e)
            return _interrupted(settings, job_id)
        if is_transient(e):
            log.exception("job %d: lost the database; stopping, to be resumed", job_id)
            return EXIT_RESUME
        log.exception("job %d failed", job_id)
        _finish(settings, job_id, "failed", one_paragraph(e))
        return 1
    # Past this point a SIGTERM must not leave the job without its final status.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log.info("job %d: succeeded", job_id)
    _finish(settings, job_id, "succeeded")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.job_runner")
    parser.add_argument("--job-id", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    signal.signal(signal.SIGTERM, _interrupt)
    # Ray's C++ core would otherwise catch SIGTERM itself, dump a stack and abort the driver,
    # skipping ray.shutdown() and the job's final status; without it, Ray's Python handler
    # runs and the driver unwinds (set before the driver starts Ray).
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    # `kill -USR2 <pid>` prints every thread's stack to the log: the way to see where a hung
    # driver waits, without stopping it.
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # Tune takes SIGUSR1
    try:
        return run(get_settings(), args.job_id)
    except StoreError as e:
        # The database is unreachable: nothing to record anything in. The manager resumes the
        # job when it can reach the database again.
        log.error("job %d: %s", args.job_id, e)
        return EXIT_RESUME
    except (SpikenasError, ValidationError) as e:
        # Settings: nothing to record the failure in; the manager reads the log.
        log.error("job %d: %s", args.job_id, e)
        return 1
    except KeyboardInterrupt:
        log.warning("job %d: interrupted before the search started", args.job_id)
        return EXIT_RESUME


if __name__ == "__main__":
    sys.exit(main())

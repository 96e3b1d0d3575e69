"""`python -m service.job_runner`, run as the job manager runs it: a process with the settings in
SPIKENAS_* variables, writing its job's final status itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import optuna
import pytest
from sqlalchemy.exc import OperationalError

from service import job_runner
from service.db import session_scope
from service.errors import StoreError
from service.job_runner import is_interruption, is_transient, one_paragraph
from service.job_store import claim_queued, get_job, request_cancel
from service.settings import Settings, env_name
from spaces.errors import DataError


def _run(settings: Settings, job_id: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(env_name(""))}
    env.update(settings.child_env())
    return subprocess.run(
        [sys.executable, "-m", "service.job_runner", "--job-id", str(job_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _job(settings: Settings, job_id: int) -> tuple[str, str | None]:
    with session_scope(settings.database_url) as session:
        job = get_job(session, job_id)
        return job.status, job.error


def test_refuses_a_job_it_was_not_given(settings: Settings, add_job: Callable[..., int]) -> None:
    job_id = add_job()  # queued: the manager claims a job before starting its runner
    done = _run(settings, job_id)
    assert done.returncode == 1 and "not running" in done.stderr
    assert _job(settings, job_id) == ("queued", None)


def test_cancel_before_start_ends_cancelled(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job()
    with session_scope(settings.database_url) as session:
        claim_queued(session, job_id)
        request_cancel(session, job_id)
    done = _run(settings, job_id)
    assert done.returncode == 0
    assert _job(settings, job_id) == ("cancelled", None)


def test_failure_is_one_paragraph_with_the_traceback_in_the_log(
    settings: Settings, add_job: Callable[..., int]
) -> None:
    job_id = add_job(dataset={"name": "npz", "path": "gone.npz"})  # never written
    with session_scope(settings.database_url) as session:
        claim_queued(session, job_id)
    done = _run(settings, job_id)
    assert done.returncode == 1
    status, error = _job(settings, job_id)
    assert status == "failed" and error is not None
    assert "gone.npz" in error and "\n" not in error and "Traceback" not in error
    assert "Traceback" in done.stderr  # the log keeps the whole story
    with session_scope(settings.database_url) as session:
        job = get_job(session, job_id)
        assert job.finished_at is not None and job.pid is None


def test_one_paragraph_drops_remote_tracebacks() -> None:
    ray_like = RuntimeError(
        "Trial failed.\n  worker died\nTraceback (most recent call last):\n  File x\nValueError"
    )
    assert one_paragraph(ray_like).startswith("RuntimeError: Trial failed. worker died (")
    assert one_paragraph(DataError("no such file")).startswith("no such file (")
    assert len(one_paragraph(ValueError("x" * 5000))) < 700


def _raised_from(error: BaseException, outer: BaseException) -> BaseException:
    try:
        try:
            raise error
        except BaseException:
            raise outer  # noqa: B904 (implicit context, as Ray Tune re-raises)
    except BaseException as e:
        return e


def test_a_lost_database_anywhere_in_the_chain_is_transient() -> None:
    lost = OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert is_transient(lost)
    assert is_transient(StoreError("database error: OperationalError"))
    optunas = optuna.exceptions.StorageInternalError("commit failed")
    assert is_transient(_raised_from(_raised_from(lost, optunas), RuntimeError("Tune failed")))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(_raised_from(ValueError("a bug"), RuntimeError("Tune failed")))
    assert not is_transient(DataError("no such file"))


def test_an_error_raised_from_a_stop_signal_is_an_interruption(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ray Tune answers a KeyboardInterrupt that lands inside it with an error of its own; the
    runner must read that as the stop it is (the job resumes), not as the job failing."""

    def raised_from(interrupt: BaseException) -> RuntimeError:
        try:
            try:
                raise interrupt
            except BaseException as e:
                raise RuntimeError("The Ray Tune run failed") from e
        except RuntimeError as outer:
            return outer

    def raised_while_handling(interrupt: BaseException) -> RuntimeError:
        try:
            try:
                raise interrupt
            except BaseException:
                # Implicitly chained (its context), as errors raised in a handler are.
                raise RuntimeError("a searcher callback broke off")  # noqa: B904
        except RuntimeError as outer:
            return outer

    assert is_interruption(raised_from(KeyboardInterrupt()))
    assert is_interruption(raised_while_handling(KeyboardInterrupt()))
    assert is_interruption(raised_from(SystemExit(1)))
    assert not is_interruption(RuntimeError("a bug"))
    monkeypatch.setattr(job_runner, "_terminated", True)
    assert is_interruption(RuntimeError("raised after the SIGTERM handler ran"))

"""PostgreSQL lost in the middle of a job, as a restart of the server would lose it: every
connection to the job's database is terminated (pg_terminate_backend), several times over a few
seconds. The API answers 503 at worst while it happens, never 500; the job either survives (the
pools reconnect: pre-ping) or its driver stops cleanly and the job resumes from its study; it
ends succeeded with every finished trial kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fault.harness import FINAL, JOB, Server, complete_trials, job_resumes, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres]

OUTAGE_S = 6.0


def _terminate_connections(database_url: str) -> int:
    """Terminate every other backend connected to the job's database; how many."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_job_survives_or_resumes_when_the_database_connections_are_lost(
    database_url: str,
    tmp_path: Path,
    service_env: Callable[[str], dict[str, str]],
    servers: list[Server],
) -> None:
    server = Server(service_env(database_url), tmp_path / "serve.log").start()
    servers.append(server)
    job_id = server.submit(JOB)
    server.wait_until_finished_and_running(job_id)
    kept = complete_trials(server, job_id)

    terminated, answers = 0, []
    deadline = time.monotonic() + OUTAGE_S
    while time.monotonic() < deadline:
        terminated += _terminate_connections(database_url)
        answers.append(server.request("GET", f"/api/jobs/{job_id}")[0])
        time.sleep(0.3)
    assert terminated > 0
    assert set(answers) <= {200, 503}, answers  # never a 500, never a hang

    def ended() -> bool:
        code, body = server.request("GET", f"/api/jobs/{job_id}")
        return code == 200 and body["status"] in FINAL

    wait_for(ended, 600, "the job's end")
    job = server.get(f"/api/jobs/{job_id}")
    log = server.get(f"/api/jobs/{job_id}/log?limit=1048576")
    assert job["status"] == "succeeded", (job, log[-3000:])
    assert job["progress"]["complete"] == JOB["n_trials"]
    complete = complete_trials(server, job_id)
    for number, values in kept.items():
        assert complete[number] == values
    resumes = job_resumes(database_url, job_id)
    assert resumes <= 1
    print(f"connections terminated: {terminated}; job resumed {resumes} times; answers {answers}")
    server.stop()

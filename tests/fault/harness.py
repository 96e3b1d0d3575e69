"""What the fault tests share: a job small enough for CI, the service as a process, and ways to
wait for and look into a job while faults are injected."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.jobs import tiny_job

JOB: dict[str, Any] = tiny_job("fault-test")
FINAL = ("succeeded", "failed", "cancelled")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`spikenas serve` on loopback, with its settings in SPIKENAS_* variables."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError):
                if self.request("GET", "/api/health")[0] == 200:
                    return self
            assert self.process.poll() is None, self.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the service did not answer"
            time.sleep(0.3)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                raw = response.read()
                status = response.status
                kind = response.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            raw, status, kind = e.read(), e.code, e.headers.get("content-type", "")
        return status, json.loads(raw) if "json" in kind else raw.decode()

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def submit(self, job: dict[str, Any]) -> int:
        """POST a job; its id."""
        status, body = self.request("POST", "/api/jobs", job)
        assert status == 201, body
        return int(body["id"])

    def wait_until_finished_and_running(self, job_id: int) -> None:
        """Until the job has a finished trial and another one running: the middle of a job."""

        def finished_and_running() -> bool:
            progress = self.get(f"/api/jobs/{job_id}")["progress"]
            return bool(progress["complete"] >= 1 and progress["running"] >= 1)

        wait_for(finished_and_running, 300, "a finished and a running trial")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):  # the service may be between lives
            if predicate():
                return
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.5)


def kill_group(pid: int | None) -> None:
    """SIGKILL a driver's process group (it leads one: itself and its local Ray)."""
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def driver_pids(tmp_path: Path) -> list[int]:
    """Drivers still running jobs of this test's service (found by their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"service.job_runner" in args and str(tmp_path).encode() in environ:
            found.append(int(entry.name))
    return found


def job_pid(database_url: str, job_id: int) -> int | None:
    from service.db import session_scope
    from service.job_store import get_job

    with session_scope(database_url) as session:
        return get_job(session, job_id).pid


def job_resumes(database_url: str, job_id: int) -> int:
    from service.db import session_scope
    from service.job_store import get_job

    with session_scope(database_url) as session:
        return get_job(session, job_id).resumes


def complete_trials(server: Server, job_id: int) -> dict[int, dict[str, float]]:
    trials = server.get(f"/api/jobs/{job_id}/trials?limit=100")["data"]
    return {t["number"]: t["values"] for t in trials if t["state"] == "complete"}

"""The `spikenas` command as a user runs it: a process, its exit code and its stderr."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service.cli import is_loopback


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKENAS_")}
    env.update(
        SPIKENAS_DATABASE_URL=f"sqlite:///{tmp_path}/spikenas.db",
        SPIKENAS_DATA_DIR=str(tmp_path / "data"),
        SPIKENAS_ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        SPIKENAS_MAX_RUNNING_JOBS="0",
    )
    env.update(extra)
    return env


def _spikenas(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _one_clean_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_serve_refuses_a_public_address_without_token(tmp_path: Path, host: str) -> None:
    done = _spikenas(tmp_path, "serve", "--host", host, "--port", "8123")
    assert done.returncode == 2
    line = _one_clean_line(done.stderr)
    assert host in line and "SPIKENAS_API_TOKEN" in line


def test_bad_setting_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    done = _spikenas(tmp_path, "serve", SPIKENAS_MAX_RUNNING_JOBS="-3")
    assert done.returncode == 2
    assert "SPIKENAS_MAX_RUNNING_JOBS" in _one_clean_line(done.stderr)


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    done = _spikenas(
        tmp_path, "serve", SPIKENAS_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none"
    )
    assert done.returncode == 1
    assert "database" in _one_clean_line(done.stderr)


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "no-such-host.invalid"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "0.0.0.0", "--port", str(port)],
        env=_env(tmp_path, SPIKENAS_API_TOKEN="tok"),  # a token allows a public address
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health") as r:
                    assert json.load(r) == {"status": "ok"}
                    break
            except OSError:
                assert server.poll() is None, (tmp_path / "serve.log").read_text()
                assert time.monotonic() < deadline, "no answer in 60 s"
                time.sleep(0.3)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
        log.close()
    # uvicorn shuts down, then re-raises the signal it caught, as a process killed by it would.
    assert code in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()

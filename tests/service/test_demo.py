"""`spikenas demo` owns the service it starts: stopping the demo (Ctrl-C or SIGTERM) stops the
service too, instead of leaving it on the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_stopping_the_demo_stops_its_service(tmp_path: Path, signum: int) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKENAS_")}
    env.update(
        SPIKENAS_DATABASE_URL=f"sqlite:///{tmp_path}/demo.db",
        SPIKENAS_DATA_DIR=str(tmp_path / "data"),
        SPIKENAS_ARTIFACTS_DIR=str(tmp_path / "artifacts"),
        SPIKENAS_RAY_NUM_CPUS="1",
    )
    argv = [sys.executable, "-m", "service.cli", "demo", "--port", str(port)]
    argv += ["--out", str(tmp_path / "out")]
    demo = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _answers(port):
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            assert time.monotonic() < deadline, "the demo's service did not answer in 120 s"
            time.sleep(0.3)
        demo.send_signal(signum)
        demo.wait(60)
        deadline = time.monotonic() + 30
        while _answers(port):
            assert time.monotonic() < deadline, "the service outlived its demo by 30 s"
            time.sleep(0.3)
    finally:
        if demo.poll() is None:
            demo.kill()

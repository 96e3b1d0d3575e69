"""The real service in a process of its own, and Debian's Chromium, for the browser tests and
benchmarks/dashboard_load.py.

`spikenas serve` runs as a user runs it, on a free loopback port with its own database and
directories; Chromium is the system's (`apt-get install chromium`), driven by Playwright
without Playwright's own browser downloads.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m service.cli serve` on 127.0.0.1 with SQLite, data and artifacts under `root`.
    `max_running_jobs=0` keeps submitted jobs queued (nothing trains)."""

    def __init__(self, root: Path, max_running_jobs: int = 1, **env: str) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{root}/spikenas.db"
        (root / "data").mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKENAS_")}
        self.env.update(
            SPIKENAS_DATABASE_URL=self.database_url,
            SPIKENAS_DATA_DIR=str(root / "data"),
            SPIKENAS_ARTIFACTS_DIR=str(root / "artifacts"),
            SPIKENAS_MAX_RUNNING_JOBS=str(max_running_jobs),
            SPIKENAS_POLL_INTERVAL_S="0.5",
        )
        self.env.update(env)
        self.command = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1"]
        self.log_path = root / "serve.log"
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*self.command, "--port", str(self.port)],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/api/health") == {"status": "ok"}:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the server did not start:\n{self.log()}")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: uvicorn shuts down and the job manager stops the drivers it started.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

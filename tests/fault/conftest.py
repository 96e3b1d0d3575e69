"""Fault tests: the real service (`spikenas serve` in a process), real drivers, a real local Ray,
and a fault injected in the middle of a job. Every process a test starts is ended by it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fault.harness import Server, driver_pids, kill_group


@pytest.fixture
def service_env(tmp_path: Path) -> Callable[[str], dict[str, str]]:
    """The environment of a service on `database_url`, its files under tmp_path."""

    def env(database_url: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPIKENAS_")}
        (tmp_path / "data").mkdir(exist_ok=True)
        base.update(
            SPIKENAS_DATABASE_URL=database_url,
            SPIKENAS_DATA_DIR=str(tmp_path / "data"),
            SPIKENAS_ARTIFACTS_DIR=str(tmp_path / "artifacts"),
            SPIKENAS_MAX_RUNNING_JOBS="1",
            SPIKENAS_RAY_NUM_CPUS="2",
            SPIKENAS_POLL_INTERVAL_S="0.5",
        )
        return base

    return env


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    """Servers a test starts, killed at its end whatever happened, with their drivers."""
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()
    for pid in driver_pids(tmp_path):
        kill_group(pid)

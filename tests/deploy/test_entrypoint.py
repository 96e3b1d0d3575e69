"""The image's entry point (deploy/docker-entrypoint.sh), run with stand-ins for `ray` and
`spikenas` on PATH that record their arguments; the `ray start` it runs must parse with Ray's
own command."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
from compose_file import ROOT

ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"
SERVE = ["spikenas", "serve", "--host", "0.0.0.0", "--port", "8000"]


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f'#!/usr/bin/env bash\necho "$*" >> "{bin_dir}/{name}.calls"\n{body}\n')
    path.chmod(0o755)


def _calls(bin_dir: Path, name: str) -> list[list[str]]:
    path = bin_dir / f"{name}.calls"
    return [shlex.split(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    _stub(tmp_path, "ray", "exit 0")
    _stub(tmp_path, "spikenas", "exit 7")
    return tmp_path


def _run(bin_dir: Path, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SPIKENAS_", "RAY_"))}
    return subprocess.run(
        ["bash", str(ENTRYPOINT), *args],
        env={**base, "PATH": f"{bin_dir}:{base['PATH']}", "RAY_JOIN_INTERVAL": "0", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_api_joins_the_cluster_as_an_empty_node_then_runs(bin_dir: Path) -> None:
    run = _run(bin_dir, SERVE, SPIKENAS_RAY_ADDRESS="ray-head:6379")
    assert run.returncode == 7, run.stderr  # the command's own exit status: it was exec'd
    (join,) = _calls(bin_dir, "ray")
    assert _calls(bin_dir, "spikenas") == [SERVE[1:]]
    from ray.scripts.scripts import start

    params = start.make_context("ray start", join[1:]).params
    assert join[0] == "start" and params["address"] == "ray-head:6379"
    assert params["num_cpus"] == 0 and params["num_gpus"] == 0 and not params["head"]


@pytest.mark.parametrize("address", [None, "", "auto", "ray://head:10001"])
def test_no_node_without_a_cluster_address(bin_dir: Path, address: str | None) -> None:
    env = {} if address is None else {"SPIKENAS_RAY_ADDRESS": address}
    run = _run(bin_dir, SERVE, **env)
    assert run.returncode == 7
    assert _calls(bin_dir, "ray") == []


def test_other_commands_run_as_given(bin_dir: Path) -> None:
    command = ["ray", "start", "--head", "--block", "--port=6379"]
    run = _run(bin_dir, command, SPIKENAS_RAY_ADDRESS="ray-head:6379")
    assert run.returncode == 0
    assert _calls(bin_dir, "ray") == [command[1:]]


def test_waits_for_the_head_then_gives_up(bin_dir: Path) -> None:
    _stub(bin_dir, "ray", "exit 1")
    run = _run(bin_dir, SERVE, SPIKENAS_RAY_ADDRESS="ray-head:6379", RAY_JOIN_TRIES="3")
    assert run.returncode == 1
    assert len(_calls(bin_dir, "ray")) == 3
    assert _calls(bin_dir, "spikenas") == []
    assert "could not join the Ray cluster at ray-head:6379" in run.stderr


def test_a_head_that_comes_up_late_is_joined(bin_dir: Path) -> None:
    # Refuses twice, then accepts: the number of calls so far is the count of lines written.
    _stub(bin_dir, "ray", f'[[ $(wc -l < "{bin_dir}/ray.calls") -ge 3 ]]')
    run = _run(bin_dir, SERVE, SPIKENAS_RAY_ADDRESS="ray-head:6379")
    assert run.returncode == 7, run.stderr
    assert len(_calls(bin_dir, "ray")) == 3
    assert _calls(bin_dir, "spikenas") == [SERVE[1:]]

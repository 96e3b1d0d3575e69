"""The shell scripts of deploy/: strict, executable, parseable, and shellcheck-clean where
shellcheck is installed (`apt-get install shellcheck`); plus the local cluster's Python helper
on its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from compose_file import ROOT

SCRIPTS = sorted((ROOT / "deploy").glob("*.sh"))
HELPER = ROOT / "deploy" / "local_cluster.py"


def test_there_are_scripts() -> None:
    assert {p.name for p in SCRIPTS} >= {"local_cluster.sh", "docker-entrypoint.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_strict_and_executable(script: Path) -> None:
    lines = script.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    code = [line for line in lines if line.strip() and not line.startswith("#")]
    assert code[0] == "set -euo pipefail", f"{script.name}: the first command must be strict mode"
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
    subprocess.run(["bash", "-n", str(script)], check=True)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shellcheck_clean(script: Path) -> None:
    if shutil.which("shellcheck") is None:
        reason = "shellcheck is not installed (apt-get install shellcheck)"
        if os.environ.get("SPIKENAS_REQUIRE_SHELLCHECK") == "1":
            pytest.fail(f"{reason} (SPIKENAS_REQUIRE_SHELLCHECK=1, set by .ci/run)")
        pytest.skip(reason)
    run = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_local_cluster_binds_loopback_only() -> None:
    text = (ROOT / "deploy" / "local_cluster.sh").read_text()
    assert "0.0.0.0" not in text
    assert "--host 127.0.0.1" in text and text.count("--node-ip-address=127.0.0.1") == 1
    assert "--dashboard-host=127.0.0.1" in text


def test_helper_free_ports_are_distinct_and_free() -> None:
    run = subprocess.run(
        [sys.executable, str(HELPER), "free-ports", "5"], capture_output=True, text=True, check=True
    )
    ports = [int(p) for p in run.stdout.split()]
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_helper_refuses_odd_database_names() -> None:
    run = subprocess.run(
        [sys.executable, str(HELPER), "db", "create", "postgresql://x@127.0.0.1:1/p", 'a"; x'],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "letters, digits and _ only" in run.stderr

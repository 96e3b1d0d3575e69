"""deploy/local_cluster.sh end to end: the compose topology without Docker (PostgreSQL, a Ray
head and a Ray worker as separate processes, the API), a 4-trial job through it, trials on the
worker node, and nothing left behind: no Ray or API port still open, no work directory, no
scratch database.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth), or root to install it as .ci/run does; it
skips otherwise, and fails instead with SPIKENAS_REQUIRE_POSTGRES=1 (set by .ci/run).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from compose_file import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres]

SCRIPT = ROOT / "deploy" / "local_cluster.sh"
LIMIT_S = 300  # the whole run, teardown included, on 2 cores
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _need_postgres() -> None:
    if _port_open(5432) or os.geteuid() == 0:
        return  # reachable, or the script may install and start it
    reason = "PostgreSQL not reachable on 127.0.0.1:5432 and not root to install it"
    if os.environ.get("SPIKENAS_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason + " (SPIKENAS_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


def _run(args: list[str], timeout: float) -> tuple[int, str]:
    """Run the script; past `timeout`, SIGTERM it (its trap tears down) before any SIGKILL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKENAS_")}
    env["VENV"] = sys.prefix
    process = subprocess.Popen(
        [str(SCRIPT), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            out, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        pytest.fail(f"deploy/local_cluster.sh took over {timeout} s:\n{out[-4000:]}")
    return process.returncode, out


def test_local_cluster_runs_a_job_on_the_worker_and_tears_down(tmp_path: Path) -> None:
    _need_postgres()
    report = tmp_path / "report.json"
    started = time.monotonic()
    rc, out = _run(["--report", str(report), "--timeout", "200"], timeout=LIMIT_S)
    elapsed = time.monotonic() - started
    assert rc == 0, out[-6000:]
    assert elapsed < LIMIT_S

    result = json.loads(report.read_text())
    assert result["job"]["status"] == "succeeded"
    assert result["job"]["progress"] == {"complete": 4, "running": 0, "failed": 0, "total": 4}
    assert sorted(t["number"] for t in result["trials"]) == [0, 1, 2, 3]
    assert all(t["state"] == "complete" and t["epochs_trained"] == 1 for t in result["trials"])
    placement = result["placement"]
    assert sorted(row["trial"] for row in placement) == [0, 1, 2, 3]
    # The node the product recorded is the node Ray ran the trial's actor on.
    assert all(row["agrees"] and row["node_id"] for row in placement), placement
    assert {row["role"] for row in placement} <= {"head", "worker"}
    assert any(row["role"] == "worker" for row in placement), placement

    ports = [int(p) for p in re.findall(r"up at (?:http://)?127\.0\.0\.1:(\d+)", out)]
    assert len(ports) == 2, out  # the Ray head's GCS and the API
    assert not [p for p in ports if _port_open(p)], "a port of the cluster is still open"
    found = re.search(r"scratch database (\w+); work directory (\S+)", out)
    assert found, out
    database, work = found.groups()
    assert not Path(work).exists()
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        assert rows.fetchone() is None, f"database {database} was not dropped"

"""The Python half of deploy/local_cluster.sh: the steps that are easier in Python than in bash.

    free-ports N                        N free TCP ports on 127.0.0.1, one a line
    db create|drop ADMIN_URL NAME       a scratch database on the PostgreSQL server of ADMIN_URL
    wait-http URL                       until URL answers 200
    wait-nodes ADDRESS COUNT            until the Ray cluster at ADDRESS has COUNT live nodes
    run-job API_URL SPEC_FILE           submit a job over REST, follow it, print its trials
    placement ADDRESS DB_URL ARTIFACTS JOB
                                        on which Ray node each trial of run-job's job ran

`placement` reads each trial's node twice: as the product recorded it (the `node` user attribute
of the trial in the job's Optuna study; the REST API does not show it yet), and from the outside:
Ray Tune writes the pid of each trial's actor into the trial's result.json (under the job's
artifacts), and Ray's GCS actor table (what `ray list actors` shows, read here without the
dashboard's extra dependencies) gives that actor's node. The two must agree. The node's custom
resource (spikenas_head or spikenas_worker, given by the script) names its role.

Exit codes: 0 done; 1 a step or a check failed (the job did not succeed, a trial has no node or
Ray saw it on another, no trial ran on the worker); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HEAD_RESOURCE = "spikenas_head"
WORKER_RESOURCE = "spikenas_worker"
TERMINAL = {"succeeded", "failed", "cancelled"}


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now; all held open together, so they are distinct."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def database(action: str, admin_url: str, name: str) -> None:
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"db: a database name of letters, digits and _ only, not {name!r}")
    import psycopg

    url = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        if action == "create":
            conn.execute(f'CREATE DATABASE "{name}"')
        else:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"wait-http: no answer from {url} after {timeout} s")
        time.sleep(0.5)


def _connect(address: str) -> Any:
    import ray

    ray.init(address=address, log_to_driver=False, logging_level="WARNING")
    return ray


def wait_nodes(address: str, count: int, timeout: float) -> None:
    ray = _connect(address)
    try:
        deadline = time.monotonic() + timeout
        while True:
            alive = [n for n in ray.nodes() if n["Alive"]]
            if len(alive) >= count:
                for node in alive:
                    custom = sorted(k for k in node["Resources"] if k.startswith("spikenas_"))
                    print(f"node {node['NodeID'][:12]} alive, resources {custom}")
                return
            if time.monotonic() > deadline:
                raise SystemExit(f"wait-nodes: {len(alive)} of {count} nodes after {timeout} s")
            time.sleep(1)
    finally:
        ray.shutdown()


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_job(api: str, spec_file: Path, timeout: float, out: Path | None) -> int:
    spec = json.loads(spec_file.read_text())
    try:
        job = _http("POST", f"{api}/api/jobs", spec)
    except urllib.error.HTTPError as e:
        print(f"run-job: POST /api/jobs: {e.code} {e.read().decode()[:500]}", file=sys.stderr)
        return 1
    print(f"job {job['id']} submitted: {spec['n_trials']} trials, {spec['max_concurrent']} at once")
    deadline = time.monotonic() + timeout
    last = None
    while job["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            print(f"run-job: job {job['id']} not finished after {timeout} s", file=sys.stderr)
            return 1
        time.sleep(2)
        job = _http("GET", f"{api}/api/jobs/{job['id']}")
        now = (job["status"], json.dumps(job["progress"], sort_keys=True))
        if now != last:
            print(f"job {job['id']}: {job['status']} {job['progress']}", flush=True)
            last = now
    trials = _http("GET", f"{api}/api/jobs/{job['id']}/trials?limit=100&offset=0")["data"]
    for t in trials:
        acc = t["values"].get("accuracy")
        acc_text = "-" if acc is None else f"{acc:.3f}"
        print(f"  trial {t['number']}: {t['state']}, accuracy {acc_text}, {t['epochs_trained']} ep")
    if out is not None:
        out.write_text(json.dumps({"job": job, "trials": trials}, indent=2))
    if job["status"] != "succeeded":
        print(f"run-job: job {job['id']} {job['status']}: {job.get('error')}", file=sys.stderr)
        return 1
    return 0


def _recorded_nodes(database_url: str, job_id: int) -> dict[int, str | None]:
    """Trial number -> the node id the product recorded for it in the job's study."""
    from search.records import ATTR_NODE, ATTR_REJECTED
    from search.study import load_study, open_storage

    storage = open_storage(database_url)
    trials = load_study(storage, job_id).get_trials(deepcopy=False)
    return {
        t.number: (t.user_attrs.get(ATTR_NODE) or {}).get("node_id")
        for t in trials
        if ATTR_REJECTED not in t.user_attrs
    }


def _trial_pids(artifacts: Path, job_id: int) -> dict[int, int]:
    """Trial number -> pid of the process that trained it, from Tune's result.json files."""
    pids: dict[int, int] = {}
    for path in sorted((artifacts / f"job-{job_id}" / "ray").glob("**/result.json")):
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if lines:
            last = json.loads(lines[-1])
            pids[int(last["config"]["trial_number"])] = int(last["pid"])
    return pids


def _role(resources: dict[str, float]) -> str:
    if WORKER_RESOURCE in resources:
        return "worker"
    return "head" if HEAD_RESOURCE in resources else "other"


def placement(
    address: str, database_url: str, artifacts: Path, job_file: Path, out: Path | None
) -> int:
    """Each trial's node twice: as the product recorded it (the study's `node` attribute) and as
    Ray's GCS saw it (the actor whose pid Tune wrote in the trial's result.json)."""
    report = json.loads(job_file.read_text())
    job_id = int(report["job"]["id"])
    recorded = _recorded_nodes(database_url, job_id)
    pids = _trial_pids(artifacts, job_id)
    ray = _connect(address)
    try:
        from ray._private import state  # the GCS actor table; ray.util.state needs the dashboard

        roles = {node["NodeID"]: _role(node["Resources"]) for node in ray.nodes()}
        actors = {a["Pid"]: a for a in state.actors().values() if a.get("Pid")}
    finally:
        ray.shutdown()
    rows = []
    for number in sorted(recorded):
        actor = actors.get(pids.get(number, -1))
        seen = actor["Address"]["NodeID"] if actor else None
        node = recorded[number]
        rows.append(
            {
                "trial": number,
                "node_id": node,
                "role": roles.get(node, "unknown") if node else "unknown",
                "pid": pids.get(number),
                "ray_actor_node_id": seen,
                "agrees": node is not None and node == seen,
            }
        )
    print(f"{'trial':>5}  {'recorded node':<13}  {'role':<7}  {'pid':>7}  Ray's actor table")
    for r in rows:
        check = "same node" if r["agrees"] else f"DIFFERS: {(r['ray_actor_node_id'] or '?')[:12]}"
        print(
            f"{r['trial']:>5}  {(r['node_id'] or '?')[:12]:<13}  {r['role']:<7}  "
            f"{r['pid'] or '?':>7}  {check}"
        )
    on_worker = sum(r["role"] == "worker" for r in rows)
    print(f"placement: {len(rows)} trials, {on_worker} on the worker node")
    if out is not None:
        out.write_text(json.dumps({**report, "placement": rows}, indent=2))
    problems = [r["trial"] for r in rows if r["role"] == "unknown" or not r["agrees"]]
    if problems:
        print(f"placement: trials {problems} have no node, or Ray saw another", file=sys.stderr)
        return 1
    if not on_worker:
        print("placement: no trial ran on the worker node", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy/local_cluster.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("free-ports")
    p.add_argument("count", type=int)
    p = sub.add_parser("db")
    p.add_argument("action", choices=["create", "drop"])
    p.add_argument("admin_url")
    p.add_argument("name")
    p = sub.add_parser("wait-http")
    p.add_argument("url")
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("wait-nodes")
    p.add_argument("address")
    p.add_argument("count", type=int)
    p.add_argument("--timeout", type=float, default=60.0)
    p = sub.add_parser("run-job")
    p.add_argument("api")
    p.add_argument("spec", type=Path)
    p.add_argument("--timeout", type=float, default=240.0)
    p.add_argument("--out", type=Path)
    p = sub.add_parser("placement")
    p.add_argument("address")
    p.add_argument("database_url")
    p.add_argument("artifacts", type=Path)
    p.add_argument("job", type=Path, help="the file that run-job --out wrote")
    p.add_argument("--out", type=Path, help="write the job, its trials and their nodes here")
    args = parser.parse_args(argv)

    if args.command == "free-ports":
        print("\n".join(str(p) for p in free_ports(args.count)))
        return 0
    if args.command == "db":
        database(args.action, args.admin_url, args.name)
        return 0
    if args.command == "wait-http":
        wait_http(args.url, args.timeout)
        return 0
    if args.command == "wait-nodes":
        wait_nodes(args.address, args.count, args.timeout)
        return 0
    if args.command == "run-job":
        return run_job(args.api, args.spec, args.timeout, args.out)
    return placement(args.address, args.database_url, args.artifacts, args.job, args.out)


if __name__ == "__main__":
    sys.exit(main())

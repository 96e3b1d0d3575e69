"""`spikenas demo`: a real search on the bundled digits data set, through the real service.

Starts `spikenas serve` on 127.0.0.1:8000, submits an 8-trial job over the REST API, shows its
progress, prints the Pareto front as a table, exports the most accurate architecture on the
front (module and weights) into demo-output/, and leaves the service and dashboard running
until Ctrl-C. It talks to the service only over HTTP, as any client would.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from service.front_table import front_table

DEMO_JOB: dict[str, Any] = {
    "name": "digits-demo",
    "dataset": {"name": "digits"},
    "n_trials": 8,
    "max_concurrent": 2,
    "budget": {"epochs": 8},
    "sampler": "nsga2",
    "objectives": ["accuracy", "params", "spike_rate"],
    "seed": 0,
}
FINAL = ("succeeded", "failed", "cancelled")


class DemoError(RuntimeError):
    """A step of the demo that failed, with a message for the user."""


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token = os.environ.get("SPIKENAS_API_TOKEN")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.request(method, path, body)
        if status >= 400:
            raise DemoError(
                f"{method} {path} answered {status}: {payload.decode(errors='replace')}"
            )
        return json.loads(payload)


def _start_server(host: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    command = [sys.executable, "-m", "service.cli", "serve", "--host", host, "--port", str(port)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(client: Client, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise DemoError(f"the service exited with code {server.returncode}:\n{tail}")
        try:
            if client.request("GET", "/api/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise DemoError("the service did not answer /api/health within 120 s")


def _watch(client: Client, job_id: int) -> dict[str, Any]:
    started = time.monotonic()
    last = ""
    while True:
        job = client.json("GET", f"/api/jobs/{job_id}")
        p = job["progress"]
        line = (
            f"  [{time.monotonic() - started:5.0f} s] {job['status']:<9} "
            f"{p['complete']}/{p['total']} done, {p['running']} running, {p['failed']} failed"
        )
        if line.split("]")[1] != last:
            print(line, flush=True)
            last = line.split("]")[1]
        if job["status"] in FINAL:
            return job
        time.sleep(2)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(host: str, port: int, out_dir: Path, wait: bool) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    base = f"http://{host}:{port}"
    client = Client(base)
    try:
        client.request("GET", "/api/health")
        raise DemoError(f"something already listens on {base}; stop it or pass --port")
    except OSError:
        pass
    log_path = out_dir / "service.log"
    print(f"Starting the service on {base} (log: {log_path})", flush=True)
    # The service runs in its own session (so a Ctrl-C reaches it only through us): a SIGTERM
    # (kill, a closed terminal's supervisor) must stop it too, not orphan it on the port.
    signal.signal(signal.SIGTERM, _interrupt)
    server = _start_server(host, port, log_path)
    try:
        _wait_healthy(client, server, log_path)
        job = client.json("POST", "/api/jobs", DEMO_JOB)
        print(
            f"Submitted job {job['id']}: {DEMO_JOB['n_trials']} trials on digits, "
            f"{DEMO_JOB['max_concurrent']} at a time, {DEMO_JOB['budget']['epochs']} epochs each",
            flush=True,
        )
        print(f"Dashboard: {base}/", flush=True)
        job = _watch(client, job["id"])
        if job["status"] != "succeeded":
            raise DemoError(f"job {job['id']} ended {job['status']}: {job.get('error')}")
        pareto = client.json("GET", f"/api/jobs/{job['id']}/pareto")
        front = pareto["data"]
        print(f"\nPareto front ({len(front)} trials, hypervolume {pareto['hypervolume']:.4f}):")
        print(front_table(front))
        best = max(front, key=lambda t: t["values"]["accuracy"])
        n = best["number"]
        for suffix, path in (("export", "winner.py"), ("weights", "winner.pt")):
            status, payload = client.request("GET", f"/api/jobs/{job['id']}/trials/{n}/{suffix}")
            if status != 200:
                raise DemoError(f"GET .../trials/{n}/{suffix} answered {status}")
            (out_dir / path).write_bytes(payload)
        print(
            f"\nWinner: trial {n} -> {out_dir / 'winner.py'} and {out_dir / 'winner.pt'}\n"
            "  use it with torch alone:\n"
            f'    cd {out_dir} && python -c "import torch, winner; m = winner.build_model(); '
            "m.load_state_dict(torch.load('winner.pt', weights_only=True)); m.eval()\""
        )
        if wait:
            print(f"\nDashboard: {base}/  (the service keeps running; Ctrl-C to stop)", flush=True)
            server.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def main(args: argparse.Namespace) -> int:
    try:
        return run(args.host, args.port, Path(args.out), wait=not args.no_wait)
    except DemoError as e:
        print(f"spikenas demo: {e}", file=sys.stderr)
        return 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--out", default="demo-output", help="where the winner's files go")
    parser.add_argument(
        "--no-wait", action="store_true", help="stop the service once the winner is exported"
    )

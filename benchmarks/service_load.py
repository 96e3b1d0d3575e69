"""Load on the service over loopback: many clients reading a big study while a small job runs.

    .venv/bin/python -m benchmarks.service_load [--clients 100] [--trials 5000] [--duration 30]
        [--think 1.0] [--database-url URL] [--no-job]

(as a module, from the repository root: run as a script, benchmarks/search.py would stand in
for the search package.)

What it does, in a fresh temporary directory (or on --database-url, which must be empty):
  1. writes a finished job and its Optuna study of --trials trials, generated directly with
     Optuna in the configured database, shaped as the driver writes them (architecture, curve,
     budget, test accuracy, costs; some stopped early, some failed);
  2. starts `spikenas serve` on 127.0.0.1 as a separate process, and submits a small real job
     (digits, two trials of two epochs, one CPU) that trains while the load runs;
  3. runs --clients concurrent clients (asyncio + httpx, one request in flight each, a 10 s
     timeout), for --duration seconds after a warm-up. Each client, like a dashboard or script
     polling the service, reads a page of trials at a random offset (50%), the Pareto front
     (35%) or the running job (15%), then waits a random think time (uniform, --think on
     average; 0 for a closed loop);
  4. prints p50/p95/p99 latency per request kind and overall, the throughput, and every error
     (a status other than 200, or no answer). The target: p99 under 100 ms, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import optuna
from sqlalchemy import update

from search.job_spec import JobSpec
from search.records import (
    ATTR_ARCH,
    ATTR_BUDGET_EPOCHS,
    ATTR_CURVE,
    ATTR_DURATION_S,
    ATTR_EARLY_STOPPED,
    ATTR_EPOCHS_TRAINED,
    ATTR_TEST_ACCURACY,
)
from search.study import open_storage, study_name
from service.db import get_engine, session_scope
from service.job_store import claim_queued, create_job, finish_running, list_jobs
from service.models import Job

OBJECTIVES = ["accuracy", "params", "spike_rate"]
EPOCHS = 8
SMALL_JOB: dict[str, Any] = {
    "name": "small job under load",
    "dataset": {"name": "digits"},
    "n_trials": 2,
    "max_concurrent": 1,
    "budget": {"epochs": 2, "batch_size": 128},
    "sampler": "random",
    "seed": 0,
    "space": {"dims": [16], "min_depth": 1, "max_depth": 1, "time_steps": [2], "downsample": [2]},
}
DIST = {
    "dim": optuna.distributions.CategoricalDistribution([16, 32, 48, 64]),
    "depth": optuna.distributions.IntDistribution(1, 3),
    "mixer": optuna.distributions.CategoricalDistribution(["stm", "conv", "pool", "identity"]),
    "time_steps": optuna.distributions.CategoricalDistribution([2, 4]),
}


def _arch(rng: random.Random, dim: int, depth: int, mixer: str, time_steps: int) -> dict[str, Any]:
    block = {"mixer": {"kind": mixer, "heads": 2} if mixer == "stm" else {"kind": mixer}}
    return {
        "input_shape": [8, 8],
        "num_classes": 10,
        "time_steps": time_steps,
        "downsample": 2,
        "stages": [
            {"dim": dim, "blocks": [{**block, "mlp_ratio": rng.choice([1.0, 2.0])}] * depth}
        ],
    }


def _trial(rng: random.Random) -> optuna.trial.FrozenTrial:
    dim = rng.choice([16, 32, 48, 64])
    depth = rng.randint(1, 3)
    mixer = rng.choice(["stm", "conv", "pool", "identity"])
    time_steps = rng.choice([2, 4])
    params: dict[str, Any] = {
        "dim": dim,
        "depth": depth,
        "mixer": mixer,
        "time_steps": time_steps,
    }
    if rng.random() < 0.03:
        return optuna.trial.create_trial(
            state=optuna.trial.TrialState.FAIL, params=params, distributions=DIST
        )
    early = rng.random() < 0.2
    epochs = rng.randint(1, EPOCHS - 1) if early else EPOCHS
    accuracy = min(0.99, rng.betavariate(8, 2))
    size = float(dim**2 * depth * 6 + rng.randint(0, 5000))
    spike_rate = rng.uniform(0.02, 0.4)
    curve = [
        {
            "epoch": float(e),
            "train_loss": 2.3 / e,
            "accuracy": accuracy * e / epochs,
            "spike_rate": spike_rate,
            "epoch_time_s": 1.5,
        }
        for e in range(1, epochs + 1)
    ]
    return optuna.trial.create_trial(
        params=params,
        distributions=DIST,
        values=[accuracy, size, spike_rate],
        user_attrs={
            ATTR_ARCH: _arch(rng, dim, depth, mixer, time_steps),
            ATTR_BUDGET_EPOCHS: EPOCHS,
            ATTR_EPOCHS_TRAINED: epochs,
            ATTR_EARLY_STOPPED: early,
            ATTR_TEST_ACCURACY: None if early else accuracy - 0.01,
            ATTR_DURATION_S: 1.5 * epochs,
            ATTR_CURVE: curve,
        },
    )


def write_big_study(database_url: str, n_trials: int, seed: int = 0) -> int:
    """A finished job and its study of `n_trials` trials; the job's id."""
    get_engine(database_url)
    spec = JobSpec.model_validate({**SMALL_JOB, "name": "big study", "n_trials": n_trials})
    with session_scope(database_url) as session:
        job_id = create_job(session, spec).id
        claim_queued(session, job_id)
        finish_running(session, job_id, "succeeded")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=open_storage(database_url),
        study_name=study_name(job_id),
        directions=["maximize", "minimize", "minimize"],
    )
    rng = random.Random(seed)
    batch = 500
    for start in range(0, n_trials, batch):
        study.add_trials([_trial(rng) for _ in range(min(batch, n_trials - start))])
    return job_id


def find_big_study(database_url: str, n_trials: int) -> int | None:
    """The big study's job from an earlier run in the same --workdir, if it has one. The small
    jobs of earlier runs, queued again when their service stopped, are cancelled: only this
    run's small job may train during its load."""
    get_engine(database_url)
    with session_scope(database_url) as session:
        session.execute(
            update(Job).where(Job.status.in_(["queued", "running"])).values(status="cancelled")
        )
    with session_scope(database_url) as session:
        for job in list_jobs(session, 500, 0)[0]:
            if job.name == "big study" and json.loads(job.spec)["n_trials"] == n_trials:
                print(f"reusing the study of {n_trials} trials of job {job.id}")
                return job.id
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(workdir: Path, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPIKENAS_")}
    (workdir / "data").mkdir(exist_ok=True)
    env.update(
        SPIKENAS_DATABASE_URL=database_url,
        SPIKENAS_DATA_DIR=str(workdir / "data"),
        SPIKENAS_ARTIFACTS_DIR=str(workdir / "artifacts"),
        SPIKENAS_MAX_RUNNING_JOBS="1",
        SPIKENAS_RAY_NUM_CPUS="1",
    )
    log = open(workdir / "serve.log", "wb")  # noqa: SIM115 (the server's lifetime)
    argv = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    # Stopping it (SIGTERM) also stops the small job's driver: the job manager sees to it.
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)


async def _wait_ready(client: httpx.AsyncClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/api/health")).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise SystemExit("the service did not answer within 60 s; see serve.log")
        await asyncio.sleep(0.3)


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    async def call(self, client: httpx.AsyncClient, kind: str, url: str) -> None:
        start = time.perf_counter()
        try:
            response = await client.get(url)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                self.errors.append(f"{kind} {url}: {response.status_code} {response.text[:200]}")
        except httpx.HTTPError as e:
            elapsed = time.perf_counter() - start
            self.errors.append(f"{kind} {url}: {e.__class__.__name__}: {e}")
        self.latencies[kind].append(elapsed)


async def _client(
    client: httpx.AsyncClient,
    recorder: Recorder,
    rng: random.Random,
    big: int,
    small: int | None,
    n_trials: int,
    think: float,
    until: float,
) -> None:
    await asyncio.sleep(rng.uniform(0, think))  # spread the clients' first requests
    while time.monotonic() < until:
        pick = rng.random() * (1.0 if small is not None else 0.85)  # no job: no job reads
        if pick < 0.50:
            offset = rng.randrange(0, max(1, n_trials - 50))
            await recorder.call(
                client, "trials", f"/api/jobs/{big}/trials?limit=50&offset={offset}"
            )
        elif pick < 0.85:
            await recorder.call(client, "pareto", f"/api/jobs/{big}/pareto")
        else:
            await recorder.call(client, "job", f"/api/jobs/{small}")
        if think > 0:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        value = values[0] * 1e3 if values else float("nan")
        return value, value, value
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1e3, cuts[94] * 1e3, cuts[98] * 1e3


def report(recorder: Recorder, duration: float) -> bool:
    everything = [t for values in recorder.latencies.values() for t in values]
    print(f"\n{'request':>8} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind, values in [*sorted(recorder.latencies.items()), ("all", everything)]:
        p50, p95, p99 = _percentiles(values)
        print(
            f"{kind:>8} {len(values):>7} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} "
            f"{max(values) * 1e3:>8.1f}"
        )
    print(
        f"throughput: {len(everything) / duration:.0f} requests/s; errors: {len(recorder.errors)}"
    )
    for error in recorder.errors[:20]:
        print(f"  {error}")
    p99 = _percentiles(everything)[2]
    ok = p99 < 100.0 and not recorder.errors
    print(f"target (p99 < 100 ms, no errors): {'met' if ok else 'NOT met'} (p99 {p99:.1f} ms)")
    return ok


async def run_load(args: argparse.Namespace, port: int, big: int) -> tuple[Recorder, bool]:
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10.0, limits=limits) as client:
        await _wait_ready(client)
        small = None
        if not args.no_job:
            response = await client.post("/api/jobs", json=SMALL_JOB)
            response.raise_for_status()
            small = int(response.json()["id"])
            print(f"small job {small} submitted; waiting for its driver to start training")
            for _ in range(240):
                answer = await client.get(f"/api/jobs/{small}")
                if answer.status_code != 200:
                    raise SystemExit(f"GET /api/jobs/{small}: {answer.status_code} {answer.text}")
                job = answer.json()
                if job["progress"]["running"] or job["status"] != "queued":
                    break
                await asyncio.sleep(0.5)
        for url in (f"/api/jobs/{big}/pareto", f"/api/jobs/{big}/trials?limit=50"):
            await client.get(url)  # warm-up: the first read of a study computes its caches
        recorder = Recorder()
        rng = random.Random(1)
        cpu_before = time.process_time()
        until = time.monotonic() + args.duration
        print(f"{args.clients} clients for {args.duration:.0f} s, think time {args.think} s")
        await asyncio.gather(
            *(
                _client(
                    client,
                    recorder,
                    random.Random(rng.random()),
                    big,
                    small,
                    args.trials,
                    args.think,
                    until,
                )
                for _ in range(args.clients)
            )
        )
        # On a small machine the clients compete with the service for the same cores.
        cpu = time.process_time() - cpu_before
        print(f"the clients used {cpu:.1f} s of CPU in {args.duration:.0f} s")
        ran = False
        if small is not None:
            with contextlib.suppress(httpx.HTTPError):
                job = (await client.get(f"/api/jobs/{small}", timeout=60)).json()
                ran = job["status"] == "running" or job["progress"]["complete"] > 0
                print(f"small job after the load: {job['status']}, progress {job['progress']}")
        return recorder, ran


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between requests")
    parser.add_argument("--database-url", help="an empty database (default: SQLite, temporary)")
    parser.add_argument("--no-job", action="store_true", help="no job running during the load")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="kept, and its big study reused by the next run (default: temporary)",
    )
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="spikenas-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = args.database_url or f"sqlite:///{workdir.resolve()}/spikenas.db"
    server = None
    try:
        start = time.perf_counter()
        big = find_big_study(database_url, args.trials) if args.workdir else None
        if big is None:
            big = write_big_study(database_url, args.trials)
            print(f"study of {args.trials} trials written in {time.perf_counter() - start:.0f} s")
        port = _free_port()
        server = start_service(workdir, database_url, port)
        recorder, _ = asyncio.run(run_load(args, port, big))
        ok = report(recorder, args.duration)
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(60)
            if server.poll() is None:
                server.kill()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

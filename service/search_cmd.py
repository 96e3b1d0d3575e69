"""`spikenas search JOB.json`: run one search job without the server, through the same code path.

The job gets a row in the configured database like a submitted one, is claimed, and runs in
this process through service.job_runner (the code the job manager starts for a service job), so
its trials, front and exports are then visible to `spikenas serve` on the same database. A
progress line is redrawn while it runs, and the front is printed at the end. Ctrl-C stops the
search and records the job as cancelled, keeping its finished trials.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from search.job_spec import JobSpec
from search.results import pareto_front, read_progress
from search.study import open_storage
from service import job_runner
from service.db import get_engine, session_scope
from service.front_table import front_table
from service.job_store import claim_queued, create_job, finish_running, get_job
from service.settings import Settings, get_settings
from service.spec_files import read_spec

BAR_WIDTH = 30


def progress_line(complete: int, running: int, failed: int, total: int, elapsed: float) -> str:
    done = min(total, complete + failed)
    filled = round(BAR_WIDTH * done / total) if total else BAR_WIDTH
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"[{bar}] {complete}/{total} done, {running} running, {failed} failed, {elapsed:5.0f} s"


class _Progress(threading.Thread):
    """Redraws the progress line from the study every `interval` seconds until stopped."""

    def __init__(self, settings: Settings, job_id: int, total: int, interval: float = 1.0):
        super().__init__(name="spikenas-progress", daemon=True)
        self.settings, self.job_id, self.total, self.interval = settings, job_id, total, interval
        self.stop = threading.Event()
        self.started_at = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.last = ""

    def draw(self, final: bool = False) -> None:
        p = read_progress(open_storage(self.settings.database_url), self.job_id, self.total)
        line = progress_line(
            p.complete, p.running, p.failed, p.total, time.monotonic() - self.started_at
        )
        if self.tty:
            print("\r" + line, end="\n" if final else "", flush=True)
        elif final or line.split("]")[1].rsplit(",", 1)[0] != self.last:
            # Not a terminal (a log file, CI): a line per change of the counts, not per second.
            print(line, flush=True)
        self.last = line.split("]")[1].rsplit(",", 1)[0]

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.draw()
            except Exception:  # a busy database must not end the search; the next round draws
                continue


def run_search(spec_path: Path, settings: Settings) -> int:
    spec = read_spec(spec_path, JobSpec, "job spec")
    get_engine(settings.database_url)
    with session_scope(settings.database_url) as session:
        job_id = create_job(session, spec).id
    with session_scope(settings.database_url) as session:
        claim_queued(session, job_id)
    within = f" within {spec.time_budget_s:g} s" if spec.time_budget_s is not None else ""
    print(
        f"job {job_id} ({spec.name}): {spec.n_trials} trials{within}, {spec.max_concurrent} at "
        f"a time, {spec.budget.epochs} epochs each, sampler {spec.sampler}; database "
        f"{settings.database_url}",
        flush=True,
    )
    # Create Optuna's schema here, once: the progress thread and the driver would otherwise
    # race to create it in a fresh database.
    open_storage(settings.database_url)
    progress = _Progress(settings, job_id, spec.n_trials)
    progress.start()
    try:
        code = job_runner.run(settings, job_id, verbose=0)
    finally:
        progress.stop.set()
        progress.join()
    progress.draw(final=True)
    with session_scope(settings.database_url) as session:
        # job_runner leaves a job it could not finish running (Ctrl-C here): nobody else will.
        finish_running(session, job_id, "cancelled", "stopped from the terminal")
        job = get_job(session, job_id)
        status, error = job.status, job.error
    print(f"job {job_id} {status}" + (f": {error}" if error else ""))
    front, hypervolume = pareto_front(
        open_storage(settings.database_url), job_id, list(spec.objectives)
    )
    if front:
        print(f"\nPareto front ({len(front)} trials, hypervolume {hypervolume:.4f}):")
        print(front_table([r.model_dump() for r in front]))
        print(
            f"\nExport one with the service on this database: "
            f"GET /api/jobs/{job_id}/trials/<number>/export"
        )
    return 0 if status == "succeeded" else max(code, 1)


def main(args: argparse.Namespace) -> int:
    return run_search(Path(args.spec), get_settings())

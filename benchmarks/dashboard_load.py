"""Load time of a job's dashboard page for a 5,000-trial job, in Debian's Chromium.

Run by hand (needs `apt-get install chromium` and the dev extra, which has Playwright):
    .venv/bin/python benchmarks/dashboard_load.py [--trials 5000] [--runs 5] [--fresh]

Builds (once, then reused from --dir) a SQLite database with one succeeded job of `--trials`
made-up trials written through Optuna (tests/browser/synthetic.py: realistic architectures,
curves, costs, early stops, failures), starts `spikenas serve` on it, and opens /jobs/1 in
headless Chromium. A load is timed from navigation start to the page's own "spikenas-ready"
mark: the front, the hypervolume history and the first page of trials all drawn. Prints:

- first view (a new browser context: nothing cached), the first one on a server that has just
  started and has read nothing yet, then --runs more;
- from the jobs page: a new context opens / (which prefetches Plotly), then clicks the job;
- repeat view (the same context reloaded: Plotly and the scripts come from the browser cache);
- where the time went (medians of the page's marks), and the server's own time per endpoint;
- interactions on the loaded page: sorting the table on the server, switching an axis;
- for scale, plotly.min.js alone loaded cold into a blank page: the floor under a first view.

The target is a load under 2 s. The machine's load average is printed with the results: on a
shared machine the browser and the server compete with other work for the same cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The repository first (this folder's other scripts must not shadow its packages), then the
# browser tests' server harness and made-up trials: both measure the same pages.
sys.path[0:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

from harness import Server, find_chromium  # noqa: E402
from synthetic import fill_study, synthetic_trials  # noqa: E402

MARKS = (
    "plotly-loaded",
    "table-drawn",
    "points-loaded",
    "front-drawn",
    "hypervolume-loaded",
    "hypervolume-drawn",
    "spikenas-ready",
)
ENDPOINTS = (
    "/jobs/1",
    "/api/jobs/1",
    "/dashboard/jobs/1/points",
    "/api/jobs/1/hypervolume",
    "/api/jobs/1/trials?limit=50&offset=0&sort=number&order=asc",
    "/api/jobs/1/trials?limit=50&offset=2500&sort=accuracy&order=desc&state=complete",
    "/api/jobs/1/trials/1234",
    "/api/jobs/1/pareto",
    "/",
)
TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const marks = Object.fromEntries(
    performance.getEntriesByType("mark").map((m) => [m.name, m.startTime]));
  return {dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, marks};
}"""


def build(root: Path, trials: int) -> None:
    from service.db import session_scope
    from service.job_store import claim_queued, finish_running

    print(f"building a job of {trials} trials in {root} (once; about 20 s per 5,000)...")
    started = time.perf_counter()
    with Server(root, max_running_jobs=0) as server:
        job = server.post(
            "/api/jobs",
            {
                "name": f"{trials} made-up trials",
                "dataset": {"name": "digits"},
                "n_trials": trials,
                "budget": {"epochs": 8},
            },
        )
        assert job["id"] == 1, job
        fill_study(server.database_url, 1, synthetic_trials(trials, seed=0))
        with session_scope(server.database_url) as session:
            claim_queued(session, 1)
            finish_running(session, 1, "succeeded")
    print(f"built in {time.perf_counter() - started:.0f} s")


def load(page: Any, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=120_000)
    timings: dict[str, Any] = page.evaluate(TIMINGS_JS)
    timings["wall"] = (time.perf_counter() - started) * 1000
    timings["renderer"] = page.locator("#front-chart").get_attribute("data-renderer")
    return timings


def from_jobs_page(page: Any, base: str) -> dict[str, Any]:
    """The usual way in: the jobs page first (which prefetches Plotly), then a click."""
    with page.expect_request_finished(lambda r: "/plotly-" in r.url, timeout=60_000):
        page.goto(base + "/")
    started = time.perf_counter()
    page.locator('tr[data-job="1"] .job-link').click()
    page.wait_for_selector("body[data-ready='1']", state="attached", timeout=120_000)
    timings: dict[str, Any] = page.evaluate(TIMINGS_JS)
    timings["wall"] = (time.perf_counter() - started) * 1000
    timings["renderer"] = page.locator("#front-chart").get_attribute("data-renderer")
    return timings


def plotly_alone(page: Any, base: str) -> float:
    """Plotly's own cost, cold, on a page that does nothing else: the floor under a first view
    on this machine, whatever the dashboard does."""
    page.goto(base + "/api/health")
    src = page.evaluate(
        "async (base) => (await (await fetch(base + '/jobs/1')).text())"
        '.match(/src="(\\/dashboard\\/static\\/plotly-[^"]+)"/)[1]',
        base,
    )
    loaded: float = page.evaluate(
        """src => new Promise((done) => {
          const start = performance.now();
          const script = document.createElement("script");
          script.src = src;
          script.onload = () => done(performance.now() - start);
          document.head.append(script);
        })""",
        src,
    )
    return loaded


def interactions(page: Any) -> dict[str, float]:
    out = {}
    first = page.locator("#trial-rows tr").first
    before = first.inner_text()
    started = time.perf_counter()
    page.locator('#trial-head th[data-key="accuracy"] button').click()
    page.wait_for_function(
        "before => document.querySelector('#trial-rows tr').innerText !== before", arg=before
    )
    out["sort the table by accuracy (server)"] = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    page.locator("#trial-rows tr").nth(3).click()
    page.wait_for_selector("#arch .block", state="attached")
    out["open a trial (curves, architecture)"] = (time.perf_counter() - started) * 1000
    for axis in ("spike_rate", "params"):
        out[f"switch x axis to {axis}"] = page.evaluate(
            """axis => {
              const select = document.getElementById("front-x");
              const start = performance.now();
              select.value = axis;
              select.dispatchEvent(new Event("change"));
              return performance.now() - start;
            }""",
            axis,
        )
    return out


def server_times(url: str, repeats: int = 5) -> dict[str, float]:
    times = {}
    for path in ENDPOINTS:
        samples = []
        for _ in range(repeats):
            request = urllib.request.Request(url + path, headers={"Accept-Encoding": "gzip"})
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
            samples.append((time.perf_counter() - started) * 1000)
        times[path] = statistics.median(samples)
    return times


def ready_of(loads: list[dict[str, Any]]) -> list[float]:
    return [t["marks"]["spikenas-ready"] for t in loads]


def row(name: str, values: list[float]) -> str:
    return (
        f"| {name:<46} | {statistics.median(values):>8.0f} | {min(values):>7.0f} "
        f"| {max(values):>7.0f} | {len(values):>2} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=None, help="where the database is kept")
    parser.add_argument("--fresh", action="store_true", help="rebuild the database")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        sys.exit("Chromium not found: apt-get install -y chromium")
    root = args.dir or Path("/tmp") / f"spikenas-dashboard-{args.trials}"
    if args.fresh:
        shutil.rmtree(root, ignore_errors=True)
    if not (root / "spikenas.db").exists():
        root.mkdir(parents=True, exist_ok=True)
        build(root, args.trials)

    load_before = os.getloadavg()[0]
    first: list[dict[str, Any]] = []
    repeat: list[dict[str, Any]] = []
    via_jobs: list[dict[str, Any]] = []
    bare: list[float] = []
    with Server(root, max_running_jobs=0) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        url = f"{server.url}/jobs/1"
        for _ in range(args.runs + 1):  # the first on a server that has read nothing yet
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            first.append(load(page, url))
            if len(first) == 1:
                done = interactions(page)
            context.close()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        load(page, url)
        for _ in range(args.runs):
            repeat.append(load(page, url))
        context.close()
        for _ in range(args.runs):
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            via_jobs.append(from_jobs_page(page, server.url))
            context.close()
            context = browser.new_context()
            bare.append(plotly_alone(context.new_page(), server.url))
            context.close()
        browser.close()
        endpoints = server_times(server.url)
    load_after = os.getloadavg()[0]

    print(f"\njob page of a {args.trials}-trial job in {Path(chromium).name} (headless)")
    print(f"{os.cpu_count()} CPUs; load average {load_before:.1f} before, {load_after:.1f} after")
    print(f"\n| {'ms, navigation start to ...':<46} |   median |     min |     max |  n |")
    print("|" + "-" * 48 + "|----------|---------|---------|----|")
    print(row("first view, server just started", [first[0]["marks"]["spikenas-ready"]]))
    ready_first = ready_of(first[1:])
    print(row("first view (nothing cached), ready", ready_first))
    print(row("from the jobs page (Plotly prefetched), ready", ready_of(via_jobs)))
    print(row("repeat view (browser cache), ready", ready_of(repeat)))
    print(row("Plotly alone on a blank page, cold, loaded", bare))
    print(row("first view, DOMContentLoaded", [t["dcl"] for t in first[1:]]))
    for mark in MARKS[:-1]:
        print(row(f"first view, {mark}", [t["marks"][mark] for t in first[1:]]))
    print(f"\n| {'server, ms (median of 5, gzip accepted)':<82} |           |")
    print("|" + "-" * 84 + "|-----------|")
    for path, ms in endpoints.items():
        print(f"| {path:<82} | {ms:>9.1f} |")
    print(f"\n| {'interaction on the loaded page, ms':<46} |          |")
    print("|" + "-" * 48 + "|----------|")
    for name, ms in done.items():
        print(f"| {name:<46} | {ms:>8.0f} |")
    renderers = [t["renderer"] for t in first + via_jobs + repeat]
    counts = ", ".join(f"{renderers.count(r)} {r}" for r in sorted(set(renderers), key=str))
    print(f"\nthe front was drawn with: {counts} (WebGL past 2,000 points, SVG where refused)")
    ready = statistics.median(ready_first)
    verdict = "meets" if ready < 2000 else "misses"
    print(f"\nfirst-view load: median {ready / 1000:.2f} s, which {verdict} the 2 s target")


if __name__ == "__main__":
    main()

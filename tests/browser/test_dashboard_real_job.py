"""The whole story in Chromium, on the real service with a real job manager and a real local
Ray: open the dashboard, submit a tiny job from the form, watch it run to the end, open its
front, click a point, and download that trial's module (then run it). Screenshots of each step
go to test-output/browser/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips these tests (or fails them) and says why
    expect = None  # type: ignore[assignment]

from harness import Server

pytestmark = [pytest.mark.browser, pytest.mark.ray, pytest.mark.slow]

SPACE = {"dims": [16], "min_depth": 1, "max_depth": 1, "time_steps": [2], "downsample": [2]}
RUN_TIMEOUT_MS = 600_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with Server(tmp_path, max_running_jobs=1, SPIKENAS_RAY_NUM_CPUS="2") as server:
        yield server


def test_submit_watch_open_click_download(
    page: Any, server: Server, screenshots: Path, tmp_path: Path
) -> None:
    page.goto(server.url + "/")
    expect(page.locator("#job-rows")).to_contain_text("No jobs yet")
    form = page.locator("#submit-form")
    form.locator('input[name="name"]').fill("browser e2e")
    form.locator('input[name="n_trials"]').fill("2")
    form.locator('input[name="max_concurrent"]').fill("2")
    form.locator('input[name="epochs"]').fill("1")
    form.locator('select[name="sampler"]').select_option("random")
    form.locator('input[name="seed"]').fill("3")
    form.locator('textarea[name="space"]').fill(json.dumps(SPACE))
    form.locator("button[type=submit]").click()
    link = page.locator("#submitted-link")
    expect(link).to_be_visible()
    expect(page.locator("#form-errors li")).to_have_count(0)
    job_id = int(link.inner_text().split()[-1])
    expect(page.locator(f'tr[data-job="{job_id}"]')).to_contain_text("browser e2e")
    page.screenshot(path=str(screenshots / "e2e-1-submitted.png"), full_page=True)

    link.click()
    status = page.locator("#job-status")
    expect(status).to_have_text(re.compile("queued|running|succeeded"))
    expect(status).to_have_text(re.compile("running|succeeded"), timeout=120_000)
    page.screenshot(path=str(screenshots / "e2e-2-running.png"), full_page=True)
    try:
        expect(status).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    except AssertionError:
        log = server.root / "artifacts" / f"job-{job_id}" / "driver.log"
        tail = log.read_text()[-3000:] if log.exists() else server.log()
        message = f"job {job_id} did not succeed: {status.inner_text()}\n{tail}"
        raise AssertionError(message) from None
    expect(page.locator("#progress-text")).to_have_text("2/2 trials")
    expect(page.locator("#live-note")).to_have_text("")

    # The front, as drawn once the job ended: both trials finished their budget.
    points = page.locator("#front-chart .scatterlayer .trace").first.locator("path.point")
    expect(points).to_have_count(2)
    expect(page.locator("#hv-value")).to_have_text(re.compile(r"^0\.\d{4}$"))
    page.screenshot(path=str(screenshots / "e2e-3-finished.png"), full_page=True)

    box = points.first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#trial-detail")).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text(re.compile(r"^Trial \d · complete$"))
    number = int(page.locator("#detail-title").inner_text().split()[1])
    expect(page.locator("#arch .mixer")).to_have_count(1)
    expect(page.locator("#detail-facts")).to_contain_text("1/1 epochs")
    page.screenshot(path=str(screenshots / "e2e-4-trial.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#export-module").click()
    assert download.value.suggested_filename == f"job{job_id}_trial{number}.py"
    module = tmp_path / "winner.py"
    download.value.save_as(module)
    with page.expect_download() as weights:
        page.locator("#export-weights").click()
    weights.value.save_as(tmp_path / "winner.pt")

    # The module runs with torch alone, with the trained weights.
    script = f"""
import sys
for banned in ("spaces", "workers", "search", "service"):
    sys.modules[banned] = None
sys.path.insert(0, {str(tmp_path)!r})
import torch, winner
model = winner.build_model()
model.load_state_dict(torch.load({str(tmp_path / "winner.pt")!r}, weights_only=True))
print(tuple(model.eval()(torch.zeros(3, *winner.INPUT_SHAPE)).shape))
"""
    run = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(3, 10)"

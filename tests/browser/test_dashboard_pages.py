"""The dashboard in Chromium on a job of 300 made-up trials (nothing trains): the jobs page and
its form, the front's axes and clicks, the server-sorted table, a trial's curves, architecture
and module, live updates, cancel, and escaping of what a user typed."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips these tests (or fails them) and says why
    expect = None  # type: ignore[assignment]

from harness import Server
from synthetic import fill_study, synthetic_trials

from search.study import open_storage, study_name
from service.db import session_scope
from service.job_store import claim_queued

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_TRIALS = 300
XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A running job of N_TRIALS finished trials; nothing is ever trained."""
    with Server(tmp_path_factory.mktemp("dashboard"), max_running_jobs=0) as server:
        job = server.post(
            "/api/jobs",
            {
                "name": "made-up trials",
                "dataset": {"name": "digits"},
                "n_trials": N_TRIALS + 10,
                "budget": {"epochs": 8},
            },
        )
        fill_study(server.database_url, job["id"], synthetic_trials(N_TRIALS, seed=2))
        with session_scope(server.database_url) as session:
            claim_queued(session, job["id"])  # running, so the page keeps polling
        yield server


def _job_page(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/jobs/1")
    expect(page.locator("body")).to_have_attribute("data-ready", "1")


def _front_points(page: Any) -> Any:
    return page.locator("#front-chart .scatterlayer .trace").first.locator("path.point")


def test_jobs_page_and_bad_submissions(page: Any, server: Server, screenshots: Path) -> None:
    page.goto(server.url + "/")
    row = page.locator('tr[data-job="1"]')
    expect(row).to_contain_text("made-up trials")
    expect(row).to_contain_text("running")
    expect(row.locator(".front")).to_have_text(re.compile(r"^\d+$"))
    expect(row.locator(".best")).to_have_text(re.compile(r"^0\.\d{4}$"))
    form = page.locator("#submit-form")
    form.locator('input[name="n_trials"]').fill("0")
    form.locator('input[name="epochs"]').fill("many")
    form.locator("button[type=submit]").click()
    errors = page.locator("#form-errors li")
    expect(errors.first).to_be_visible()
    text = " | ".join(errors.all_inner_texts())
    # The API's own messages, each naming its field.
    assert "n_trials: Input should be greater than or equal to 1" in text
    assert "budget.epochs:" in text
    expect(form.locator('input[name="n_trials"]')).to_have_class(re.compile("invalid"))
    expect(form.locator('input[name="epochs"]')).to_have_class(re.compile("invalid"))
    page.screenshot(path=str(screenshots / "jobs-form-errors.png"), full_page=True)
    form.locator('input[name="n_trials"]').fill("3")
    form.locator('input[name="epochs"]').fill("1")
    form.locator('textarea[name="space"]').fill("{dims: [16]")
    form.locator("button[type=submit]").click()
    expect(errors.first).to_contain_text("space: not valid JSON")
    form.locator('textarea[name="space"]').fill('{"dims": [12]}')
    form.locator("button[type=submit]").click()
    expect(errors.first).to_contain_text("space.dims")


def test_names_are_shown_as_typed_and_a_queued_job_cancels(page: Any, server: Server) -> None:
    page.goto(server.url + "/")
    form = page.locator("#submit-form")
    form.locator('input[name="name"]').fill(XSS)
    form.locator('input[name="n_trials"]').fill("2")
    form.locator("button[type=submit]").click()
    link = page.locator("#submitted-link")
    expect(link).to_be_visible()
    job_id = int(link.inner_text().split()[-1])
    expect(page.locator(f'tr[data-job="{job_id}"] .job-link')).to_have_text(XSS)
    link.click()
    expect(page.locator("#job-name")).to_have_text(XSS)
    assert page.evaluate("() => window.__xss") is None
    assert XSS in page.title()
    cancel = page.locator("#cancel")
    cancel.click()
    expect(cancel).to_have_text("Click again to cancel")
    cancel.click()
    expect(page.locator("#job-status")).to_have_text("cancelled")
    expect(cancel).to_be_hidden()


def test_front_axes_colour_and_click(page: Any, server: Server, screenshots: Path) -> None:
    _job_page(page, server)
    expect(page.locator("#front-note")).to_contain_text("finished trials")
    finished = int(page.locator("#front-note").inner_text().split()[0])
    assert 0.8 * N_TRIALS < finished < N_TRIALS
    full, early = (
        page.locator("#front-chart .scatterlayer .trace").nth(i).locator("path.point").count()
        for i in (0, 1)
    )
    assert full + early == finished and early > 0
    expect(page.locator("#front-x")).to_have_value("params")
    expect(page.locator("#front-y")).to_have_value("accuracy")
    expect(page.locator("#front-colour")).to_have_value("spike_rate")
    assert "energy" in page.locator("#front-colour option").evaluate_all(
        "options => options.map(o => o.value)"
    )
    page.screenshot(path=str(screenshots / "job-front.png"), full_page=True)
    page.select_option("#front-colour", "energy")
    expect(page.locator("#front-chart .colorbar")).to_contain_text("energy")
    page.select_option("#front-x", "spike_rate")
    expect(page.locator("#front-chart .xtitle")).to_have_text("spike rate")
    page.select_option("#front-x", "params")
    point = _front_points(page).nth(5)
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page.locator("#front-chart .hoverlayer")).to_contain_text("stage 1")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    detail = page.locator("#trial-detail")
    expect(detail).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text(re.compile(r"^Trial \d+ · complete$"))
    expect(page.locator("#arch .block").first).to_be_visible()
    # Validation accuracy, spike rate, training and validation loss.
    expect(page.locator("#curve-chart .scatterlayer .trace")).to_have_count(4)
    expect(page.locator("#curve-chart .legend")).to_contain_text("validation loss")
    page.screenshot(path=str(screenshots / "job-trial.png"), full_page=True)


def test_table_sorts_filters_and_pages_on_the_server(page: Any, server: Server) -> None:
    _job_page(page, server)
    rows = page.locator("#trial-rows tr")
    expect(page.locator("#page-text")).to_have_text(f"1–50 of {N_TRIALS}")
    page.locator('#trial-head th[data-key="accuracy"] button').click()
    expect(page.locator('#trial-head th[data-key="accuracy"]')).to_have_attribute(
        "aria-sort", "descending"
    )
    idle = page.locator("#trial-rows:not([aria-busy])")  # the rows of the last request
    expect(idle).to_have_count(1)
    expect(rows).to_have_count(50)
    accuracies = [float(t) for t in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert accuracies == sorted(accuracies, reverse=True)
    page.locator("#page-next").click()
    expect(page.locator("#page-text")).to_have_text(re.compile(r"^51–100 of \d+$"))
    expect(idle).to_have_count(1)
    more = [float(t) for t in rows.locator("td:nth-child(3)").all_inner_texts()]
    assert max(more) <= min(accuracies)
    page.select_option("#trial-state", "failed")
    expect(page.locator("#page-text")).to_have_text(re.compile(r"^1–\d+ of \d+$"))
    expect(idle).to_have_count(1)
    assert set(rows.locator("td:nth-child(2)").all_inner_texts()) == {"failed"}
    rows.first.click()
    expect(page.locator("#detail-title")).to_have_text(re.compile(r"· failed$"))
    expect(page.locator("#detail-error")).to_contain_text("out of memory")
    expect(page.locator("#export-module")).to_be_hidden()
    page.select_option("#trial-state", "complete")
    rows.first.click()
    with page.expect_download() as download:
        page.locator("#export-module").click()
    source = Path(download.value.path()).read_text()
    assert re.fullmatch(r"job1_trial\d+\.py", download.value.suggested_filename)
    ast.parse(source)
    assert "def build_model" in source


def test_live_updates(page: Any, server: Server) -> None:
    _job_page(page, server)
    note = page.locator("#front-note")
    expect(note).to_contain_text("finished trials")
    before = int(note.inner_text().split()[0])
    polls = int(page.locator("body").get_attribute("data-polls") or "0")
    study = optuna.load_study(study_name=study_name(1), storage=open_storage(server.database_url))
    study.add_trials(synthetic_trials(3, seed=99)[:2])  # complete or early, never rejected
    expect(note).to_have_text(f"{before + 2} finished trials", timeout=30_000)
    # The note changes while a poll is still reading the rest of the page; the counter only
    # moves once that poll ends, so wait for it rather than read it at once.
    page.wait_for_function("n => Number(document.body.dataset.polls || 0) > n", arg=polls)
    expect(page.locator("#live-note")).to_have_text("live")

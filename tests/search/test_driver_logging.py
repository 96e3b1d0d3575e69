"""The driver keeps Tune's result-grid warning about trials with no result files (those the
time budget stopped before their first report) off the user's console, and nothing else."""

from __future__ import annotations

import logging

import search.driver  # noqa: F401  (importing the driver sets the levels)


def test_the_result_grid_warns_no_more_but_still_reports_errors() -> None:
    grid = logging.getLogger("ray.tune.analysis.experiment_analysis")
    assert not grid.isEnabledFor(logging.WARNING)
    assert grid.isEnabledFor(logging.ERROR)
    assert logging.getLogger("ray.tune").isEnabledFor(logging.WARNING)

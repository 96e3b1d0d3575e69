"""`spikenas search` and `spikenas train` as a user runs them: real subprocesses, a real SQLite
database and a real local Ray; bad input is one line naming the file and field, no traceback."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.jobs import TINY_ARCH as ARCH
from tests.jobs import tiny_job

JOB = tiny_job(
    "cli-search",
    n_trials=2,
    budget={"epochs": 1, "batch_size": 64},
    objectives=["accuracy", "params", "energy"],
)


def _spikenas(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SPIKENAS_DATABASE_URL": f"sqlite:///{tmp_path}/spikenas.db",
        "SPIKENAS_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "SPIKENAS_DATA_DIR": str(tmp_path / "data"),
        "SPIKENAS_RAY_NUM_CPUS": "2",
    }
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.ray
@pytest.mark.slow
def test_search_runs_a_job_and_prints_the_front(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps(JOB))
    run = _spikenas(tmp_path, "search", "job.json")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "job 1 succeeded" in run.stdout
    assert "2/2 done" in run.stdout
    assert "Pareto front" in run.stdout and "energy pJ" in run.stdout
    # The same jobs table and study a server on this database would read.
    with sqlite3.connect(tmp_path / "spikenas.db") as db:
        assert db.execute("SELECT status FROM jobs WHERE id = 1").fetchone() == ("succeeded",)
        (count,) = db.execute("SELECT count(*) FROM trials WHERE state = 'COMPLETE'").fetchone()
    assert count == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        (json.dumps({**JOB, "n_trials": 0}), "n_trials"),
        (json.dumps({**JOB, "objectives": ["accuracy", "joules"]}), "objectives"),
    ],
)
def test_search_refuses_a_bad_spec_naming_the_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    (tmp_path / "job.json").write_text(content)
    run = _spikenas(tmp_path, "search", "job.json", timeout=120)
    assert run.returncode != 0
    assert expected in run.stderr and "job.json" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_train_prints_metrics_and_writes_a_standalone_module(tmp_path: Path) -> None:
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    run = _spikenas(
        tmp_path, "train", "arch.json", "--epochs", "2", "--out", "out", "--loss", "sml"
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "epoch   2/2" in run.stdout and "test acc" in run.stdout
    check = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import sys, torch; sys.path.insert(0, 'out'); import model;"
            "m = model.build_model();"
            "m.load_state_dict(torch.load('out/weights.pt', weights_only=True));"
            "print(m.eval()(torch.rand(3, 8, 8)).shape)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "torch.Size([3, 10])"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--loss", "mse"], "loss"),
        (["--epochs", "0"], "epochs"),
        (["--dataset", "missing.npz"], "missing.npz"),
    ],
)
def test_train_refuses_bad_options_naming_them(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    run = _spikenas(tmp_path, "train", "arch.json", *args, timeout=120)
    assert run.returncode != 0
    assert expected in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_train_refuses_a_spec_that_does_not_fit_the_data(tmp_path: Path) -> None:
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "input_shape": [16, 16]}))
    run = _spikenas(tmp_path, "train", "arch.json", timeout=120)
    assert run.returncode != 0 and "input_shape" in run.stderr
    assert "Traceback" not in run.stderr


def test_train_refuses_an_encoding_the_data_cannot_feed(tmp_path: Path) -> None:
    (tmp_path / "arch.json").write_text(json.dumps({**ARCH, "encoding": "events"}))
    run = _spikenas(tmp_path, "train", "arch.json", timeout=120)
    assert run.returncode != 0 and "encoding 'events'" in run.stderr
    assert "Traceback" not in run.stderr

    x = np.zeros((10, 3, 1, 8, 8), dtype=np.float32)  # 3 frames: T = 2 cannot group them
    y = np.arange(10) % 2
    np.savez(tmp_path / "dvs.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    events = {**ARCH, "input_shape": [1, 8, 8], "encoding": "events"}
    (tmp_path / "events.json").write_text(json.dumps(events))
    run = _spikenas(tmp_path, "train", "events.json", "--dataset", "dvs.npz", timeout=120)
    assert run.returncode != 0 and "time_steps 2 does not divide the 3 frames" in run.stderr
    assert "Traceback" not in run.stderr

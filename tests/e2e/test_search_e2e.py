"""End to end through the real app, a real database and a real local Ray.

Submit a tiny job over REST, let the job manager run its driver (a subprocess that starts Ray),
then read trials and the front, export the winner and run the module in a process that cannot
import the project, and compare its outputs with the trained network's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from spaces.arch import ArchSpec
from spaces.build import build_model
from workers.data import load_dataset
from workers.dataset_ref import DigitsDataset

pytestmark = [pytest.mark.ray, pytest.mark.slow]

JOB = {
    "name": "e2e",
    "dataset": {"name": "digits"},
    "n_trials": 2,
    "max_concurrent": 2,
    "budget": {"epochs": 2},
    "sampler": "random",
    "objectives": ["accuracy", "params", "spike_rate"],
    "seed": 3,
    "space": {"dims": [16], "min_depth": 1, "max_depth": 1, "time_steps": [2], "downsample": [2]},
}


def _wait(client: TestClient, job_id: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")


def test_search_job_from_rest_to_exported_module(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/spikenas.db",
        data_dir=tmp_path / "data",
        artifacts_dir=tmp_path / "artifacts",
        ray_num_cpus=2,
    )
    with TestClient(create_app(settings)) as client:
        created = client.post("/api/jobs", json=JOB)
        assert created.status_code == 201, created.text
        job = _wait(client, created.json()["id"], timeout=600)
        log = tmp_path / "artifacts" / f"job-{job['id']}" / "driver.log"
        assert job["status"] == "succeeded", log.read_text()[-3000:] if log.exists() else job
        assert job["progress"] == {"complete": 2, "running": 0, "failed": 0, "total": 2}

        trials = client.get(f"/api/jobs/{job['id']}/trials?limit=10&offset=0").json()
        assert trials["count"] == 2
        for trial in trials["data"]:
            assert trial["state"] == "complete"
            assert trial["epochs_trained"] == 2 and not trial["early_stopped"]
            assert set(trial["values"]) == {"accuracy", "params", "spike_rate"}
            assert 0.0 <= trial["test_accuracy"] <= 1.0

        pareto = client.get(f"/api/jobs/{job['id']}/pareto").json()
        assert pareto["data"] and 0.0 < pareto["hypervolume"] <= 1.0
        best = max(pareto["data"], key=lambda t: t["values"]["accuracy"])
        n = best["number"]
        module = client.get(f"/api/jobs/{job['id']}/trials/{n}/export")
        weights = client.get(f"/api/jobs/{job['id']}/trials/{n}/weights")
        assert module.status_code == 200 and module.headers["content-type"].startswith(
            "text/x-python"
        )
        assert weights.status_code == 200

    out = tmp_path / "export"
    out.mkdir()
    (out / "winner.py").write_bytes(module.content)
    (out / "winner.pt").write_bytes(weights.content)
    data = load_dataset(DigitsDataset(name="digits"), tmp_path, seed=JOB["seed"])
    torch.save(data.x_test, out / "x_test.pt")

    # The trained network, rebuilt by the library from the trial's spec and weights.
    model = build_model(ArchSpec.model_validate(best["arch"]))
    model.load_state_dict(torch.load(out / "winner.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        expected = model(data.x_test)
    torch.save(expected, out / "expected.pt")
    accuracy = int((expected.argmax(1) == data.y_test).sum()) / len(data.y_test)
    assert accuracy == pytest.approx(best["test_accuracy"], abs=1e-9)

    script = f"""
import sys
for banned in ("spaces", "workers", "search", "service"):
    sys.modules[banned] = None
sys.path.insert(0, {str(out)!r})
import torch, winner
m = winner.build_model()
m.load_state_dict(torch.load({str(out / "winner.pt")!r}, weights_only=True))
m.eval()
x = torch.load({str(out / "x_test.pt")!r})
assert tuple(x.shape[1:]) == winner.INPUT_SHAPE
with torch.no_grad():
    y = m(x)
assert y.shape == (len(x), winner.NUM_CLASSES)
print(torch.equal(y, torch.load({str(out / "expected.pt")!r})))
"""
    run = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=out, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"

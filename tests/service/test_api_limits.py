"""Bad input at the edges: oversized bodies (413), fields out of bounds (422 naming the field),
data set paths that leave the data dir through a symlink, and absurd query values; every answer
JSON, none a 500."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def test_oversized_body_is_413_before_it_is_read(
    settings: Settings, job_body: dict[str, Any]
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 4096})
    with TestClient(create_app(small, start_jobs=False)) as c:
        huge = {**job_body, "name": "x" * 10_000}
        response = c.post("/api/jobs", json=huge)
        assert response.status_code == 413
        assert "larger than the limit of 4096 bytes" in response.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            body = json.dumps(huge).encode()
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        chunked = c.post(
            "/api/jobs", content=chunks(), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413
        assert c.get("/api/jobs").json()["count"] == 0
        # Within the limit, a chunked body reaches the route unchanged.
        body = json.dumps(job_body).encode()
        ok = c.post(
            "/api/jobs",
            content=iter([body[:10], body[10:]]),
            headers={"content-type": "application/json"},
        )
        assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": ""}, "name"),
        ({"n_trials": 100_001}, "n_trials"),
        ({"max_concurrent": 257}, "max_concurrent"),
        ({"budget": {"epochs": 1001}}, "budget.epochs"),
        ({"budget": {"epochs": 1, "batch_size": 10**6}}, "budget.batch_size"),
        ({"budget": {"epochs": 1, "lr": 5.0}}, "budget.lr"),
        ({"seed": 2**31}, "seed"),
        ({"space": {"dims": [2048]}}, "space.dims"),
        ({"space": {"dims": list(range(8, 8 * 18, 8))}}, "space.dims"),
        ({"space": {"max_depth": 17}}, "space.max_depth"),
        ({"space": {"max_stages": 5}}, "space.max_stages"),
        ({"space": {"time_steps": [65]}}, "space.time_steps"),
        ({"space": {"heads": [128]}}, "space.heads"),
        ({"space": {"max_tokens": 10**6}}, "space.max_tokens"),
        ({"cpus_per_trial": 1000}, "cpus_per_trial"),
        ({"gpus_per_trial": 17}, "gpus_per_trial"),
        ({"dataset": {"name": "npz", "path": "x" * 2000}}, "dataset.npz.path"),
        ({"dataset": {"name": "npz", "path": "a/../../b.npz"}}, "dataset"),
        ({"dataset": {"name": "npz", "path": "nul\x00.npz"}}, "dataset"),
    ],
)
def test_every_field_is_bounded(
    client: TestClient, job_body: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/jobs", json={**job_body, **change})
    assert response.status_code == 422
    messages = " ".join(e["msg"] for e in response.json()["detail"])
    assert field in messages


def _npz(path: Path) -> None:
    x = np.random.rand(20, 8).astype(np.float32)
    y = np.arange(20) % 2
    np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)


def test_symlinks_may_not_leave_the_data_dir(
    client: TestClient, settings: Settings, tmp_path: Path, job_body: dict[str, Any]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _npz(outside / "secret.npz")
    os.symlink(outside / "secret.npz", settings.data_dir / "link.npz")
    os.symlink(outside, settings.data_dir / "linked-dir")
    _npz(settings.data_dir / "real.npz")
    os.symlink(settings.data_dir / "real.npz", settings.data_dir / "alias.npz")

    for path in ("link.npz", "linked-dir/secret.npz"):
        response = client.post(
            "/api/jobs", json={**job_body, "dataset": {"name": "npz", "path": path}}
        )
        assert response.status_code == 422, path
        messages = " ".join(e["msg"] for e in response.json()["detail"])
        assert "dataset.path" in messages and "leaves the data directory" in messages
        assert str(outside) not in response.text  # where it points is none of the client's business
    inside = client.post(
        "/api/jobs", json={**job_body, "dataset": {"name": "npz", "path": "alias.npz"}}
    )
    assert inside.status_code == 201  # a link that stays inside is fine


@pytest.mark.parametrize(
    "url",
    [
        "/api/jobs?offset=99999999999999999999",
        "/api/jobs?limit=-5",
        "/api/jobs/1/log?offset=99999999999999999999",
        "/api/jobs/-1",
        "/api/jobs/abc",
    ],
)
def test_absurd_query_values_are_422_not_500(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"


def test_wrong_method_and_media_type_are_json(client: TestClient) -> None:
    wrong = client.delete("/api/jobs")
    assert wrong.status_code == 405 and wrong.json() == {"detail": "Method Not Allowed"}
    form = client.post("/api/jobs", content=b"name=x", headers={"content-type": "text/plain"})
    assert form.status_code == 422 and isinstance(form.json()["detail"], list)


def test_paths_the_file_system_refuses_are_422(
    client: TestClient, settings: Settings, job_body: dict[str, Any]
) -> None:
    os.symlink("loop-b.npz", settings.data_dir / "loop-a.npz")
    os.symlink("loop-a.npz", settings.data_dir / "loop-b.npz")
    for path in ("loop-a.npz", "x" * 1000 + ".npz"):
        response = client.post(
            "/api/jobs", json={**job_body, "dataset": {"name": "npz", "path": path}}
        )
        assert response.status_code == 422, path
        assert "dataset.path" in " ".join(e["msg"] for e in response.json()["detail"])

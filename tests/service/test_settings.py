"""Settings: defaults that work with no configuration, SPIKENAS_* variables, early validation
that names the variable, and the hand-over of settings to a job runner's environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings, env_name


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SPIKENAS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_live_in_the_working_directory(tmp_path: Path) -> None:
    settings = Settings()
    cwd = tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{cwd / 'spikenas.db'}"
    assert settings.data_dir == cwd / "data"
    assert settings.artifacts_dir == cwd / "artifacts"
    assert settings.ray_address is None and settings.api_token is None
    assert settings.max_running_jobs == 1 and settings.ray_num_cpus is None


def test_environment_variables_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKENAS_DATABASE_URL", "postgresql://u@db:5432/spikenas")
    monkeypatch.setenv("SPIKENAS_RAY_ADDRESS", "ray-head:6379")
    monkeypatch.setenv("SPIKENAS_MAX_RUNNING_JOBS", "3")
    monkeypatch.setenv("SPIKENAS_API_TOKEN", "")  # empty counts as unset
    monkeypatch.setenv("SPIKENAS_DATA_DIR", "rel/data")
    settings = Settings()
    assert settings.database_url == "postgresql://u@db:5432/spikenas"
    assert settings.ray_address == "ray-head:6379"
    assert settings.max_running_jobs == 3
    assert settings.api_token is None
    assert settings.data_dir.is_absolute() and settings.data_dir.parts[-2:] == ("rel", "data")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPIKENAS_DATABASE_URL", "postgres-but-not-a-url"),
        ("SPIKENAS_MAX_RUNNING_JOBS", "-1"),
        ("SPIKENAS_RAY_NUM_CPUS", "0"),
        ("SPIKENAS_POLL_INTERVAL_S", "0"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    field = str(caught.value.errors()[0]["loc"][0])
    assert env_name(field) == variable


def test_child_env_carries_the_settings_to_a_runner(tmp_path: Path) -> None:
    given = Settings(
        database_url="sqlite:////tmp/x.db",
        data_dir=tmp_path / "d",
        artifacts_dir=tmp_path / "a",
        ray_address="head:6379",
        ray_num_cpus=2,
        api_token="never-passed-on",
    )
    env = given.child_env()
    assert "SPIKENAS_API_TOKEN" not in env  # a runner has no use for it
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        child = Settings()
    fields = ("database_url", "data_dir", "artifacts_dir", "ray_address", "ray_num_cpus")
    assert {f: getattr(child, f) for f in fields} == {f: getattr(given, f) for f in fields}

"""Settings from the environment (prefix SPIKENAS_); defaults make `spikenas serve` work as is."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SPIKENAS_"


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'spikenas.db'}"


class Settings(BaseSettings):
    """Every setting is the environment variable SPIKENAS_<NAME> (e.g. SPIKENAS_DATABASE_URL)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "data")
    artifacts_dir: Path = Field(default_factory=lambda: Path.cwd() / "artifacts")
    ray_address: str | None = None
    ray_num_cpus: int | None = Field(None, ge=1, le=4096)
    api_token: str | None = None  # unset: no auth, and `serve` binds loopback only
    max_running_jobs: int = Field(1, ge=0, le=64)  # 0 queues jobs without starting any
    poll_interval_s: float = Field(1.0, gt=0.0, le=60.0)  # how often the job manager looks
    # Times a job whose driver died (killed, service restarted, database lost) goes back to the
    # queue to resume from its study before it is marked failed.
    max_resumes: int = Field(3, ge=0, le=100)
    # Request bodies above this are refused with 413 before they are read (a job spec is ~1 kB).
    max_body_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql", "mysql")):
            raise ValueError(
                "SPIKENAS_DATABASE_URL must be an sqlite://, postgresql:// or mysql:// URL"
            )
        return value

    @field_validator("ray_address", "api_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("data_dir", "artifacts_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    def child_env(self) -> dict[str, str]:
        """What a job runner needs of these settings, as SPIKENAS_* variables.

        The service may have been given its settings in code (tests, create_app(settings)), so
        the child cannot rely on inheriting them from the environment.
        """
        env = {
            "SPIKENAS_DATABASE_URL": self.database_url,
            "SPIKENAS_DATA_DIR": str(self.data_dir),
            "SPIKENAS_ARTIFACTS_DIR": str(self.artifacts_dir),
        }
        if self.ray_address:
            env["SPIKENAS_RAY_ADDRESS"] = self.ray_address
        if self.ray_num_cpus:
            env["SPIKENAS_RAY_NUM_CPUS"] = str(self.ray_num_cpus)
        return env


def env_name(field: str) -> str:
    """The environment variable of a setting, for messages to the user."""
    return ENV_PREFIX + field.upper()


@functools.lru_cache
def get_settings() -> Settings:
    return Settings()

"""docker-compose.yml checked against the code, so that the file cannot drift from it.

Every service's environment: its SPIKENAS_* variables must be settings of
service.settings.Settings, and together they must validate as the container would read them.
Every service's command: `spikenas ...` must parse with the CLI's own parser and `ray start ...`
with Ray's own. The API: a public bind comes with a required token; what its settings point at
(the database, the Ray head) is a service it waits for until healthy; the directories its
settings name are volumes that the workers mount at the same paths. Ray: the workers join the
head the API talks to, every Ray process shares one token, and the workers can be scaled.
"""

from __future__ import annotations

import os
from typing import Any

import click
import pytest
from compose_file import (
    MissingVariable,
    environment,
    load,
    mounts,
    raw,
    strings,
    variables,
)
from sqlalchemy.engine import make_url

from service.cli import build_parser, is_loopback
from service.settings import Settings, env_name

SERVICES = {"postgres", "ray-head", "ray-worker", "api"}
# What a user must set (in .env): Compose refuses to start without them.
REQUIRED = {"SPIKENAS_API_TOKEN", "RAY_AUTH_TOKEN"}
USER_ENV = {name: f"test-{name.lower()}" for name in REQUIRED}
SETTINGS = {env_name(field): field for field in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(USER_ENV)


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    return compose["services"][name]


def _has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check["test"] != ["NONE"]


def _spikenas_env(service: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in environment(service).items() if k.startswith("SPIKENAS_")}


def _ray_start(args: list[str]) -> dict[str, Any]:
    """Parse `ray start` arguments with Ray's own command; its parameters by name."""
    from ray.scripts.scripts import start

    try:
        ctx = start.make_context("ray start", list(args))
    except click.ClickException as e:
        pytest.fail(f"`ray start {' '.join(args)}` is refused by Ray: {e.format_message()}")
    return dict(ctx.params)


def test_the_topology_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    assert {"pgdata", "data", "artifacts"} <= set(compose.get("volumes") or {})
    assert mounts(_service(compose, "postgres")) == {"/var/lib/postgresql/data": "pgdata"}


def test_variables_have_defaults_or_are_required() -> None:
    for text in strings(raw()):
        for name, op in variables(text):
            assert op is not None, f"${{{name}}} has no default: it would silently be empty"
            if op in ("?", ":?"):
                assert name in REQUIRED, f"{name} is required by the file but not by this test"
    for name in REQUIRED:
        with pytest.raises(MissingVariable, match=name):
            load({k: v for k, v in USER_ENV.items() if k != name})


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_spikenas_variables_are_settings(compose: dict[str, Any], name: str) -> None:
    unknown = sorted(set(_spikenas_env(_service(compose, name))) - set(SETTINGS))
    assert not unknown, (
        f"service {name}: {unknown} are not settings of service.settings.Settings "
        f"(known: {sorted(SETTINGS)})"
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_settings_validate_as_the_container_reads_them(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _spikenas_env(_service(compose, name))
    if not env:
        return
    for key in list(os.environ):
        if key.startswith("SPIKENAS_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    Settings()  # a ValidationError names the variable and what is wrong with it


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_commands_are_accepted(compose: dict[str, Any], name: str) -> None:
    service = _service(compose, name)
    if "command" not in service:
        assert "build" not in service, f"{name}: our image needs a command"
        return
    command = service["command"]
    assert isinstance(command, list), f"{name}: write the command as a list (no shell parsing)"
    if command[0] == "spikenas":
        try:
            build_parser().parse_args(command[1:])
        except SystemExit:
            pytest.fail(f"{name}: `{' '.join(command)}` is refused by the spikenas CLI")
    elif command[:2] == ["ray", "start"]:
        params = _ray_start(command[2:])
        assert params["block"], (
            f"{name}: without --block `ray start` returns and the container ends"
        )
    else:
        pytest.fail(f"{name}: unexpected command {command}")


def test_the_api_is_not_open_without_a_token(compose: dict[str, Any]) -> None:
    api = _service(compose, "api")
    args = build_parser().parse_args(api["command"][1:])
    if not is_loopback(args.host):
        token = environment(raw()["services"]["api"]).get("SPIKENAS_API_TOKEN", "")
        assert token.startswith("${SPIKENAS_API_TOKEN:?"), (
            f"`spikenas serve --host {args.host}` refuses to start without a token: "
            "SPIKENAS_API_TOKEN must be a required variable"
        )
    published = [str(p) for p in api.get("ports", [])]
    assert any(p.endswith(f":{args.port}") for p in published), (
        f"the API listens on {args.port}, which no port of the service publishes: {published}"
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_published_ports_are_on_loopback(compose: dict[str, Any], name: str) -> None:
    for port in _service(compose, name).get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_healthy_dependencies_have_healthchecks(compose: dict[str, Any], name: str) -> None:
    depends = _service(compose, name).get("depends_on") or {}
    assert isinstance(depends, dict), f"{name}: depends_on needs conditions (the long form)"
    for target, rule in depends.items():
        assert target in compose["services"], f"{name} depends on unknown service {target}"
        if rule.get("condition") == "service_healthy":
            assert _has_healthcheck(compose["services"][target]), (
                f"{name} waits for {target} to be healthy, and {target} has no healthcheck"
            )


def test_the_api_waits_for_what_its_settings_point_at(compose: dict[str, Any]) -> None:
    api = _service(compose, "api")
    env = _spikenas_env(api)
    database = make_url(env["SPIKENAS_DATABASE_URL"])
    ray_host = env["SPIKENAS_RAY_ADDRESS"].rsplit(":", 1)[0]
    depends = api.get("depends_on") or {}
    for host, what in (
        (database.host, "SPIKENAS_DATABASE_URL"),
        (ray_host, "SPIKENAS_RAY_ADDRESS"),
    ):
        assert host in compose["services"], f"{what} names {host}, which is no service"
        assert depends.get(host, {}).get("condition") == "service_healthy", (
            f"api must wait for {host} ({what}) to be healthy"
        )
        assert _has_healthcheck(compose["services"][host]), f"{host} has no healthcheck"
    postgres = environment(_service(compose, "postgres"))
    assert database.username == postgres["POSTGRES_USER"]
    assert database.password == postgres["POSTGRES_PASSWORD"]
    assert database.database == postgres["POSTGRES_DB"]


def test_the_workers_join_the_head_the_api_talks_to(compose: dict[str, Any]) -> None:
    address = _spikenas_env(_service(compose, "api"))["SPIKENAS_RAY_ADDRESS"]
    host, port = address.rsplit(":", 1)
    head = _ray_start(_service(compose, "ray-head")["command"][2:])
    worker = _ray_start(_service(compose, "ray-worker")["command"][2:])
    assert head["head"] and str(head["port"]) == port and host == "ray-head"
    assert worker["address"] == address and not worker["head"]
    # Trials land on the workers only: the head offers nothing to schedule on.
    assert head["num_cpus"] == 0 and head["num_gpus"] == 0
    healthcheck = " ".join(_service(compose, "ray-head")["healthcheck"]["test"])
    assert f"127.0.0.1:{port}" in healthcheck


def test_every_ray_process_shares_one_token(compose: dict[str, Any]) -> None:
    for name in ("ray-head", "ray-worker", "api"):
        env = environment(_service(compose, name))
        assert env.get("RAY_AUTH_MODE") == "token", f"{name}: RAY_AUTH_MODE=token missing"
        assert env.get("RAY_AUTH_TOKEN") == USER_ENV["RAY_AUTH_TOKEN"], f"{name}: RAY_AUTH_TOKEN"


def test_workers_reserve_a_gpu_and_can_be_scaled(compose: dict[str, Any]) -> None:
    worker = _service(compose, "ray-worker")
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    # `--scale` creates replicas: a fixed name or host port would collide.
    assert "container_name" not in worker and not worker.get("ports")
    assert compose["services"]["ray-worker"]["build"]["args"]["VARIANT"] == "cuda"


def test_settings_paths_are_volumes_shared_with_the_workers(compose: dict[str, Any]) -> None:
    api, worker = _service(compose, "api"), _service(compose, "ray-worker")
    env = _spikenas_env(api)
    volumes = set(compose.get("volumes") or {})
    for key in ("SPIKENAS_DATA_DIR", "SPIKENAS_ARTIFACTS_DIR"):
        path = env[key]
        source = mounts(api).get(path)
        assert source in volumes, f"api: {key}={path} is not a named volume"
        assert mounts(worker).get(path) == source, (
            f"ray-worker must mount volume {source} at {path} too: trials read data and write "
            "weights at the paths the driver gives them"
        )


@pytest.mark.parametrize("variant", ["cpu", "cuda"])
def test_image_variant_is_a_build_argument(variant: str) -> None:
    compose = load({**USER_ENV, "IMAGE_VARIANT": variant})
    for name in SERVICES - {"postgres"}:
        service = compose["services"][name]
        assert service["build"]["args"]["VARIANT"] == variant
        assert service["image"] == f"spikenas:{variant}"

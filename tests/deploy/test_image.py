"""The Dockerfile, .dockerignore and the CPU override of the compose file, read as text.

There is no Docker daemon in CI: these checks hold the files to the repository (the torch pin
of the Makefile, the packages of pyproject.toml, the settings' paths) rather than build them.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from typing import Any

import pytest
import yaml
from compose_file import ROOT, load, mounts

DOCKERFILE = ROOT / "Dockerfile"
IMAGE_DIRS = ("/var/lib/spikenas/data", "/var/lib/spikenas/artifacts")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _args() -> dict[str, str]:
    return dict(
        rest.split("=", 1) for word, rest in _instructions() if word == "ARG" and "=" in rest
    )


def _env() -> dict[str, str]:
    found = {}
    for word, rest in _instructions():
        if word == "ENV":
            found.update(pair.split("=", 1) for pair in rest.split())
    return found


def _ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            ignored = not negate
    return ignored


def test_torch_is_the_makefiles_pin_from_the_cpu_index_or_a_cuda_build() -> None:
    makefile = (ROOT / "Makefile").read_text()
    pin = re.search(r"^TORCH := torch==(\S+)$", makefile, re.M)
    assert pin, "the Makefile no longer pins torch as TORCH := torch==X"
    args = _args()
    assert args["TORCH_VERSION"] == pin.group(1)
    assert args["VARIANT"] == "cpu"
    assert args["TORCH_CPU_INDEX"] == "https://download.pytorch.org/whl/cpu"
    install = next(rest for word, rest in _instructions() if word == "RUN" and "torch==" in rest)
    assert re.search(r"cpu\) index=\"\$TORCH_CPU_INDEX\"", install)
    assert re.search(r"cuda\) index=\"\$TORCH_CUDA_INDEX\"", install)
    assert '"torch==${TORCH_VERSION}" --index-url "$index"' in install


def test_the_project_is_copied_whole_and_nothing_copied_is_ignored() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = set()
    for word, rest in _instructions():
        if word == "COPY":
            sources = [a for a in rest.split()[:-1] if not a.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
                assert not _ignored(source), f"COPY {source}: .dockerignore excludes it"
                copied.add(source)
    assert packages <= copied, f"packages of pyproject.toml not copied: {packages - copied}"
    readme = pyproject["project"]["readme"]
    assert readme in copied, f"pyproject.toml's readme {readme} is needed to install the project"


@pytest.mark.parametrize(
    "path", [".git", ".venv", ".env", "artifacts", "data", "spikenas.db", "demo-output"]
)
def test_dockerignore_keeps_local_state_and_secrets_out(path: str) -> None:
    assert _ignored(path)


def test_entrypoint_and_default_command() -> None:
    instructions = _instructions()
    entrypoint = json.loads(next(rest for word, rest in instructions if word == "ENTRYPOINT"))
    assert entrypoint == ["spikenas-entrypoint"]
    assert any(
        word == "COPY"
        and rest.endswith("deploy/docker-entrypoint.sh /usr/local/bin/" + entrypoint[0])
        for word, rest in instructions
    )
    cmd = json.loads(next(rest for word, rest in instructions if word == "CMD"))
    from service.cli import build_parser

    assert cmd[0] == "spikenas"
    build_parser().parse_args(cmd[1:])
    user = [rest for word, rest in instructions if word == "USER"]
    assert user and user[-1] != "root", "the image must not run as root"


def test_image_paths_are_the_compose_volumes() -> None:
    env = _env()
    assert (env["SPIKENAS_DATA_DIR"], env["SPIKENAS_ARTIFACTS_DIR"]) == IMAGE_DIRS
    compose = load({"SPIKENAS_API_TOKEN": "x", "RAY_AUTH_TOKEN": "y"})
    api = compose["services"]["api"]
    assert (
        api["environment"]["SPIKENAS_DATA_DIR"],
        api["environment"]["SPIKENAS_ARTIFACTS_DIR"],
    ) == IMAGE_DIRS
    assert set(IMAGE_DIRS) <= set(mounts(api))


class _ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's `!reset` and `!override` tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        value: Any = loader.construct_mapping(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    else:
        value = loader.construct_scalar(node)
    return {"__tag__": node.tag, "value": value}


_ComposeLoader.add_constructor("!reset", _tagged)
_ComposeLoader.add_constructor("!override", _tagged)


def test_cpu_override_drops_only_the_gpu_reservation() -> None:
    with open(ROOT / "deploy" / "compose.cpu.yml") as f:
        override = yaml.load(f, Loader=_ComposeLoader)  # a SafeLoader subclass
    assert override == {"services": {"ray-worker": {"deploy": {"__tag__": "!reset", "value": {}}}}}
    compose = load({"SPIKENAS_API_TOKEN": "x", "RAY_AUTH_TOKEN": "y"})
    assert set(compose["services"]["ray-worker"]["deploy"]) == {"resources"}

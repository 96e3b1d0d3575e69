"""Read docker-compose.yml as Docker Compose does, for the deploy tests.

YAML first (anchors and `<<` merge keys), then variable interpolation: `$$`, `$VAR`, `${VAR}`,
`${VAR-default}`, `${VAR:-default}`, `${VAR?message}` and `${VAR:?message}`, as in the Compose
specification. Helpers turn a service's environment, volumes and commands into plain values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(KeyError):
    """A `${VAR:?message}` whose variable is not set: Compose refuses to start."""


def variables(text: str) -> list[tuple[str, str | None]]:
    """Each variable a string refers to, with its operator (`:-`, `?`, ...; None for none)."""
    found = []
    for m in _VARIABLE.finditer(text):
        if not m.group("escaped"):
            found.append((m.group("name") or m.group("bare"), m.group("op")))
    return found


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def substitute(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if not unset:
            return str(value)
        if op in ("-", ":-"):
            return arg
        if op in ("?", ":?"):
            raise MissingVariable(f"{name}: {arg}")
        return ""

    return _VARIABLE.sub(substitute, text)


def _walk(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_walk(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _walk(value, env) for key, value in node.items()}
    return node


def raw() -> dict[str, Any]:
    """The file after YAML (anchors merged), before interpolation."""
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def load(env: Mapping[str, str]) -> dict[str, Any]:
    """The file as Compose runs it with the variables `env` (the shell's and .env's)."""
    return _walk(raw(), env)


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    return []


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment, from either of Compose's two forms."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """Container path -> source (a named volume or a host path) of a service's volumes."""
    found = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found[volume["target"]] = volume.get("source", "")
        else:
            source, target = volume.split(":")[:2]
            found[target] = source
    return found

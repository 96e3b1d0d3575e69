"""Specs read from JSON files by the command line (`spikenas search JOB.json`, `spikenas train
SPEC.json`): every problem is one SpecError naming the file and, for a bad value, the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from spaces.errors import SpecError

Model = TypeVar("Model", bound=BaseModel)


def read_spec(path: Path, model: type[Model], what: str) -> Model:
    """`model` from the JSON in `path`; `what` names the whole document in an error about it."""
    try:
        text = path.read_text()
    except OSError as e:
        raise SpecError(f"{path}: {e.strerror or e}") from e
    try:
        return model.model_validate(json.loads(text))
    except json.JSONDecodeError as e:
        raise SpecError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from e
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or what
        raise SpecError(f"{path}: {field}: {first['msg']}") from e

"""Export a finished trial's architecture as a standalone module."""

from __future__ import annotations

from pydantic import ValidationError

from search.records import TrialRecord
from spaces.arch import ArchSpec
from spaces.errors import ExportError
from spaces.export.module import generate_module


def trial_arch(record: TrialRecord) -> ArchSpec:
    if record.arch is None:
        raise ExportError(f"trial {record.number} has no architecture recorded")
    try:
        return ArchSpec.model_validate(record.arch)
    except ValidationError as e:
        raise ExportError(f"trial {record.number} has an invalid architecture: {e}") from e


def export_trial_module(record: TrialRecord) -> str:
    return generate_module(trial_arch(record))

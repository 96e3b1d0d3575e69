"""The product's exception hierarchy.

One root class; each subclass also inherits the builtin it resembles so callers that only know
Python's exceptions still catch it.
"""

from __future__ import annotations


class SpikenasError(Exception):
    """Root of every error the product raises on purpose."""


class SpecError(SpikenasError, ValueError):
    """An architecture spec, a search space or a job spec that cannot be built."""


class ConstraintViolation(SpecError):
    """A sampled architecture that breaks a constraint known before training (e.g. max_params):
    it is never trained. `arch` is the candidate's spec as JSON, for the record."""

    def __init__(self, message: str, arch: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.arch = arch


class DataError(SpikenasError, ValueError):
    """A data set that is missing, malformed or does not match its contract."""


class ExportError(SpikenasError, ValueError):
    """An architecture that an export target cannot express."""

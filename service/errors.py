"""Errors of the service layer (the product's root classes live in spaces.errors)."""

from __future__ import annotations

from spaces.errors import SpikenasError


class StoreError(SpikenasError, RuntimeError):
    """The database failed or could not be reached."""


class NotFound(SpikenasError, LookupError):
    """A job or trial that does not exist."""


class Conflict(SpikenasError, RuntimeError):
    """A request that the resource's current state does not allow (cancel a finished job)."""


class Unauthorized(SpikenasError, PermissionError):
    """A write or export without the configured bearer token."""

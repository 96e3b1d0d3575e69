"""A trial stopped by Ray ends without a traceback on the user's console.

When Tune stops a trial (its time budget ran out, or early stopping cut it), Ray sends the
trial's worker SIGTERM, and the handler `ray.init` installs there raises SystemExit wherever the
worker happens to be. Inside a finalizer (a weakref callback, a `__del__`) Python cannot raise
it: it ignores the exception and prints "Exception ignored in ..." with a traceback, which Ray
forwards to the driver's console (`log_to_driver`). The exception was ignored either way; this
hook only keeps that one case quiet, and passes every other unraisable exception on.
"""

from __future__ import annotations

import sys
from typing import Any

_default_hook = sys.unraisablehook


def _quiet_on_stop(unraisable: Any) -> None:
    if isinstance(unraisable.exc_value, SystemExit):
        return
    _default_hook(unraisable)


def install_quiet_stop() -> None:
    """Idempotent: every trial in a worker process calls it on its first line."""
    sys.unraisablehook = _quiet_on_stop

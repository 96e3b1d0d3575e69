"""A SystemExit that a finalizer cannot raise (Ray's SIGTERM handler firing there) prints
nothing; any other exception in a finalizer is still reported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import sys, weakref
    from workers.quiet_stop import install_quiet_stop

    class Thing:
        pass

    def raise_in_finalizer(error):
        def callback(_ref):
            raise error
        thing = Thing()
        keep = weakref.ref(thing, callback)
        del thing  # the callback runs here, where Python cannot raise its exception
        return keep

    if sys.argv[1] == "install":
        install_quiet_stop()
        install_quiet_stop()  # a second trial in the same worker
    raise_in_finalizer({error})
    print("still running")
    """
)


def _run(error: str, install: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(error=error), "install" if install else "bare"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_python_prints_a_traceback_without_the_hook() -> None:
    run = _run("SystemExit(1)", install=False)
    assert "Exception ignored" in run.stderr and "SystemExit" in run.stderr


def test_a_stop_in_a_finalizer_prints_nothing() -> None:
    run = _run("SystemExit(1)", install=True)
    assert run.stderr == ""
    assert run.stdout == "still running\n"


@pytest.mark.parametrize("error", ["ValueError('boom')", "KeyboardInterrupt()"])
def test_other_exceptions_in_a_finalizer_are_still_reported(error: str) -> None:
    run = _run(error, install=True)
    assert "Exception ignored" in run.stderr and error.split("(")[0] in run.stderr

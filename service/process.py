"""Facts about driver processes and their logs, for the job manager."""

from __future__ import annotations

import os
import signal
from pathlib import Path

LOG_TAIL_BYTES = 2000
_PROC = Path("/proc")


def is_runner(pid: int, job_id: int) -> bool:
    """Whether `pid` is alive and is the job runner of `job_id`.

    A pid read back from the database may have been reused by an unrelated process since: where
    /proc exists its command line must name this job, so that no stranger is ever signalled.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's: its command line says whose it is
    if not (_PROC / "self").exists():
        return True  # no /proc (macOS): a live pid is the best evidence there is
    try:
        args = (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # A zombie (exited, not yet waited for) has an empty command line and counts as gone.
    return b"service.job_runner" in args and str(job_id).encode() in args


def log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    """The last `limit` bytes of a log, from a line start where there is one."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return "(no log)"
    text = data.decode(errors="replace")
    if size > limit and "\n" in text:
        text = text.split("\n", 1)[1]
    return text.strip()


# The runner's exit code for "stopped before an outcome, resume me": sysexits' EX_TEMPFAIL.
EXIT_RESUME = 75


def describe_exit(code: int | None) -> str:
    """An exit code as words, for the job's error and log."""
    if code is None:
        return "exited (its exit code is unknown: a previous server started it)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    if code == EXIT_RESUME:
        return "stopped before the job ended (interrupted, or the database was lost)"
    return f"exited with code {code}"


def read_log(path: Path, offset: int, limit: int, tail: int | None = None) -> tuple[str, int, int]:
    """(text, size of the whole log, offset of the text): `limit` bytes from `offset`, or the
    last `tail` bytes. A log not written yet is empty. Bytes cut at a range's edge, and any
    that are not UTF-8, read as U+FFFD."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - tail) if tail is not None else min(offset, size)
            f.seek(start)
            data = f.read(tail if tail is not None else limit)
    except OSError:
        return "", 0, 0
    return data.decode("utf-8", errors="replace"), size, start

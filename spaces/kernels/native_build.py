"""Compile a C source file into a shared library on first use, cached across processes.

The library is built with the system C compiler (no torch headers, so a build takes about a
second, not the half minute a torch extension takes) and kept under a cache directory, named
by a hash of everything that decides its machine code: the source, the flags, the compiler
and its version, and the CPU (the flags say -march=native, so a cache shared between different
machines must not hand one machine another's code). A build writes into a fresh temporary
directory and renames the result into place, which is atomic: Ray workers that start together
may all compile, but none ever loads a half-written file.

Libraries are pruned when a new one is built (a new source version, compiler or CPU): those of
the same source not loaded for STALE_AFTER_S, and scratch directories a killed build left. A
load marks its library used; an age rather than "all but the newest" because a cache shared by
machines of different CPUs holds one live library per CPU.

Every failure (no compiler, a failed build, an unwritable cache, a library that does not load)
returns None, logged once at debug level by the caller's cache: the caller then runs its pure
PyTorch path, so a machine without a compiler (the slim Docker image) trains as before.

Environment: SPIKENAS_CC names the compiler (default: cc, else gcc); SPIKENAS_KERNEL_CACHE the
cache directory (default: $XDG_CACHE_HOME/spikenas/kernels, else ~/.cache/spikenas/kernels).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# -ffp-contract=off: no multiply-add is fused behind the source's back; the kernels write the
# ones they mean as fmaf, so that rounding matches PyTorch's where it decides spikes.
# -fno-unswitch-loops: the kernels choose between configurations inside their loops with selects
# and coefficients; copying each loop once per configuration flag would only multiply the
# machine code and the build time (measured: 0.7 s against 1.4 s).
FLAGS = (
    "-O3",
    "-march=native",
    "-fopenmp",
    "-fPIC",
    "-shared",
    "-ffp-contract=off",
    "-fno-unswitch-loops",
)
BUILD_TIMEOUT_S = 300
# A library not loaded for this long is removed when another build of its source lands.
STALE_AFTER_S = 30 * 24 * 3600
# A scratch directory this old belongs to a build that was killed, not to one still running.
ABANDONED_AFTER_S = 24 * 3600


def compiler() -> str | None:
    """The C compiler's path, or None where there is none."""
    named = os.environ.get("SPIKENAS_CC")
    if named:
        return shutil.which(named)
    return shutil.which("cc") or shutil.which("gcc")


def cache_dir() -> Path:
    configured = os.environ.get("SPIKENAS_KERNEL_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "spikenas" / "kernels"


def _cpu_identity() -> str:
    """What -march=native depends on: the architecture and, on Linux, the CPU's model and
    feature flags."""
    parts = [platform.machine()]
    try:
        with open("/proc/cpuinfo") as info:
            parts += [
                line
                for line in info
                if line.startswith(("model name", "flags", "Features", "CPU part"))
            ][:3]
    except OSError:
        pass
    return "\n".join(parts)


def build_key(source: bytes, cc: str) -> str:
    version = subprocess.run(
        [cc, "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    digest = hashlib.sha256()
    for part in (source, " ".join(FLAGS).encode(), cc.encode(), version.encode()):
        digest.update(part)
        digest.update(b"\0")
    digest.update(_cpu_identity().encode())
    return digest.hexdigest()[:20]


def build(source_path: Path) -> Path:
    """The path of the compiled library of `source_path`, compiling it if it is not cached.
    Raises (OSError, subprocess errors) on any failure."""
    cc = compiler()
    if cc is None:
        raise FileNotFoundError("no C compiler (cc or gcc, or SPIKENAS_CC) on PATH")
    source = source_path.read_bytes()
    cache = cache_dir()
    target = cache / f"{source_path.stem}-{build_key(source, cc)}.so"
    if target.exists():
        _mark_used(target)
        return target
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=cache))
    try:
        built = scratch / target.name
        done = subprocess.run(
            [cc, *FLAGS, "-o", str(built), str(source_path), "-lm"],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{cc} failed ({done.returncode}): {done.stderr[-2000:]}")
        os.replace(built, target)  # atomic: a concurrent build's rename just wins or loses
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    prune(cache, source_path.stem, keep=target)
    return target


def _mark_used(library: Path) -> None:
    with contextlib.suppress(OSError):  # a read-only cache still serves its libraries
        os.utime(library)


def prune(cache: Path, stem: str, keep: Path) -> list[Path]:
    """Remove the libraries of `stem` other than `keep` unused for STALE_AFTER_S, and abandoned
    scratch directories; returns what it removed. A process that has a removed library loaded
    keeps its mapping (unlinking does not unmap)."""
    now = time.time()
    removed = []
    for path in [*cache.glob(f"{stem}-*.so"), *cache.glob(".build-*")]:
        try:
            age = now - path.stat().st_mtime
        except OSError:  # another process removed it first
            continue
        if path.is_dir():
            if age > ABANDONED_AFTER_S:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        elif path != keep and age > STALE_AFTER_S:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def load(source_path: Path) -> ctypes.CDLL | None:
    """The compiled library of `source_path`, or None (logged at debug level) where it cannot
    be built or loaded."""
    try:
        return ctypes.CDLL(str(build(source_path)))
    except Exception as error:  # anything: the caller has a pure PyTorch path to fall back on
        logger.debug("native kernel %s unavailable, using PyTorch ops: %s", source_path, error)
        return None

"""The compiled-library cache of spaces/kernels/native_build.py: a real build with the machine's
C compiler of a small source, the cache hit that marks a library used, and pruning."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

import pytest

from spaces.kernels import native_build
from tests.spaces.compiler import needs_c_compiler

pytestmark = needs_c_compiler

DAY = 24 * 3600


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SPIKENAS_KERNEL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _source(tmp_path: Path, answer: int) -> Path:
    path = tmp_path / "answer.c"
    path.write_text(f"int answer(void) {{ return {answer}; }}\n")
    return path


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_build_is_cached_and_a_hit_marks_it_used(tmp_path: Path, cache: Path) -> None:
    source = _source(tmp_path, 42)
    library = native_build.build(source)
    assert library.parent == cache and library.name.startswith("answer-")
    assert ctypes.CDLL(str(library)).answer() == 42
    _age(library, 10 * DAY)
    assert native_build.build(source) == library  # no second build
    assert time.time() - library.stat().st_mtime < DAY


def test_a_new_build_prunes_what_is_stale_and_nothing_else(tmp_path: Path, cache: Path) -> None:
    """After the source changes: the old library unused for over STALE_AFTER_S goes, one used
    recently (another machine's CPU sharing the cache) stays, as does another source's old
    library; a scratch directory older than ABANDONED_AFTER_S goes, a fresh one (a build now
    running) stays."""
    stale = native_build.build(_source(tmp_path, 1))
    recent = cache / "answer-0123456789abcdef0123.so"
    recent.write_bytes(stale.read_bytes())
    other_source = cache / "other-0123456789abcdef0123.so"
    other_source.write_bytes(b"")
    abandoned, running = cache / ".build-dead", cache / ".build-live"
    abandoned.mkdir()
    running.mkdir()
    for path in (stale, other_source):
        _age(path, native_build.STALE_AFTER_S + DAY)
    _age(recent, native_build.STALE_AFTER_S - DAY)
    _age(abandoned, native_build.ABANDONED_AFTER_S + 60)

    current = native_build.build(_source(tmp_path, 2))
    assert ctypes.CDLL(str(current)).answer() == 2
    assert not stale.exists() and not abandoned.exists()
    assert current.exists() and recent.exists() and other_source.exists() and running.exists()


def test_pruning_keeps_the_library_it_is_told_to_keep(tmp_path: Path, cache: Path) -> None:
    library = native_build.build(_source(tmp_path, 7))
    _age(library, native_build.STALE_AFTER_S + DAY)
    assert native_build.prune(cache, "answer", keep=library) == []
    assert native_build.prune(cache, "answer", keep=cache / "elsewhere.so") == [library]

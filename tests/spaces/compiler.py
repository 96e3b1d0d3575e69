"""The one condition under which the C-kernel tests skip: no C compiler on the machine (a build
that fails where there is one fails them)."""

from __future__ import annotations

import pytest

from spaces.kernels import native_build

NO_COMPILER = "needs a C compiler (cc or gcc on PATH, or SPIKENAS_CC): none is installed"

needs_c_compiler = pytest.mark.skipif(native_build.compiler() is None, reason=NO_COMPILER)

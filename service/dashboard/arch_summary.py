"""A few lines about an architecture, for the front's hover labels.

The full spec of 5,000 trials would be megabytes in every poll of a job page; these lines are a
few dozen bytes each, and the page fetches the whole spec only for the trial a user opens.
Read defensively: a stored spec comes from whatever version of the driver wrote it.
"""

from __future__ import annotations

import json
from typing import Any


def _mixer(block: dict[str, Any]) -> str:
    mixer = block.get("mixer") or {}
    kind = str(mixer.get("kind", "stm"))
    option = ""
    if kind in ("stm", "ssa", "sdsa") and mixer.get("heads", 1) != 1:
        option = f" h{mixer['heads']}"
    elif kind in ("conv", "pool") and "kernel" in mixer:
        option = f" k{mixer['kernel']}"
    ratio = block.get("mlp_ratio")
    return f"{kind}{option}" + (f" ×{ratio:g}" if isinstance(ratio, int | float) else "")


def arch_lines(arch: dict[str, Any] | None) -> list[str]:
    """'T=4 · ↓2 · lif/sigmoid', then one line per stage: 'stage 1 · 32: stm h2 ×2, conv k3 ×4'."""
    if not arch:
        return ["no architecture recorded"]
    try:
        neuron = arch.get("neuron") or {}
        head = [
            f"T={arch.get('time_steps', '?')}",
            f"↓{arch.get('downsample', 1)}",
            f"{neuron.get('kind', 'lif')}/{neuron.get('surrogate', 'sigmoid')}",
        ]
        lines = [" · ".join(head)]
        for i, stage in enumerate(arch.get("stages") or [], start=1):
            blocks = ", ".join(_mixer(b) for b in stage.get("blocks") or [])
            lines.append(f"stage {i} · {stage.get('dim', '?')}: {blocks}")
        return lines
    except (AttributeError, TypeError, ValueError):
        return [json.dumps(arch)[:200]]


def arch_summary(arch: dict[str, Any] | None) -> str:
    return "\n".join(arch_lines(arch))

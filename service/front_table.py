"""The Pareto front as a plain-text table, for the terminal (`spikenas demo`, `spikenas search`).

Takes trials in their REST form (dicts with number, values, test_accuracy, arch), so that a
client of the API and an in-process reader print the same thing.
"""

from __future__ import annotations

from typing import Any


def describe_arch(arch: dict[str, Any] | None) -> str:
    arch = arch or {}
    stages = arch.get("stages", [])
    mixers = ",".join(b["mixer"]["kind"] for s in stages for b in s["blocks"])
    dims = "x".join(str(s["dim"]) for s in stages)
    return f"dim {dims}, T={arch.get('time_steps')}, mixers [{mixers}]"


# Column of each objective: header, width, format.
_COLUMNS: dict[str, tuple[str, int, str]] = {
    "accuracy": ("val acc", 7, "{:.4f}"),
    "params": ("params", 9, "{:.0f}"),
    "spike_rate": ("spike rate", 10, "{:.4f}"),
    "energy": ("energy pJ", 10, "{:.4g}"),
    "sops": ("SOPs", 10, "{:.4g}"),
}


def front_table(front: list[dict[str, Any]]) -> str:
    """One row per trial: its objective values (those any trial has), test accuracy, arch."""
    shown = [k for k in _COLUMNS if any(k in t["values"] for t in front)]
    header = f"{'trial':>5}  " + "  ".join(f"{_COLUMNS[k][0]:>{_COLUMNS[k][1]}}" for k in shown)
    header += f"  {'test acc':>8}  arch"
    rows = [header, "-" * len(header)]
    for t in front:
        cells = []
        for key in shown:
            _, width, fmt = _COLUMNS[key]
            value = t["values"].get(key)
            cells.append(f"{'-' if value is None else fmt.format(value):>{width}}")
        test = "-" if t["test_accuracy"] is None else f"{t['test_accuracy']:.4f}"
        rows.append(
            f"{t['number']:>5}  " + "  ".join(cells) + f"  {test:>8}  {describe_arch(t['arch'])}"
        )
    return "\n".join(rows)

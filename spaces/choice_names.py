"""The names of the choices a draw makes (spaces/space.py), for a sampler that steers some of
them by name (search/progressive_caps.py).

A draw names the downsampling, then each stage's width and depth before its blocks' mixers: a
sampler may read the earlier ones from the trial's choices so far when it draws a mixer.
"""

from __future__ import annotations

DOWNSAMPLE_CHOICE = "downsample"


def dim_choice(stage: int) -> str:
    """The name of the choice of a stage's width."""
    return f"s{stage}.dim"


def depth_choice(stage: int) -> str:
    """The name of the choice of a stage's number of blocks."""
    return f"s{stage}.depth"


def is_depth_choice(name: str) -> bool:
    stage, dot, rest = name.partition(".")
    return dot == "." and rest == "depth" and _is_index(stage, "s")


def mixer_choice(stage: int, block: int) -> str:
    """The name of the choice of a block's token mixer."""
    return f"s{stage}.b{block}.mixer"


def mixer_choice_stage(name: str) -> int | None:
    """The stage whose block's mixer choice `name` names, or None when it names no mixer."""
    parts = name.split(".")
    if (
        len(parts) == 3
        and _is_index(parts[0], "s")
        and _is_index(parts[1], "b")
        and parts[2] == "mixer"
    ):
        return int(parts[0][1:])
    return None


def _is_index(part: str, prefix: str) -> bool:
    """`part` is `prefix` then a non-negative integer: "s0", "b12"."""
    return part[:1] == prefix and part[1:].isdigit()

"""The default architecture for a data set: one small STMixer that trains well in a minute on a CPU.

A user who has not searched yet, a demo, and the training benchmarks need one sensible network
for any input geometry. This is it, defined once: a single stage of width 64 with two encoder
blocks, an STM token mixer (4 heads) then a depthwise-conv mixer (kernel 3), mlp ratio 2, T = 4,
decay-input LIF (tau 2, hard reset to 0) with the sigmoid surrogate (alpha 4). Both mixers are
event-driven friendly (STMixer, Deng et al. NeurIPS 2024): the network runs on an asynchronous
chip as it is. On digits (8x8, downsample 2, 16 tokens) it has 106K parameters and reaches 97.2 to
97.8% test accuracy in 10 epochs at batch 32 (seeds 0 to 2), in 11 to 13 s on 2 CPU cores
(benchmarks/train_digits.py; 97.8 to 98.3% with SML in 12 s). A third block (stm, conv, stm)
trained slower and no better (95.8 to 97.8%); 15 epochs, or batch 64 at twice the learning rate,
gave no better worst seed.

The patch embedding halves the input at least once and keeps halving until the token grid has at
most MAX_TOKENS tokens (64, the search space's default max_tokens): the STM mixer's token
matrix, H N^2 parameters and D N^2 accumulates per step, grows with the square of the grid.
"""

from __future__ import annotations

import math

from spaces.arch import ArchSpec, BlockSpec, MixerSpec, NeuronSpec, StageSpec
from spaces.errors import SpecError

DEFAULT_DIM = 64
DEFAULT_TIME_STEPS = 4
DEFAULT_MLP_RATIO = 2.0
DEFAULT_MIXERS: tuple[MixerSpec, ...] = (
    MixerSpec(kind="stm", heads=4),
    MixerSpec(kind="conv", kernel=3),
)
DEFAULT_NEURON = NeuronSpec(kind="lif", tau=2.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
MAX_TOKENS = 64
MAX_DOWNSAMPLE = 64  # ArchSpec's limit


def default_downsample(spatial: tuple[int, ...]) -> int:
    """The smallest power of two, at least 2, that leaves at most MAX_TOKENS tokens; it must
    divide every spatial size, so the search stops at the largest one that does."""
    chosen = 1
    factor = 2
    while factor <= MAX_DOWNSAMPLE and all(size % factor == 0 for size in spatial):
        chosen = factor
        if math.prod(size // factor for size in spatial) <= MAX_TOKENS:
            break
        factor *= 2
    return chosen


def default_arch(input_shape: tuple[int, ...], num_classes: int) -> ArchSpec:
    """The default architecture for inputs shaped `input_shape` ((L,), (H, W) or (C, H, W),
    without the batch axis) and `num_classes` classes."""
    shape = tuple(int(size) for size in input_shape)
    if not 1 <= len(shape) <= 3 or any(size < 1 for size in shape):
        raise SpecError(
            f"input_shape must be (L,), (H, W) or (C, H, W) with positive sizes, got {shape}"
        )
    if num_classes < 2:
        raise SpecError(f"num_classes must be at least 2, got {num_classes}")
    spatial = shape[1:] if len(shape) == 3 else shape
    blocks = tuple(BlockSpec(mixer=mixer, mlp_ratio=DEFAULT_MLP_RATIO) for mixer in DEFAULT_MIXERS)
    return ArchSpec(
        input_shape=shape,
        num_classes=num_classes,
        time_steps=DEFAULT_TIME_STEPS,
        downsample=default_downsample(spatial),
        stages=(StageSpec(dim=DEFAULT_DIM, blocks=blocks),),
        neuron=DEFAULT_NEURON,
    )

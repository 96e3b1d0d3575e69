"""The architecture spec: the one data type that crosses every layer.

A frozen, JSON-serialisable pydantic model naming every choice of one spiking MetaFormer
(STMixer family: Deng et al., NeurIPS 2024). The same JSON is the Optuna trial's `arch` user
attribute, the Ray config, the REST response and the input of the code generator.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NeuronKind = Literal["lif", "plif", "klif"]
SurrogateKind = Literal["sigmoid", "atan", "rect", "triangle", "erf", "dspike"]
MixerKind = Literal["stm", "ssa", "sdsa", "conv", "pool", "identity"]
# How a sample becomes T steps of input (snn-methods.md section 3; spaces/encoding.py):
# direct repeats the static sample, rate draws Bernoulli spikes from it at every step, events
# reads recorded event frames (one sample is (T_data, *input_shape)).
Encoding = Literal["direct", "rate", "events"]

# Mixers built in this release (every name of MixerKind, see snn-methods.md section 3).
BUILT_MIXERS: tuple[str, ...] = ("stm", "ssa", "sdsa", "conv", "pool", "identity")


def spatial_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The spatial axes of a sample of `input_shape`: (L,) for sequences, (H, W) for images
    (a leading channel axis dropped)."""
    return input_shape[1:] if len(input_shape) == 3 else input_shape


def token_grid(input_shape: tuple[int, ...], downsample: int) -> tuple[int, ...]:
    """The grid of tokens the patch embedding leaves from a sample of `input_shape`."""
    return tuple(size // downsample for size in spatial_shape(input_shape))


def num_tokens(input_shape: tuple[int, ...], downsample: int) -> int:
    return math.prod(token_grid(input_shape, downsample))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NeuronSpec(_Frozen):
    """A spiking neuron and its surrogate gradient (snn-methods.md sections 1 and 2)."""

    kind: NeuronKind = "lif"
    tau: float = Field(2.0, gt=1.0, le=100.0)
    v_threshold: float = Field(1.0, gt=0.0, le=10.0)
    # None means soft reset (subtract the threshold); a number is the hard-reset potential.
    v_reset: float | None = 0.0
    decay_input: bool = True
    detach_reset: bool = False
    surrogate: SurrogateKind = "sigmoid"
    alpha: float = Field(4.0, gt=0.0, le=100.0)


class MixerSpec(_Frozen):
    """One block's token mixer and its options."""

    kind: MixerKind = "stm"
    heads: int = Field(1, ge=1, le=64)
    kernel: Literal[3, 5, 7] = 3


class BlockSpec(_Frozen):
    """One encoder block: x + TokenMixer(x), then x + ChannelMixer(x)."""

    mixer: MixerSpec = MixerSpec()
    mlp_ratio: float = Field(2.0, ge=0.25, le=8.0)


class StageSpec(_Frozen):
    """Blocks of one width; the token grid is the same in every stage."""

    dim: int = Field(64, ge=8, le=2048)
    blocks: tuple[BlockSpec, ...] = Field(..., min_length=1, max_length=32)


class ArchSpec(_Frozen):
    """Everything needed to build one deployable spiking network, deterministically."""

    # One static sample, or one event frame (encoding "events"): (L,), (H, W) or (C, H, W).
    input_shape: tuple[int, ...] = Field(..., min_length=1, max_length=3)
    num_classes: int = Field(..., ge=2, le=100_000)
    time_steps: int = Field(4, ge=1, le=64)
    encoding: Encoding = "direct"
    # Total downsampling of the patch embedding along each spatial axis (a power of two).
    downsample: int = Field(1, ge=1, le=64)
    stages: tuple[StageSpec, ...] = Field(..., min_length=1, max_length=4)
    neuron: NeuronSpec = NeuronSpec()

    @property
    def in_channels(self) -> int:
        """Input channels: (L,) and (H, W) inputs have one, (C, H, W) inputs have C."""
        return self.input_shape[0] if len(self.input_shape) == 3 else 1

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The input's spatial axes: (L,) for sequences, (H, W) for images."""
        return spatial_shape(self.input_shape)

    @property
    def token_grid(self) -> tuple[int, ...]:
        return token_grid(self.input_shape, self.downsample)

    @property
    def num_tokens(self) -> int:
        return num_tokens(self.input_shape, self.downsample)

    @property
    def depth(self) -> int:
        return sum(len(stage.blocks) for stage in self.stages)

    @property
    def name(self) -> str:
        """STMixer-depth-dim-heads style name, for tables and file names."""
        heads = max(block.mixer.heads for stage in self.stages for block in stage.blocks)
        dims = "x".join(str(stage.dim) for stage in self.stages)
        return f"SNN-{self.depth}-{dims}-{heads}"

    @field_validator("input_shape")
    @classmethod
    def _positive_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(size < 1 for size in value):
            raise ValueError(f"every size must be at least 1, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _check_geometry(self) -> ArchSpec:
        if self.downsample & (self.downsample - 1):
            raise ValueError(f"downsample must be a power of two, got {self.downsample}")
        for size in self.spatial_shape:
            if size % self.downsample:
                raise ValueError(
                    f"downsample {self.downsample} does not divide the input size {size} "
                    f"(input_shape {self.input_shape})"
                )
        for i, stage in enumerate(self.stages):
            if stage.dim % 8:
                raise ValueError(
                    f"stages[{i}].dim must be a multiple of 8 (the patch embedding uses dim/8)"
                )
            for j, block in enumerate(stage.blocks):
                if block.mixer.kind not in BUILT_MIXERS:
                    raise ValueError(
                        f"stages[{i}].blocks[{j}].mixer.kind {block.mixer.kind!r} is not "
                        f"available yet; choose one of {list(BUILT_MIXERS)}"
                    )
                if stage.dim % block.mixer.heads:
                    raise ValueError(
                        f"stages[{i}].blocks[{j}].mixer.heads ({block.mixer.heads}) must "
                        f"divide the stage dim ({stage.dim})"
                    )
        return self

"""The search space as data: the choices, their ranges and the constraints a job puts on them.

`SpaceConstraints` is what a user writes in a job spec. `SearchSpace` binds it to an input
geometry (and the job's input encoding, fixed per job, never searched) and draws an `ArchSpec`
through a `Suggester`, a small protocol that an Optuna trial
adapter (search/) or a seeded random generator (tests, benchmarks) implements. The space is
conditional: per-block choices exist only for blocks that the sampled depth creates.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from spaces.arch import (
    BUILT_MIXERS,
    ArchSpec,
    BlockSpec,
    Encoding,
    MixerKind,
    MixerSpec,
    NeuronKind,
    NeuronSpec,
    StageSpec,
    SurrogateKind,
    num_tokens,
    spatial_shape,
)
from spaces.choice_names import DOWNSAMPLE_CHOICE, depth_choice, dim_choice, mixer_choice
from spaces.costs import spec_params
from spaces.errors import ConstraintViolation, SpecError

T = TypeVar("T")

# Mixers an asynchronous, event-driven chip can run: no spike-by-spike products, no max-pooling.
EVENT_DRIVEN_MIXERS: frozenset[str] = frozenset({"stm", "conv", "pool", "identity"})
HEADED_MIXERS: frozenset[str] = frozenset({"stm", "ssa", "sdsa"})
# Mixers whose parameters or work per step grow with the square of the token count: STM's token
# matrices (H N^2 parameters), the attention maps of SSA and SDSA (N^2 products per head).
QUADRATIC_MIXERS: frozenset[str] = frozenset({"stm", "ssa", "sdsa"})
KERNEL_MIXERS: frozenset[str] = frozenset({"conv", "pool"})
DEFAULT_ALPHA: dict[str, float] = {
    "sigmoid": 4.0,
    "atan": 2.0,
    "rect": 1.0,
    "triangle": 1.0,
    "erf": 2.0,
    "dspike": 2.5,
}


def _unique(values: Sequence[Any], field: str) -> Sequence[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{field} has repeated values: {list(values)}")
    return values


class SpaceConstraints(BaseModel):
    """What a job may search over. Every field has a default; all bounds are inclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mixers: tuple[MixerKind, ...] = Field(("stm", "conv", "pool", "identity"), min_length=1)
    event_driven_only: bool = False
    dims: tuple[int, ...] = Field((32, 48, 64), min_length=1, max_length=16)
    min_depth: int = Field(1, ge=1, le=16)
    max_depth: int = Field(3, ge=1, le=16)
    max_stages: int = Field(1, ge=1, le=4)
    mlp_ratios: tuple[float, ...] = Field((1.0, 2.0, 4.0), min_length=1, max_length=8)
    heads: tuple[int, ...] = Field((1, 2, 4), min_length=1, max_length=8)
    kernels: tuple[Literal[3, 5, 7], ...] = Field((3, 5), min_length=1, max_length=3)
    neurons: tuple[NeuronKind, ...] = Field(("lif",), min_length=1)
    surrogates: tuple[SurrogateKind, ...] = Field(("sigmoid",), min_length=1)
    time_steps: tuple[int, ...] = Field((2, 4), min_length=1, max_length=8)
    downsample: tuple[int, ...] = Field((1, 2, 4), min_length=1, max_length=7)
    max_tokens: int = Field(64, ge=1, le=1024)
    max_params: int | None = Field(None, ge=100)

    @field_validator("mixers")
    @classmethod
    def _mixers_built(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _unique(value, "mixers")
        missing = [m for m in value if m not in BUILT_MIXERS]
        if missing:
            raise ValueError(f"mixers {missing} are not available yet; use {list(BUILT_MIXERS)}")
        return value

    @field_validator("dims")
    @classmethod
    def _dims_valid(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        _unique(value, "dims")
        bad = [d for d in value if d < 8 or d > 1024 or d % 8]
        if bad:
            raise ValueError(f"dims must be multiples of 8 between 8 and 1024, got {bad}")
        return value

    @field_validator("mlp_ratios")
    @classmethod
    def _ratios_valid(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        _unique(value, "mlp_ratios")
        if any(r < 0.25 or r > 8 for r in value):
            raise ValueError(f"mlp_ratios must lie in [0.25, 8], got {list(value)}")
        return value

    @field_validator("heads")
    @classmethod
    def _heads_valid(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        _unique(value, "heads")
        if any(h < 1 or h > 64 for h in value):
            raise ValueError(f"heads must lie in [1, 64], got {list(value)}")
        return value

    @field_validator("time_steps")
    @classmethod
    def _time_steps_valid(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        _unique(value, "time_steps")
        if any(t < 1 or t > 64 for t in value):
            raise ValueError(f"time_steps must lie in [1, 64], got {list(value)}")
        return value

    @field_validator("downsample")
    @classmethod
    def _downsample_valid(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        _unique(value, "downsample")
        if any(d < 1 or d > 64 or d & (d - 1) for d in value):
            raise ValueError(f"downsample values must be powers of two up to 64, got {list(value)}")
        return value

    @field_validator("neurons", "surrogates", "kernels")
    @classmethod
    def _no_repeats(cls, value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        return tuple(_unique(value, str(info.field_name)))

    def problems(self) -> list[str]:
        """What makes these constraints impossible whatever the data set; empty when none.

        Kept out of field validation so that a SpaceConstraints can be built and inspected;
        a job spec refuses one with problems at submission, a SearchSpace when it is built.
        """
        found = []
        if self.min_depth > self.max_depth:
            found.append(
                f"space.min_depth ({self.min_depth}) exceeds space.max_depth ({self.max_depth})"
            )
        if self.event_driven_only and not set(self.mixers) & EVENT_DRIVEN_MIXERS:
            found.append(
                f"space.mixers: none of {list(self.mixers)} is event-driven friendly, and "
                f"space.event_driven_only is set (friendly: {sorted(EVENT_DRIVEN_MIXERS)})"
            )
        return found


class Suggester(Protocol):
    """Draws one named choice. Names are stable so that samplers can model them."""

    def categorical(self, name: str, choices: Sequence[T]) -> T: ...

    def integer(self, name: str, low: int, high: int) -> int: ...


class RandomSuggester:
    """A seeded Suggester for tests and benchmarks; also what `random` search would draw."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self.params: dict[str, Any] = {}

    def categorical(self, name: str, choices: Sequence[T]) -> T:
        value = self._rng.choice(list(choices))
        self.params[name] = value
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        value = self._rng.randint(low, high)
        self.params[name] = value
        return value


class SearchSpace:
    """A job's constraints bound to one data set's input geometry and the job's encoding.

    `input_shape` is one static sample or one event frame; `frames` is the event data's frame
    count per sample (None for static data), needed by, and only by, the `events` encoding.
    """

    def __init__(
        self,
        constraints: SpaceConstraints,
        input_shape: tuple[int, ...],
        num_classes: int,
        encoding: Encoding = "direct",
        frames: int | None = None,
    ) -> None:
        problems = constraints.problems()
        if problems:
            raise SpecError("; ".join(problems))
        if (encoding == "events") != (frames is not None):
            raise SpecError(
                f"encoding {encoding!r} with frames={frames}: the 'events' encoding, and only "
                "it, reads event frames (a frame count per sample)"
            )
        self.constraints = constraints
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.encoding = encoding
        self.frames = frames
        self.mixers = self._allowed_mixers()
        self.downsample = self._allowed_downsample()
        self.time_steps = self._allowed_time_steps()

    def _allowed_mixers(self) -> tuple[str, ...]:
        mixers = self.constraints.mixers
        if self.constraints.event_driven_only:
            mixers = tuple(m for m in mixers if m in EVENT_DRIVEN_MIXERS)
        if not mixers:
            raise SpecError("space.mixers: no event-driven friendly mixer left to search")
        return mixers

    def _allowed_downsample(self) -> tuple[int, ...]:
        spatial = spatial_shape(self.input_shape)
        allowed = tuple(
            d
            for d in self.constraints.downsample
            if all(size % d == 0 for size in spatial)
            and num_tokens(self.input_shape, d) <= self.constraints.max_tokens
        )
        if not allowed:
            raise SpecError(
                f"space.downsample: none of {list(self.constraints.downsample)} divides the "
                f"input {self.input_shape} into at most space.max_tokens "
                f"({self.constraints.max_tokens}) tokens"
            )
        return allowed

    def _allowed_time_steps(self) -> tuple[int, ...]:
        if self.frames is None:
            return self.constraints.time_steps
        # Each step sums an equal group of consecutive frames (spaces/encoding.py).
        allowed = tuple(t for t in self.constraints.time_steps if self.frames % t == 0)
        if not allowed:
            raise SpecError(
                f"space.time_steps: none of {list(self.constraints.time_steps)} divides the "
                f"data's {self.frames} frames per sample (encoding 'events' sums equal groups "
                "of consecutive frames into each time step)"
            )
        return allowed

    def sample(self, suggest: Suggester) -> ArchSpec:
        """Draw one architecture. Raises SpecError if the draw breaks a constraint."""
        c = self.constraints
        neuron_kind = suggest.categorical("neuron", c.neurons)
        surrogate = suggest.categorical("surrogate", c.surrogates)
        time_steps = suggest.categorical("time_steps", self.time_steps)
        downsample = suggest.categorical(DOWNSAMPLE_CHOICE, self.downsample)
        num_stages = suggest.integer("stages", 1, c.max_stages) if c.max_stages > 1 else 1
        stages = []
        for s in range(num_stages):
            dim = suggest.categorical(dim_choice(s), c.dims)
            depth = suggest.integer(depth_choice(s), c.min_depth, c.max_depth)
            blocks = []
            for b in range(depth):
                kind = suggest.categorical(mixer_choice(s, b), self.mixers)
                heads, kernel = 1, 3
                if kind in HEADED_MIXERS:
                    # The choice list must not depend on dim (Optuna refuses a categorical
                    # whose choices change between trials): draw from every allowed count,
                    # then take the largest allowed one that divides dim and is no larger.
                    drawn = suggest.categorical(f"s{s}.b{b}.heads", c.heads)
                    heads = max((h for h in c.heads if h <= drawn and dim % h == 0), default=1)
                if kind in KERNEL_MIXERS:
                    kernel = suggest.categorical(f"s{s}.b{b}.kernel", c.kernels)
                mlp_ratio = suggest.categorical(f"s{s}.b{b}.mlp_ratio", c.mlp_ratios)
                blocks.append(
                    BlockSpec(
                        mixer=MixerSpec(kind=kind, heads=heads, kernel=kernel), mlp_ratio=mlp_ratio
                    )
                )
            stages.append(StageSpec(dim=dim, blocks=tuple(blocks)))
        neuron = NeuronSpec(kind=neuron_kind, surrogate=surrogate, alpha=DEFAULT_ALPHA[surrogate])
        spec = ArchSpec(
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            time_steps=time_steps,
            encoding=self.encoding,
            downsample=downsample,
            stages=tuple(stages),
            neuron=neuron,
        )
        if c.max_params is not None:
            params = spec_params(spec)
            if params > c.max_params:
                raise ConstraintViolation(
                    f"{spec.name} has {params} parameters, above space.max_params ({c.max_params})",
                    arch=spec.model_dump(mode="json"),
                )
        return spec

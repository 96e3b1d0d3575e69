"""Input encodings: how one sample becomes the network's input over its T time steps.

- direct: the static sample itself, (B, C, *spatial). The patch embedding runs the layers that
  read it once and repeats their output over T, since T copies of the same input would give T
  identical results.
- rate: rate coding. At every step each input value p in [0, 1] fires a spike with probability
  p (Bernoulli), giving (T, B, C, *spatial) of 0/1. Sampling happens in training and in
  evaluation, which is what standard rate coding does. The draws come from torch's global
  generator on the input's device, so outputs repeat after the same `torch.manual_seed`. A
  value outside [0, 1] acts as 0 or 1: the data loader refuses such data for this encoding.
- events: recorded event frames (B, T_data, C, *spatial), e.g. DVS events integrated into
  frames. T_data must be a multiple of T. Each group of T_data / T consecutive frames is summed
  into one step (SpikingJelly's integrate-into-frames convention), giving (T, B, C, *spatial).

Encodings hold no parameters or buffers, so they add no state_dict keys: the weights of a spec
do not depend on its encoding. T is an argument of each call, not a setting, because the
network's `time_steps` may change between epochs (time inheritance, workers/fidelity.py).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn


class InputEncoding(nn.Module):
    """Turns a batch of samples into network input: (B, C, *spatial) for a static input that
    the patch embedding repeats over T itself, or (T, B, C, *spatial) for one input per step."""

    # True when the encoded input is binary spikes, so the layers reading it do accumulates
    # only (spaces/energy.py).
    spiking: ClassVar[bool] = False

    def __init__(self, in_channels: int, spatial: tuple[int, ...]) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.spatial = tuple(spatial)

    def sample(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape), or a flattened (B, C * prod(spatial)), -> (B, C, *spatial)."""
        return x.reshape(x.shape[0], self.in_channels, *self.spatial)


class DirectEncoding(InputEncoding):
    """The static sample, unchanged: (B, *input_shape) -> (B, C, *spatial)."""

    def forward(self, x: torch.Tensor, time_steps: int) -> torch.Tensor:
        return self.sample(x)


class RateEncoding(InputEncoding):
    """Bernoulli spikes of a sample in [0, 1]: (B, *input_shape) -> (T, B, C, *spatial)."""

    spiking = True

    def forward(self, x: torch.Tensor, time_steps: int) -> torch.Tensor:
        x = self.sample(x)
        # u < p with u ~ U[0, 1) is true with probability p: one draw per value and step.
        noise = torch.rand((time_steps, *x.shape), dtype=x.dtype, device=x.device)
        return (noise < x).to(x.dtype)


class EventEncoding(InputEncoding):
    """Event frames summed in groups: (B, T_data, *input_shape) -> (T, B, C, *spatial)."""

    def forward(self, x: torch.Tensor, time_steps: int) -> torch.Tensor:
        frame = self.in_channels * math.prod(self.spatial)
        values = math.prod(x.shape[1:])
        frames = values // frame
        if values % frame or frames % time_steps:
            raise ValueError(
                f"event input shaped {tuple(x.shape)} holds {values / frame:g} frames of "
                f"{(self.in_channels, *self.spatial)} per sample; the frame count must be a "
                f"multiple of time_steps ({time_steps}), whose consecutive groups are "
                "summed into one step each"
            )
        group = frames // time_steps
        x = x.reshape(x.shape[0], time_steps, group, self.in_channels, *self.spatial)
        # Time first, contiguous: the patch embedding then folds (T, B) into one batch axis
        # as a view, and its first layers read exactly this tensor.
        return x.sum(dim=2).transpose(0, 1).contiguous()


ENCODINGS: dict[str, type[InputEncoding]] = {
    "direct": DirectEncoding,
    "rate": RateEncoding,
    "events": EventEncoding,
}

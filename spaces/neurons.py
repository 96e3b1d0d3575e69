"""Multi-step spiking neurons on inputs shaped [T, B, ...]: LIF, PLIF and KLIF.

A step is charge, fire, reset (snn-methods.md section 1). `lif_step` is the pure step function;
the modules loop it over T from a zero state on every call, so no state leaks between batches
or between candidates. Both LIF conventions are one parameter set: decay-input (SpikingJelly,
Spikformer) is `decay_input=True`; leak-factor (TET, SML, STMixer code) `u = beta u + x` is
`decay_input=False` with `tau = 1 / (1 - beta)` (beta = 0.5 is tau = 2).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from spaces.kernels import multistep
from spaces.surrogates import spike


def charge(
    x: torch.Tensor,
    v: torch.Tensor,
    decay: float | torch.Tensor,
    v_reset: float | None,
    decay_input: bool,
) -> torch.Tensor:
    """H[t] from V[t-1] and X[t]; `decay` is 1/tau.

    Written as lerp, one pass over memory where the textbook form takes three; the fused op
    runs these same operations, so both paths round alike:
        decay-input  H = V + d (X + V_r - V)  = lerp(V, X + V_r, d)
        leak-factor  H = V - d (V - V_r) + X  = lerp(V, V_r, d) + X
    """
    rest = 0.0 if v_reset is None else v_reset
    if decay_input:
        return torch.lerp(v, x if rest == 0.0 else x + rest, decay)
    return torch.lerp(v, torch.full_like(v, rest), decay) + x


def reset(
    h: torch.Tensor, s: torch.Tensor, v_threshold: float, v_reset: float | None, detach_reset: bool
) -> torch.Tensor:
    """V[t] after a spike: hard reset to v_reset, or soft reset (subtract the threshold)."""
    if detach_reset:
        s = s.detach()
    if v_reset is None:
        return h - v_threshold * s
    return h * (1.0 - s) + v_reset * s


def lif_step(
    x: torch.Tensor,
    v: torch.Tensor,
    tau: float = 2.0,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    decay_input: bool = True,
    detach_reset: bool = False,
    surrogate: str = "sigmoid",
    alpha: float = 4.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step: (X[t], V[t-1]) -> (S[t], V[t])."""
    h = charge(x, v, 1.0 / tau, v_reset, decay_input)
    s = spike(h - v_threshold, surrogate, alpha)
    return s, reset(h, s, v_threshold, v_reset, detach_reset)


class SpikingNeuron(nn.Module):
    """Base of every neuron: a whole sequence per call, starting from V = 0.

    Subclasses define `decay()` (1/tau, a float or a learnable tensor) and may override `fire`.
    """

    def __init__(
        self,
        v_threshold: float = 1.0,
        v_reset: float | None = 0.0,
        decay_input: bool = True,
        detach_reset: bool = False,
        surrogate: str = "sigmoid",
        alpha: float = 4.0,
    ) -> None:
        super().__init__()
        self.v_threshold = v_threshold
        self.v_reset = v_reset
        self.decay_input = decay_input
        self.detach_reset = detach_reset
        self.surrogate = surrogate
        self.alpha = alpha

    def decay(self) -> float | torch.Tensor:
        raise NotImplementedError

    def slope(self) -> torch.Tensor | None:
        """KLIF's learnable k; None for neurons that fire on H itself."""
        return None

    def fire(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(spikes, the potential the reset acts on)."""
        return spike(h - self.v_threshold, self.surrogate, self.alpha), h

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return multistep(self, x_seq)

    def step_by_step(self, x_seq: torch.Tensor) -> torch.Tensor:
        """The reference time loop, one autograd graph per step."""
        decay = self.decay()
        v = torch.zeros_like(x_seq[0])
        spikes = []
        for x in x_seq:
            h = charge(x, v, decay, self.v_reset, self.decay_input)
            s, h = self.fire(h)
            v = reset(h, s, self.v_threshold, self.v_reset, self.detach_reset)
            spikes.append(s)
        return torch.stack(spikes)


class LIF(SpikingNeuron):
    """Leaky integrate-and-fire with a fixed time constant."""

    def __init__(self, tau: float = 2.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if tau <= 1.0:
            raise ValueError(f"tau must be greater than 1, got {tau}")
        self.tau = tau

    def decay(self) -> float:
        return 1.0 / self.tau

    def extra_repr(self) -> str:
        return f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}"


class PLIF(SpikingNeuron):
    """Parametric LIF (Fang et al., ICCV 2021): 1/tau = sigmoid(w), w learnable per layer."""

    def __init__(self, init_tau: float = 2.0, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if init_tau <= 1.0:
            raise ValueError(f"init_tau must be greater than 1, got {init_tau}")
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau - 1.0)))

    def decay(self) -> torch.Tensor:
        return self.w.sigmoid()


class KLIF(LIF):
    """KLIF (Jiang & Zhang): F = ReLU(k H), spikes from F and the reset acts on F; k learnable."""

    def __init__(self, tau: float = 2.0, **kwargs: object) -> None:
        super().__init__(tau=tau, **kwargs)
        self.k = nn.Parameter(torch.tensor(1.0))

    def slope(self) -> torch.Tensor:
        return self.k

    def fire(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.relu(self.k * h)
        return spike(f - self.v_threshold, self.surrogate, self.alpha), f


NEURONS: dict[str, type[SpikingNeuron]] = {"lif": LIF, "plif": PLIF, "klif": KLIF}

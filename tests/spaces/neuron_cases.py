"""The neuron configurations that the kernel tests (fused.py, the C kernel) run through: every
neuron, surrogate, reset, detach_reset and LIF convention."""

from __future__ import annotations

import itertools
from typing import Any

import torch

from spaces.neurons import NEURONS, SpikingNeuron
from spaces.space import DEFAULT_ALPHA
from spaces.surrogates import SURROGATE_GRADS

RESETS: dict[str, dict[str, Any]] = {
    "hard0": {"v_reset": 0.0},
    "hard-0.3": {"v_reset": -0.3},
    "soft": {"v_reset": None},
}
CASES = list(
    itertools.product(
        sorted(NEURONS), sorted(SURROGATE_GRADS), sorted(RESETS), [False, True], [True, False]
    )
)


def make_neuron(
    kind: str, surrogate: str, reset: str, detach: bool, decay_input: bool, tau: float = 2.5
) -> SpikingNeuron:
    tau_arg = {"plif": "init_tau"}.get(kind, "tau")
    neuron = NEURONS[kind](
        **{tau_arg: tau},
        v_threshold=0.8,
        decay_input=decay_input,
        detach_reset=detach,
        surrogate=surrogate,
        alpha=DEFAULT_ALPHA[surrogate],
        **RESETS[reset],
    )
    if kind == "klif":
        with torch.no_grad():
            neuron.k.fill_(1.3)  # away from 1, so that k's role shows
    return neuron

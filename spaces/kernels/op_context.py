"""What every multi-step neuron op (fused, C, Triton) shares: the neuron's configuration, what
forward keeps for backward and how backward reads it back; one convention, so that the ops
differ only in their arithmetic."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch


class NeuronConfig(NamedTuple):
    v_threshold: float
    v_reset: float | None  # None: soft reset (subtract the threshold)
    decay_input: bool
    detach_reset: bool
    surrogate: str
    alpha: float
    klif: bool


class Saved(NamedTuple):
    h_seq: torch.Tensor  # pre-reset potentials (T, n)
    decay: torch.Tensor
    k: torch.Tensor | None  # KLIF's slope, None for the other neurons
    cfg: NeuronConfig
    shape: torch.Size  # of x_seq, which grad x is returned in
    want_decay: bool  # whether backward must return the decay's gradient (PLIF)
    want_k: bool  # whether it must return k's

    def input_grads(
        self, grad_x: torch.Tensor, grad_decay: float, grad_k: float
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, None]:
        """backward's answer for (x_seq, decay, k, cfg), from grad x as (T, n)."""
        return (
            grad_x.view(self.shape),
            self.decay.new_tensor(grad_decay) if self.want_decay else None,
            self.k.new_tensor(grad_k) if self.want_k and self.k is not None else None,
            None,
        )


def keep_for_backward(
    ctx: Any,
    x_seq: torch.Tensor,
    h_seq: torch.Tensor,
    decay: torch.Tensor,
    k: torch.Tensor | None,
    cfg: NeuronConfig,
) -> None:
    # save_for_backward takes tensors only: no k is kept as an empty one.
    ctx.save_for_backward(h_seq, decay, k if k is not None else torch.empty(0))
    ctx.cfg = cfg
    ctx.has_k = k is not None
    ctx.shape = x_seq.shape


def saved_for_backward(ctx: Any) -> Saved:
    h_seq, decay, k_saved = ctx.saved_tensors
    return Saved(
        h_seq=h_seq,
        decay=decay,
        k=k_saved if ctx.has_k else None,
        cfg=ctx.cfg,
        shape=ctx.shape,
        want_decay=bool(ctx.needs_input_grad[1]),
        want_k=bool(ctx.has_k and ctx.needs_input_grad[2]),
    )

"""Training losses for spiking networks (snn-methods.md section 4).

- `mean_output_ce`: standard direct training, cross-entropy of the time-averaged output.
- `tet_loss`: TET (Deng, Li, Zhang, Gu, ICLR 2022), cross-entropy at every time step plus a
  mean-squared pull of every output towards phi.
- `sml_loss`: surrogate module learning (Deng, Lin, Li, Gu, ICML 2023), hard losses of the SNN
  and of its surrogate modules plus symmetric, temperature-softened KL terms between them;
  optionally with TET as the SNN's hard loss.

Per-step logits are shaped (T, B, K), time-averaged ones (B, K); labels are (B,) class indices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def mean_output_ce(
    per_step_logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """CE(mean over t of O(t), y)."""
    return F.cross_entropy(per_step_logits.mean(dim=0), y, label_smoothing=label_smoothing)


def tet_loss(
    per_step_logits: torch.Tensor,
    y: torch.Tensor,
    lam: float,
    phi: float = 1.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """(1 - lam) * (1/T) sum_t CE(O(t), y) + lam * (1/T) sum_t MSE(O(t), phi)."""
    if per_step_logits.dim() != 3:
        raise ValueError(f"TET needs per-step logits (T, B, K), got {tuple(per_step_logits.shape)}")
    steps = per_step_logits.shape[0]
    # Every step has the same batch, so the mean over (t, b) is the mean over t of batch means.
    ce = F.cross_entropy(
        per_step_logits.flatten(0, 1), y.repeat(steps), label_smoothing=label_smoothing
    )
    mse = (per_step_logits - phi).pow(2).mean()
    return (1.0 - lam) * ce + lam * mse


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, tau_kd: float) -> torch.Tensor:
    """KL(q_teacher || q_student), q = softmax(o / tau_kd), batchmean; the teacher side is a
    detached target, so the gradient flows into the student only."""
    target = F.softmax(teacher.detach() / tau_kd, dim=1)
    return F.kl_div(F.log_softmax(student / tau_kd, dim=1), target, reduction="batchmean")


def sml_loss(
    snn_logits: torch.Tensor,
    sm_logits: Sequence[torch.Tensor],
    y: torch.Tensor,
    alpha: float = 0.5,
    lam: float = 0.9,
    tau_kd: float = 3.0,
    *,
    tet_lam: float | None = None,
    phi: float = 1.0,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Surrogate module learning with N = len(sm_logits) modules:

        (1 - lam) / (1 + N alpha) * [CE(o_snn) + alpha * sum_i CE(o_i)]
        + lam / (2N) * sum_i [KL(q_snn || q_i) + KL(q_i || q_snn)]

    q = softmax(o / tau_kd); the target (first) side of each KL is detached, reduction
    batchmean, so KL(q_snn || q_i) trains module i and KL(q_i || q_snn) trains the SNN. With
    no modules the KL sum is empty (zero). `snn_logits` is (B, K), or (T, B, K) per step,
    averaged over time for o_snn; with `tet_lam` set, CE(o_snn) is replaced by
    `tet_loss(snn_logits, y, tet_lam, phi)` on the per-step logits (the KL terms still use
    their time average).
    """
    if tet_lam is not None and snn_logits.dim() != 3:
        raise ValueError("sml_loss with tet_lam needs per-step SNN logits (T, B, K)")
    snn_mean = snn_logits.mean(dim=0) if snn_logits.dim() == 3 else snn_logits
    if tet_lam is None:
        snn_hard = F.cross_entropy(snn_mean, y, label_smoothing=label_smoothing)
    else:
        snn_hard = tet_loss(snn_logits, y, tet_lam, phi, label_smoothing=label_smoothing)
    n = len(sm_logits)
    hard = snn_hard
    for logits in sm_logits:
        hard = hard + alpha * F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    loss = (1.0 - lam) / (1.0 + n * alpha) * hard
    if n and lam:
        soft = torch.stack(
            [soft_kl(o, snn_mean, tau_kd) + soft_kl(snn_mean, o, tau_kd) for o in sm_logits]
        ).sum()
        loss = loss + lam / (2 * n) * soft
    return loss

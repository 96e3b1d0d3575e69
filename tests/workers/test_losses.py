"""Losses against hand-written computations (explicit loops over time, batch and classes),
gradient checks in float64, and the reductions between them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from workers.losses import mean_output_ce, sml_loss, soft_kl, tet_loss

T, B, K = 3, 4, 5


def _softmax(row: list[float], tau: float = 1.0) -> list[float]:
    exps = [math.exp(v / tau) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def _ce(logits: list[list[float]], y: list[int]) -> float:
    """Mean over the batch of -log softmax(o_b)[y_b]."""
    return sum(-math.log(_softmax(row)[label]) for row, label in zip(logits, y, strict=True)) / len(
        y
    )


def _kl(p_logits: list[list[float]], q_logits: list[list[float]], tau: float) -> float:
    """(1/B) sum_b sum_k p log(p / q), p and q softened by tau."""
    total = 0.0
    for p_row, q_row in zip(p_logits, q_logits, strict=True):
        p, q = _softmax(p_row, tau), _softmax(q_row, tau)
        total += sum(pk * math.log(pk / qk) for pk, qk in zip(p, q, strict=True))
    return total / len(p_logits)


def _time_mean(steps: list[list[list[float]]]) -> list[list[float]]:
    n = len(steps)
    return [
        [sum(steps[t][b][k] for t in range(n)) / n for k in range(len(steps[0][0]))]
        for b in range(len(steps[0]))
    ]


def _tet(steps: list[list[list[float]]], y: list[int], lam: float, phi: float) -> float:
    n = len(steps)
    ce = sum(_ce(steps[t], y) for t in range(n)) / n
    mse = 0.0
    for t in range(n):
        sq = [(v - phi) ** 2 for row in steps[t] for v in row]
        mse += sum(sq) / len(sq)
    return (1 - lam) * ce + lam * mse / n


@pytest.fixture
def data() -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    steps = torch.randn(T, B, K, generator=g, dtype=torch.float64) * 2
    sms = [torch.randn(B, K, generator=g, dtype=torch.float64) * 2 for _ in range(3)]
    y = torch.tensor([0, 3, 4, 1])
    return steps, sms, y


def test_mean_output_ce(data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]) -> None:
    steps, _, y = data
    expected = _ce(_time_mean(steps.tolist()), y.tolist())
    assert float(mean_output_ce(steps, y)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("lam", "phi"), [(0.0, 1.0), (0.05, 1.0), (0.5, 0.3)])
def test_tet_by_hand(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor], lam: float, phi: float
) -> None:
    steps, _, y = data
    expected = _tet(steps.tolist(), y.tolist(), lam, phi)
    assert float(tet_loss(steps, y, lam, phi)) == pytest.approx(expected, rel=1e-12)


def test_tet_without_mse_is_the_mean_of_per_step_ce(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor],
) -> None:
    steps, _, y = data
    per_step = torch.stack([F.cross_entropy(steps[t], y) for t in range(T)]).mean()
    assert torch.allclose(tet_loss(steps, y, lam=0.0), per_step, rtol=0, atol=1e-14)
    # ... which is not the CE of the mean output (TET trains every step).
    assert not torch.allclose(tet_loss(steps, y, lam=0.0), mean_output_ce(steps, y))


def test_tet_needs_per_step_logits() -> None:
    with pytest.raises(ValueError, match="per-step"):
        tet_loss(torch.zeros(B, K), torch.zeros(B, dtype=torch.long), 0.05)


def _sml_by_hand(
    snn: list[list[float]],
    sms: list[list[list[float]]],
    y: list[int],
    alpha: float,
    lam: float,
    tau: float,
    snn_hard: float | None = None,
) -> float:
    n = len(sms)
    hard = _ce(snn, y) if snn_hard is None else snn_hard
    for sm in sms:
        hard += alpha * _ce(sm, y)
    soft = 0.0
    for sm in sms:
        soft += _kl(snn, sm, tau) + _kl(sm, snn, tau)
    return (1 - lam) / (1 + n * alpha) * hard + (lam / (2 * n) * soft if n else 0.0)


@pytest.mark.parametrize(
    ("n", "alpha", "lam", "tau"),
    [(1, 0.5, 0.9, 3.0), (3, 0.5, 0.9, 3.0), (2, 1.0, 0.3, 1.0), (3, 0.0, 0.5, 2.0)],
)
def test_sml_by_hand(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor],
    n: int,
    alpha: float,
    lam: float,
    tau: float,
) -> None:
    steps, sms, y = data
    snn = _time_mean(steps.tolist())
    expected = _sml_by_hand(snn, [s.tolist() for s in sms[:n]], y.tolist(), alpha, lam, tau)
    got = sml_loss(steps, sms[:n], y, alpha=alpha, lam=lam, tau_kd=tau)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    # Time-averaged SNN logits give the same loss as per-step ones.
    assert torch.allclose(got, sml_loss(steps.mean(0), sms[:n], y, alpha, lam, tau))


def test_sml_with_tet_by_hand(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor],
) -> None:
    steps, sms, y = data
    tet = _tet(steps.tolist(), y.tolist(), 0.05, 1.0)
    expected = _sml_by_hand(
        _time_mean(steps.tolist()), [s.tolist() for s in sms], y.tolist(), 0.5, 0.9, 3.0, tet
    )
    got = sml_loss(steps, sms, y, tet_lam=0.05, phi=1.0)
    assert float(got) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="per-step"):
        sml_loss(steps.mean(0), sms, y, tet_lam=0.05)


def test_sml_without_modules_or_kl_is_ce(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor],
) -> None:
    steps, _, y = data
    assert torch.equal(sml_loss(steps, [], y, lam=0.0), mean_output_ce(steps, y))
    assert torch.equal(sml_loss(steps, [], y, lam=0.0, tet_lam=0.05), tet_loss(steps, y, 0.05))


def test_label_smoothing_reaches_every_ce(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor],
) -> None:
    steps, sms, y = data
    s = 0.1
    assert torch.equal(
        mean_output_ce(steps, y, label_smoothing=s),
        F.cross_entropy(steps.mean(0), y, label_smoothing=s),
    )
    expected = (F.cross_entropy(steps.mean(0), y, label_smoothing=s) * 1.0) + 0.5 * F.cross_entropy(
        sms[0], y, label_smoothing=s
    )
    got = sml_loss(steps, sms[:1], y, alpha=0.5, lam=0.0, label_smoothing=s)
    assert torch.allclose(got, expected / 1.5)


def test_gradchecks(data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]) -> None:
    steps, sms, y = data
    steps = steps.clone().requires_grad_(True)
    sm = sms[0].clone().requires_grad_(True)
    teacher = sms[1]
    assert torch.autograd.gradcheck(lambda o: mean_output_ce(o, y), (steps,))
    assert torch.autograd.gradcheck(lambda o: tet_loss(o, y, 0.05, 1.0), (steps,))
    # A fixed teacher makes the KL a smooth function of the student alone.
    assert torch.autograd.gradcheck(lambda o: soft_kl(o, teacher, 3.0), (sm,))
    # Without the (detached) KL terms SML is smooth in every input.
    assert torch.autograd.gradcheck(
        lambda o, s: sml_loss(o, [s], y, lam=0.0, tet_lam=0.05), (steps, sm)
    )


def test_kl_targets_are_detached(
    data: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor],
) -> None:
    """With alpha = 0 and lam = 1 only KL terms remain. d KL(p || softmax(o / tau)) / d o is
    (softmax(o / tau) - p) / tau per sample: each side receives only the gradient of the term
    in which it is the student."""
    steps, sms, y = data
    snn = steps.mean(0).clone().requires_grad_(True)
    students = [s.clone().requires_grad_(True) for s in sms]
    tau, n = 3.0, len(sms)
    sml_loss(snn, students, y, alpha=0.0, lam=1.0, tau_kd=tau).backward()
    q_snn = torch.softmax(snn.detach() / tau, dim=1)
    expected_snn = torch.zeros_like(q_snn)
    for s, student in zip(sms, students, strict=True):
        q_i = torch.softmax(s / tau, dim=1)
        expected = (q_i - q_snn) / (tau * B) / (2 * n)
        assert torch.allclose(student.grad, expected, atol=1e-12)
        expected_snn += (q_snn - q_i) / (tau * B) / (2 * n)
    assert torch.allclose(snn.grad, expected_snn, atol=1e-12)

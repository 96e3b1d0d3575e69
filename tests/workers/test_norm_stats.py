"""Batch-norm statistics recomputed while a run is young: the averages by hand, when it runs,
and what it changes in a real first epoch on digits (the evaluation) and what it does not (the
training)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spaces.arch import ArchSpec
from workers import train as train_module
from workers.budget import Budget
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset
from workers.norm_stats import (
    RECALIBRATION_BATCH,
    RECALIBRATION_SAMPLES,
    batch_norms,
    needs_recalibration,
    recalibrate,
)
from workers.train import EpochMetrics, train_and_evaluate


def test_recalibrate_averages_each_batch_statistics_by_hand() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    model.eval()
    x = torch.randn(2 * RECALIBRATION_BATCH + 7, 5) * 3 + 1
    recalibrate(model, x)
    with torch.no_grad():
        h = model[0](x)
    batches = list(torch.split(h, RECALIBRATION_BATCH))
    # torch's cumulative average (momentum None): the mean of the per-batch statistics, the
    # variance unbiased within each batch.
    mean = torch.stack([b.mean(0) for b in batches]).mean(0)
    var = torch.stack([b.var(0, unbiased=True) for b in batches]).mean(0)
    norm = model[1]
    assert isinstance(norm, nn.BatchNorm1d)
    torch.testing.assert_close(norm.running_mean, mean)
    torch.testing.assert_close(norm.running_var, var)
    assert int(norm.num_batches_tracked) == len(batches)
    # The mode and the momentum are as they were.
    assert not model.training and norm.momentum == 0.1


def test_recalibrate_keeps_train_mode_and_weights() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model.train()
    before = copy.deepcopy(model.state_dict())
    recalibrate(model, torch.randn(50, 4))
    assert model.training
    for name in ("0.weight", "0.bias", "1.weight", "1.bias"):
        torch.testing.assert_close(model.state_dict()[name], before[name], rtol=0, atol=0)


def test_needs_recalibration_while_the_initial_values_weigh_over_one_percent() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    # 0.9^43 = 1.08% > 1%, 0.9^44 = 0.97%.
    assert needs_recalibration(model, 0)
    assert needs_recalibration(model, 43)
    assert not needs_recalibration(model, 44)
    assert not needs_recalibration(nn.Linear(4, 4), 0)  # nothing to recalibrate
    assert batch_norms([nn.BatchNorm1d(4, track_running_stats=False)]) == []


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    return load_dataset(DigitsDataset(name="digits"), tmp_path_factory.mktemp("data"), seed=0)


# Two blocks of width 48 at T = 2 on 2x2 tokens.
SPEC = ArchSpec.model_validate(
    {
        "input_shape": (8, 8),
        "num_classes": 10,
        "time_steps": 2,
        "downsample": 4,
        "stages": [
            {
                "dim": 48,
                "blocks": [
                    {"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2.0},
                    {"mixer": {"kind": "conv", "kernel": 3}, "mlp_ratio": 1.0},
                ],
            }
        ],
    }
)
BUDGET = Budget(epochs=3, batch_size=64)  # 20 batches an epoch on digits


def _curve(
    digits: Splits, monkeypatch: pytest.MonkeyPatch, recalibrating: bool
) -> list[EpochMetrics]:
    with monkeypatch.context() as patch:
        if not recalibrating:
            patch.setattr(train_module, "needs_recalibration", lambda model, steps: False)
        return train_and_evaluate(SPEC, digits, BUDGET, seed=0).curve


def test_first_epochs_are_evaluated_with_true_statistics(
    digits: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = _curve(digits, monkeypatch, recalibrating=False)
    curve = _curve(digits, monkeypatch, recalibrating=True)
    # Training is the same run: train mode normalises by each batch's own statistics.
    assert [m.train_loss for m in curve] == [m.train_loss for m in plain]
    # Evaluated with the young running average, the first epoch is all but silent and near
    # chance (measured: 0.17, spike rate 0.001); with the statistics of its weights it is
    # neither (0.45, 0.05).
    assert plain[0].spike_rate < 0.005
    assert curve[0].spike_rate > 0.02
    assert curve[0].accuracy > plain[0].accuracy + 0.2


def test_recalibration_stops_once_the_running_average_is_settled(
    digits: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = train_module.recalibrate

    def counting(model: nn.Module, x: torch.Tensor) -> None:
        calls.append(len(x))
        real(model, x)

    monkeypatch.setattr(train_module, "recalibrate", counting)
    train_and_evaluate(SPEC, digits, BUDGET, seed=0)
    # After epochs 1 and 2 (20 and 40 batches: 0.9^40 = 1.5% > 1%), not after epoch 3 (60).
    assert calls == [RECALIBRATION_SAMPLES, RECALIBRATION_SAMPLES]

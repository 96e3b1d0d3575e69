"""train_and_evaluate: the curve, early stopping through the callback, determinism, learning."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import count_params
from spaces.energy import measure_costs
from workers.budget import Budget
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset
from workers.train import COST_SAMPLES, EpochMetrics, evaluate, train_and_evaluate


def _spec(dim: int = 16, mixer: str = "stm") -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": (8, 8),
            "num_classes": 10,
            "time_steps": 2,
            "downsample": 2,
            "stages": [{"dim": dim, "blocks": [{"mixer": {"kind": mixer, "heads": 2}}]}],
        }
    )


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    return load_dataset(DigitsDataset(name="digits"), tmp_path_factory.mktemp("data"), seed=0)


@pytest.fixture(scope="module")
def small(digits: Splits) -> Splits:
    """200 training samples, 60 for validation and 60 for test."""
    return Splits(
        name="digits-200",
        x_train=digits.x_train[:200],
        y_train=digits.y_train[:200],
        x_val=digits.x_val[:60],
        y_val=digits.y_val[:60],
        x_test=digits.x_test[:60],
        y_test=digits.y_test[:60],
        num_classes=10,
    )


BUDGET = Budget(epochs=2, batch_size=50)


def _comparable(curve: list[EpochMetrics]) -> list[dict[str, object]]:
    return [{k: v for k, v in m.as_dict().items() if k != "epoch_time_s"} for m in curve]


def test_curve_has_one_entry_per_epoch(small: Splits) -> None:
    seen: list[tuple[EpochMetrics, nn.Module]] = []
    result = train_and_evaluate(
        _spec(), small, BUDGET, seed=0, on_epoch=lambda m, model: seen.append((m, model))
    )
    curve = result.curve
    assert [m.epoch for m in curve] == [1, 2]
    assert [m.final for m in curve] == [False, True]
    assert curve[0].test_accuracy is None
    assert curve[1].test_accuracy is not None and 0.0 <= curve[1].test_accuracy <= 1.0
    assert result.last is curve[-1]
    params = count_params(build_model(_spec(), seed=0))
    for m in curve:
        assert m.params == params
        assert 0.0 <= m.accuracy <= 1.0
        assert 0.0 <= m.spike_rate <= 1.0
        assert m.train_loss > 0 and m.epoch_time_s > 0
        assert set(m.as_dict()) == {
            "epoch",
            "train_loss",
            "accuracy",
            "spike_rate",
            "params",
            "epoch_time_s",
            "energy",
            "sops",
            "flops",
            "energy_ann",
            "final",
            "test_accuracy",
            "val_loss",
        }
        # The first layers cost MACs whatever the spikes; at T=2 a FLOP costs the SNN at most
        # 2 x 0.9 pJ against the ANN's 4.6 pJ.
        assert m.sops >= 0 and 0 < m.energy <= m.energy_ann and m.flops > 0
    # The callback saw every epoch's metrics and the model being trained.
    assert [m for m, _ in seen] == curve
    assert all(model is result.model for _, model in seen)
    assert not result.model.training
    # The reported final accuracies are those of the returned model.
    acc, rate = evaluate(result.model, small.x_val, small.y_val)
    assert acc == curve[-1].accuracy and rate == curve[-1].spike_rate
    assert evaluate(result.model, small.x_test, small.y_test)[0] == curve[-1].test_accuracy
    # The validation loss is the plain cross-entropy of the whole split's time-averaged logits,
    # however the evaluation batches it.
    with torch.no_grad():
        logits = result.model(small.x_val)
    expected = float(torch.nn.functional.cross_entropy(logits, small.y_val))
    assert curve[-1].val_loss == pytest.approx(expected, rel=1e-5)
    assert all(m.val_loss is not None and m.val_loss > 0 for m in curve)
    costs = measure_costs(result.model, small.x_val[:COST_SAMPLES])
    assert costs.energy_snn_pj == curve[-1].energy and costs.sops == curve[-1].sops


def test_callback_can_stop_training(small: Splits) -> None:
    calls: list[int] = []

    def stop_after_first(metrics: EpochMetrics, model: nn.Module) -> bool:
        calls.append(metrics.epoch)
        return metrics.epoch >= 1

    result = train_and_evaluate(_spec(), small, BUDGET, seed=0, on_epoch=stop_after_first)
    assert calls == [1]
    assert len(result.curve) == 1
    assert not result.curve[0].final
    assert result.curve[0].test_accuracy is None  # the test split is never seen early


def test_same_seed_same_curve(small: Splits) -> None:
    a = train_and_evaluate(_spec(), small, BUDGET, seed=3)
    b = train_and_evaluate(_spec(), small, BUDGET, seed=3)
    assert _comparable(a.curve) == _comparable(b.curve)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = train_and_evaluate(_spec(), small, BUDGET, seed=4)
    assert [m.train_loss for m in c.curve] != [m.train_loss for m in a.curve]


def test_training_leaves_the_data_alone(small: Splits) -> None:
    before = small.x_train.clone()
    train_and_evaluate(_spec(), small, Budget(epochs=1, batch_size=64), seed=0)
    assert torch.equal(small.x_train, before)


def test_learns_digits_better_than_chance(digits: Splits) -> None:
    result = train_and_evaluate(
        _spec(dim=32), digits, Budget(epochs=5, batch_size=64, lr=1e-2), seed=0
    )
    curve = result.curve
    assert len(curve) == 5
    assert curve[-1].train_loss < curve[0].train_loss
    assert curve[-1].accuracy > 0.4, [m.accuracy for m in curve]  # chance is 0.1
    assert curve[-1].test_accuracy is not None and curve[-1].test_accuracy > 0.4


@pytest.mark.parametrize(
    "budget",
    [
        {"epochs": 0},
        {"epochs": 1001},
        {"epochs": 1, "batch_size": 0},
        {"epochs": 1, "lr": 0.0},
        {"epochs": 1, "label_smoothing": 1.0},
        {"epochs": 1, "momentum": 0.9},
    ],
)
def test_budget_bounds(budget: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Budget.model_validate(budget)


def test_splits_to_device(small: Splits) -> None:
    moved = small.to("cpu")
    assert moved.name == small.name and moved.num_classes == small.num_classes
    assert moved.input_shape == (8, 8)
    assert torch.equal(moved.x_val, small.x_val)

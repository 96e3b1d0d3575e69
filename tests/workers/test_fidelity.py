"""Cheaper fidelities: a stratified, seeded share of the training split, and epochs trained at
fewer time steps before fine-tuning at the architecture's."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch
from pydantic import ValidationError

import workers.train as train_module
from spaces.arch import ArchSpec
from spaces.errors import SpecError
from workers.budget import Budget
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset
from workers.fidelity import check_fidelity, epoch_time_steps, train_subset


def _spec(time_steps: int = 4, dim: int = 16) -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": (8, 8),
            "num_classes": 10,
            "time_steps": time_steps,
            "downsample": 2,
            "stages": [{"dim": dim, "blocks": [{"mixer": {"kind": "stm", "heads": 2}}]}],
        }
    )


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    return load_dataset(DigitsDataset(name="digits"), tmp_path_factory.mktemp("data"), seed=0)


def _counts(y: torch.Tensor) -> torch.Tensor:
    return torch.bincount(y, minlength=10)


@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5, 0.9])
def test_a_subset_keeps_each_class_share(digits: Splits, fraction: float) -> None:
    part = train_subset(digits, fraction, seed=3)
    whole, kept = _counts(digits.y_train), _counts(part.y_train)
    assert torch.equal(kept, torch.round(whole * fraction).clamp(min=1).long())
    assert len(part.y_train) == pytest.approx(len(digits.y_train) * fraction, abs=10)
    # Samples of the training split, each once, with their own labels: samples that hold their
    # own index say which were picked.
    n = len(digits.y_train)
    indexed = dataclasses.replace(digits, x_train=torch.arange(n).reshape(n, 1))
    picked = train_subset(indexed, fraction, seed=3)
    index = picked.x_train.flatten()
    assert len(set(index.tolist())) == len(index)
    assert torch.equal(digits.y_train[index], picked.y_train)
    assert torch.equal(picked.y_train, part.y_train)


def test_validation_and_test_splits_are_never_subset(digits: Splits) -> None:
    part = train_subset(digits, 0.2, seed=0)
    for name in ("x_val", "y_val", "x_test", "y_test"):
        assert getattr(part, name) is getattr(digits, name)
    assert part.name == digits.name and part.num_classes == digits.num_classes
    assert train_subset(digits, 1.0, seed=0) is digits


def test_the_subset_is_the_seeds(digits: Splits) -> None:
    a, b = train_subset(digits, 0.3, seed=1), train_subset(digits, 0.3, seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    c = train_subset(digits, 0.3, seed=2)
    assert torch.equal(_counts(a.y_train), _counts(c.y_train))
    assert not torch.equal(a.x_train, c.x_train)


def test_a_rare_class_keeps_a_sample(digits: Splits) -> None:
    rare = torch.nonzero(digits.y_train == 9).flatten()[:3]
    rest = torch.nonzero(digits.y_train != 9).flatten()
    index = torch.cat([rest, rare])
    skewed = Splits(
        name="skewed",
        x_train=digits.x_train[index],
        y_train=digits.y_train[index],
        x_val=digits.x_val,
        y_val=digits.y_val,
        x_test=digits.x_test,
        y_test=digits.y_test,
        num_classes=10,
    )
    assert int(_counts(train_subset(skewed, 0.05, seed=0).y_train)[9]) == 1


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_fraction_out_of_range_is_refused(digits: Splits, fraction: float) -> None:
    with pytest.raises(ValueError, match="train_fraction"):
        train_subset(digits, fraction, seed=0)
    with pytest.raises(ValidationError, match="train_fraction"):
        Budget(epochs=1, train_fraction=fraction)


def _spy(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[int, int]], list[int]]:
    """(time steps, batch size) of every training batch, and time steps of every evaluation."""
    batches: list[tuple[int, int]] = []
    evaluations: list[int] = []
    real_loss, real_evaluate = train_module.batch_loss, train_module.evaluate

    def loss(model: Any, surrogates: Any, x: torch.Tensor, y: torch.Tensor, budget: Budget) -> Any:
        batches.append((model.time_steps, len(y)))
        return real_loss(model, surrogates, x, y, budget)

    def evaluate(model: Any, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        evaluations.append(model.time_steps)
        return real_evaluate(model, x, y)

    monkeypatch.setattr(train_module, "batch_loss", loss)
    monkeypatch.setattr(train_module, "evaluate", evaluate)
    return batches, evaluations


def test_training_sees_only_the_subset(digits: Splits, monkeypatch: pytest.MonkeyPatch) -> None:
    batches, _ = _spy(monkeypatch)
    budget = Budget(epochs=1, batch_size=64, train_fraction=0.25)
    train_module.train_and_evaluate(_spec(time_steps=1), digits, budget, seed=0)
    assert sum(n for _, n in batches) == len(train_subset(digits, 0.25, seed=0).y_train)


def test_inherited_epochs_train_at_the_small_t_and_learn(
    digits: Splits, monkeypatch: pytest.MonkeyPatch
) -> None:
    """T=4 network, its first 3 of 5 epochs at T=2: every batch of those at T=2, the rest at
    T=4, every evaluation at T=4, and it learns digits well above chance (about 0.75 here, as
    many epochs all at T=4 reach; 0.1 is chance)."""
    batches, evaluations = _spy(monkeypatch)
    budget = Budget(epochs=5, batch_size=64, lr=1e-2, inherit_time_steps=2, inherit_epochs=3)
    result = train_module.train_and_evaluate(_spec(time_steps=4, dim=32), digits, budget, seed=0)
    per_epoch = len(batches) // 5
    assert len(batches) == 5 * per_epoch
    assert [t for t, _ in batches] == [2] * (3 * per_epoch) + [4] * (2 * per_epoch)
    assert set(evaluations) == {4}
    assert result.model.time_steps == 4
    curve = result.curve
    assert [m.epoch for m in curve] == [1, 2, 3, 4, 5]
    assert curve[-1].accuracy > 0.5, [m.accuracy for m in curve]
    assert curve[-1].test_accuracy is not None and curve[-1].test_accuracy > 0.5


def test_epoch_time_steps() -> None:
    budget = Budget(epochs=4, inherit_time_steps=2, inherit_epochs=2)
    assert [epoch_time_steps(_spec(8), budget, e) for e in (1, 2, 3, 4)] == [2, 2, 8, 8]
    plain = Budget(epochs=2)
    assert [epoch_time_steps(_spec(8), plain, e) for e in (1, 2)] == [8, 8]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"epochs": 3, "inherit_time_steps": 1, "inherit_epochs": 3}, "inherit_epochs"),
        ({"epochs": 3, "inherit_time_steps": 1}, "inherit_epochs"),
        ({"epochs": 3, "inherit_epochs": 1}, "inherit_time_steps"),
        ({"epochs": 3, "inherit_time_steps": 0, "inherit_epochs": 1}, "inherit_time_steps"),
        ({"epochs": 3, "checkpoint_every": -1}, "checkpoint_every"),
        ({"epochs": 3, "precision": "fp8"}, "precision"),
    ],
)
def test_bad_fidelities_are_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Budget.model_validate(fields)


def test_inheriting_at_or_above_the_architectures_t_is_refused(digits: Splits) -> None:
    budget = Budget(epochs=2, inherit_time_steps=4, inherit_epochs=1)
    check_fidelity(_spec(time_steps=5), budget)
    check_fidelity(_spec(time_steps=8), budget, frames=16)
    with pytest.raises(SpecError, match=r"budget\.inherit_time_steps \(4\).*6 frames"):
        check_fidelity(_spec(time_steps=6), budget, frames=6)
    with pytest.raises(SpecError, match=r"budget\.inherit_time_steps \(4\).*time_steps \(4\)"):
        train_module.train_and_evaluate(_spec(time_steps=4), digits, budget)

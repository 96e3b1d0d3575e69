"""train_and_evaluate with each loss (CE, TET, SML, SML+TET): it learns, the surrogate modules
stay out of the returned model and its metrics, and the loss options are bounded."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from spaces.arch import ArchSpec
from spaces.build import build_model
from spaces.costs import count_params
from spaces.surrogate_modules import build_surrogate_modules
from workers.budget import Budget
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset
from workers.train import batch_loss, evaluate, train_and_evaluate

LOSSES = ("ce", "tet", "sml", "sml+tet")


def _spec() -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": (8, 8),
            "num_classes": 10,
            "time_steps": 2,
            "downsample": 2,
            "stages": [{"dim": 32, "blocks": [{"mixer": {"kind": "conv"}}] * 2}],
        }
    )


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    return load_dataset(DigitsDataset(name="digits"), tmp_path_factory.mktemp("data"), seed=0)


@pytest.mark.parametrize("loss", LOSSES)
def test_learns_with_each_loss(digits: Splits, loss: str) -> None:
    spec = _spec()
    budget = Budget.model_validate({"epochs": 2, "batch_size": 32, "loss": loss})
    result = train_and_evaluate(spec, digits, budget, seed=0)
    last = result.last
    assert last.accuracy > 0.25, [m.accuracy for m in result.curve]  # chance is 0.1
    assert last.test_accuracy is not None and last.test_accuracy > 0.25
    # The returned model is the deployable network alone: its keys, its parameter count.
    deployable = build_model(spec, seed=0)
    assert list(result.model.state_dict()) == list(deployable.state_dict())
    assert last.params == count_params(deployable)
    # The metrics are those of the SNN head alone.
    assert evaluate(result.model, digits.x_val, digits.y_val) == (last.accuracy, last.spike_rate)


@pytest.mark.parametrize("loss", ["sml", "sml+tet"])
def test_sml_training_is_deterministic(digits: Splits, loss: str) -> None:
    small = Splits("digits-100", *(t[:100] for t in _tensors(digits)), num_classes=10)
    budget = Budget.model_validate({"epochs": 1, "batch_size": 50, "loss": loss})
    a = train_and_evaluate(_spec(), small, budget, seed=2)
    b = train_and_evaluate(_spec(), small, budget, seed=2)
    assert a.last.train_loss == b.last.train_loss
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def _tensors(s: Splits) -> tuple[torch.Tensor, ...]:
    return (s.x_train, s.y_train, s.x_val, s.y_val, s.x_test, s.y_test)


def test_sml_loss_trains_the_surrogate_modules_too(digits: Splits) -> None:
    spec = _spec()
    model, sms = build_model(spec, seed=0), build_surrogate_modules(spec, seed=0)
    budget = Budget(epochs=1, loss="sml")
    batch_loss(model, sms, digits.x_train[:16], digits.y_train[:16], budget).backward()
    assert all(p.grad is not None for p in sms.parameters())
    assert model.head.fc.weight.grad is not None
    with pytest.raises(ValueError, match="surrogate modules"):
        batch_loss(model, None, digits.x_train[:16], digits.y_train[:16], budget)


def test_default_loss_is_ce() -> None:
    assert Budget(epochs=1).loss == "ce"


@pytest.mark.parametrize(
    "budget",
    [
        {"epochs": 1, "loss": "mse"},
        {"epochs": 1, "tet_lambda": -0.1},
        {"epochs": 1, "tet_lambda": 1.0},
        {"epochs": 1, "tet_phi": 11.0},
        {"epochs": 1, "sml_alpha": -1.0},
        {"epochs": 1, "sml_lambda": 1.0},
        {"epochs": 1, "sml_tau_kd": 0.0},
        {"epochs": 1, "sml_modules": 2},
    ],
)
def test_loss_options_are_bounded(budget: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Budget.model_validate(budget)

"""Training states: taken when due, written and read back, and a resumed run that continues
exactly as the run that never stopped (and visibly does not when a part is left out)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from spaces.arch import ArchSpec
from spaces.errors import SpikenasError
from workers.budget import Budget
from workers.checkpoint import CheckpointError, TrainState, load_state, save_state
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset
from workers.train import EpochMetrics, TrainResult, checkpoint_due, train_and_evaluate

SEED = 7


def _spec(encoding: str = "direct") -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "encoding": encoding,
            "input_shape": (8, 8),
            "num_classes": 10,
            "time_steps": 2,
            "downsample": 2,
            "stages": [{"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}}]}],
        }
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    digits = load_dataset(DigitsDataset(name="digits"), tmp_path_factory.mktemp("data"), seed=0)
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


def _comparable(curve: list[EpochMetrics]) -> list[dict[str, object]]:
    return [{k: v for k, v in m.as_dict().items() if k != "epoch_time_s"} for m in curve]


def _assert_same_run(a: TrainResult, b: TrainResult) -> None:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.allclose(sa[key].float(), sb[key].float(), rtol=1e-5, atol=1e-6), key
    for ma, mb in zip(_comparable(a.curve), _comparable(b.curve), strict=True):
        assert ma.keys() == mb.keys()
        for key, value in ma.items():
            if isinstance(value, float):
                assert mb[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
            else:
                assert mb[key] == value, key


def _differs(a: TrainResult, b: TrainResult) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return any(not torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6) for k in sa)


@pytest.mark.parametrize(
    ("every", "epochs", "due"),
    [(0, 5, [5]), (1, 3, [1, 2, 3]), (2, 5, [2, 4, 5]), (2, 4, [2, 4]), (10, 3, [3])],
)
def test_states_are_taken_every_k_epochs_and_after_the_last(
    every: int, epochs: int, due: list[int]
) -> None:
    budget = Budget(epochs=epochs, checkpoint_every=every)
    assert [e for e in range(1, epochs + 1) if checkpoint_due(budget, e)] == due


def test_the_trainer_hands_over_a_state_before_each_due_report(small: Splits) -> None:
    events: list[tuple[str, int]] = []
    budget = Budget(epochs=3, batch_size=50, checkpoint_every=2)
    train_and_evaluate(
        _spec(),
        small,
        budget,
        seed=SEED,
        on_epoch=lambda m, model: events.append(("epoch", m.epoch)),
        on_checkpoint=lambda s: events.append(("state", s.epoch)),
    )
    assert events == [("epoch", 1), ("state", 2), ("epoch", 2), ("state", 3), ("epoch", 3)]


# (loss, encoding): SML adds surrogate modules to the state; rate coding draws its spikes from
# torch's global generator, in training and evaluation alike.
RUNS = [("ce", "direct"), ("sml", "direct"), ("ce", "rate")]


@pytest.fixture(scope="module", params=RUNS, ids=["-".join(r) for r in RUNS])
def straight_and_half(
    request: pytest.FixtureRequest, small: Splits, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ArchSpec, Budget, TrainResult, TrainState]:
    """4 epochs straight, and the state a run of the same budget took after epoch 2, written to
    disk and read back."""
    loss, encoding = request.param
    spec = _spec(encoding)
    budget = Budget(epochs=4, batch_size=50, checkpoint_every=2, loss=loss)
    straight = train_and_evaluate(spec, small, budget, seed=SEED)
    folder = tmp_path_factory.mktemp("state")

    def keep_second(state: TrainState) -> None:
        if state.epoch == 2:
            save_state(state, folder)

    # Stops after epoch 2, as a run whose worker died there would.
    train_and_evaluate(
        spec,
        small,
        budget,
        seed=SEED,
        on_epoch=lambda m, model: m.epoch >= 2,
        on_checkpoint=keep_second,
    )
    return spec, budget, straight, load_state(folder)


def test_a_resumed_run_ends_where_the_straight_run_ends(
    small: Splits, straight_and_half: tuple[ArchSpec, Budget, TrainResult, TrainState]
) -> None:
    spec, budget, straight, half = straight_and_half
    assert half.epoch == 2 and [m["epoch"] for m in half.curve] == [1, 2]
    seen: list[int] = []
    resumed = train_and_evaluate(
        spec,
        small,
        budget,
        seed=SEED,
        on_epoch=lambda m, model: seen.append(m.epoch),
        resume=half,
    )
    assert seen == [3, 4], "a resumed run trains only the epochs left"
    assert [m.epoch for m in resumed.curve] == [1, 2, 3, 4]
    assert resumed.last.final and resumed.last.test_accuracy is not None
    _assert_same_run(straight, resumed)


# The parts of a state each run has: every run has the first four; only SML trains surrogate
# modules, and only rate coding draws from torch's global generator.
LEFT_OUT = [
    (run, part)
    for run in RUNS
    for part in ("optimizer", "scheduler", "order_rng", "model", "surrogates", "torch_rng")
    if (part != "surrogates" or run[0] == "sml") and (part != "torch_rng" or run[1] == "rate")
]


@pytest.mark.parametrize(
    ("straight_and_half", "left_out"),
    LEFT_OUT,
    ids=[f"{'-'.join(run)}-{part}" for run, part in LEFT_OUT],
    indirect=["straight_and_half"],
)
def test_a_resume_that_leaves_a_part_out_ends_elsewhere(
    small: Splits,
    straight_and_half: tuple[ArchSpec, Budget, TrainResult, TrainState],
    left_out: str,
) -> None:
    """The comparison above is sharp enough to see each part of the state: with that part as a
    fresh run has it, the resumed run does not end where the straight one does."""
    spec, budget, straight, half = straight_and_half
    fresh: list[TrainState] = []
    train_and_evaluate(
        spec,
        small,
        budget.model_copy(update={"epochs": 1}),
        seed=SEED,
        on_checkpoint=lambda s: fresh.append(s),
    )
    blank = {
        "optimizer": {**half.optimizer, "state": {}},  # no Adam moments
        "scheduler": {**half.scheduler, "last_epoch": 0},  # the warm-up again
        "order_rng": torch.Generator().manual_seed(SEED).get_state(),  # epoch 1's data order
        "torch_rng": fresh[0].torch_rng,  # the spikes drawn after one epoch instead of two
        "model": fresh[0].model,  # weights after one epoch instead of two
        "surrogates": fresh[0].surrogates,
    }
    broken = dataclasses.replace(half, **{left_out: blank[left_out]})
    resumed = train_and_evaluate(spec, small, budget, seed=SEED, resume=broken)
    assert _differs(straight, resumed)


def test_a_state_resumes_only_the_run_that_took_it(
    small: Splits, straight_and_half: tuple[ArchSpec, Budget, TrainResult, TrainState]
) -> None:
    spec, budget, _, half = straight_and_half
    with pytest.raises(CheckpointError, match=r"budget\.lr 0\.01, here 0\.02") as error:
        train_and_evaluate(spec, small, budget.model_copy(update={"lr": 0.02}), resume=half)
    assert isinstance(error.value, SpikenasError) and isinstance(error.value, ValueError)
    with pytest.raises(CheckpointError, match="seed 7, here 8"):
        train_and_evaluate(spec, small, budget, seed=8, resume=half)
    # When states are taken changes nothing the run computes.
    other = budget.model_copy(update={"checkpoint_every": 1})
    resumed = train_and_evaluate(spec, small, other, seed=SEED, resume=half)
    assert [m.epoch for m in resumed.curve] == [1, 2, 3, 4]


def test_a_state_file_round_trips_and_bad_files_are_named(
    tmp_path: Path, straight_and_half: tuple[ArchSpec, Budget, TrainResult, TrainState]
) -> None:
    _, _, _, half = straight_and_half
    path = save_state(half, tmp_path / "a")
    assert path.name == "train_state.pt" and not list((tmp_path / "a").glob("*.tmp"))
    again = load_state(path)
    assert again.epoch == half.epoch and again.curve == half.curve
    assert again.fingerprint == half.fingerprint
    assert all(torch.equal(again.model[k], half.model[k]) for k in half.model)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"junk\.pt"):
        load_state(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="not a training state"):
        load_state(tmp_path / "weights.pt")
    with pytest.raises(FileNotFoundError, match="no training state"):
        load_state(tmp_path / "empty")

"""`spikenas train` with checkpoints, resume and a share of the training split, called in
process (tests/service/test_cli_search_train.py runs the command as a user does)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from service.cli import build_parser
from service.train_cmd import run_train
from spaces.arch import ArchSpec
from spaces.errors import SpecError
from tests.jobs import TINY_ARCH as ARCH
from workers.budget import Budget
from workers.checkpoint import CheckpointError, load_state, save_state
from workers.data import load_dataset
from workers.dataset_ref import DigitsDataset
from workers.fidelity import train_subset
from workers.train import train_and_evaluate


def _args(tmp_path: Path, **options: Any) -> argparse.Namespace:
    """The arguments as `spikenas train` parses them, so the flags themselves are tested."""
    spec = tmp_path / "arch.json"
    spec.write_text(json.dumps(ARCH))
    values: dict[str, Any] = {"epochs": 2, "batch_size": 128}
    values.update(options)
    argv = ["train", str(spec)]
    for name, value in values.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return build_parser().parse_args(argv)


def test_checkpoints_go_to_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert run_train(_args(tmp_path, epochs=3, checkpoint_every=2, out=str(out))) == 0
    state = load_state(out)
    assert state.epoch == 3 and [m["epoch"] for m in state.curve] == [1, 2, 3]
    assert (out / "weights.pt").is_file() and (out / "model.py").is_file()


def test_resume_trains_the_epochs_left(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digits = load_dataset(DigitsDataset(name="digits"), tmp_path, seed=0)
    budget = Budget(epochs=3, batch_size=128, lr=1e-2)
    half = tmp_path / "half"
    # A run of the same options stopped after epoch 1 with its state saved.
    train_and_evaluate(
        ArchSpec.model_validate(ARCH),
        digits,
        budget.model_copy(update={"checkpoint_every": 1}),
        seed=0,
        on_epoch=lambda m, model: m.epoch >= 1,
        on_checkpoint=lambda s: save_state(s, half),
    )
    assert run_train(_args(tmp_path, epochs=3, resume=str(half))) == 0
    printed = capsys.readouterr().out
    assert "resuming after epoch 1" in printed
    assert "epoch   1/3" not in printed
    assert "epoch   2/3" in printed and "epoch   3/3" in printed and "test acc" in printed
    # Another budget than the state's is refused, naming what differs.
    with pytest.raises(CheckpointError, match=r"budget\.epochs 3, here 4"):
        run_train(_args(tmp_path, epochs=4, resume=str(half)))


def test_train_fraction(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_train(_args(tmp_path, epochs=1, train_fraction=0.25)) == 0
    digits = load_dataset(DigitsDataset(name="digits"), tmp_path, seed=0)
    samples = len(train_subset(digits, 0.25, seed=0).y_train)
    assert f"{samples} training samples" in capsys.readouterr().out
    for bad in (0.0, 1.5):
        with pytest.raises(SpecError, match="--train-fraction"):
            run_train(_args(tmp_path, train_fraction=bad))


def test_checkpoints_need_a_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--checkpoint-every needs --out"):
        run_train(_args(tmp_path, checkpoint_every=1))
    with pytest.raises(SpecError, match="--checkpoint-every"):
        run_train(_args(tmp_path, checkpoint_every=-1, out=str(tmp_path / "out")))


def test_defaults_train_on_the_whole_training_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the fidelity options a run trains on every training sample, as it always did."""
    assert run_train(_args(tmp_path, epochs=1)) == 0
    digits = load_dataset(DigitsDataset(name="digits"), tmp_path, seed=0)
    assert f"{len(digits.y_train)} training samples" in capsys.readouterr().out

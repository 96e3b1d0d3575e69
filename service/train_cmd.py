"""`spikenas train SPEC.json --dataset digits|FILE.npz --epochs N`: train one architecture.

No search, no Ray, no database: the architecture spec (the `arch` of a trial, or a hand-written
one) is trained by workers.train with a per-epoch progress line, its metrics are printed, and
the weights and module can be written for use with torch alone. The spec's input_shape and
num_classes must match the data set.

`--checkpoint-every K` writes the resumable training state (workers/checkpoint.py) into `--out`
every K epochs and after the last; `--resume PATH` (that file or its folder) continues such a run
with the same spec, options and seed; `--train-fraction F` trains on a stratified share of the
training split (validation and test stay whole).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from pydantic import ValidationError
from torch import nn

from service.spec_files import read_spec
from spaces.arch import ArchSpec
from spaces.errors import SpecError
from spaces.export.module import generate_module
from workers.budget import Budget
from workers.checkpoint import TrainState, load_state, save_state
from workers.data import load_dataset
from workers.dataset_ref import DatasetRef, DigitsDataset, NpzDataset
from workers.encoding_fit import check_encoding, check_frames
from workers.fidelity import train_subset
from workers.train import EpochMetrics, train_and_evaluate


def dataset_ref(name: str) -> tuple[DatasetRef, Path]:
    """`digits`, or an npz file anywhere (the data-dir confinement is for the service's users)."""
    if name == "digits":
        return DigitsDataset(name="digits"), Path.cwd()
    path = Path(name).expanduser().resolve()
    return NpzDataset(name="npz", path=path.name), path.parent


def _epoch_line(m: EpochMetrics, epochs: int) -> str:
    test = "" if m.test_accuracy is None else f"  test acc {m.test_accuracy:.4f}"
    val_loss = "" if m.val_loss is None else f"  val loss {m.val_loss:.4f}"
    return (
        f"epoch {m.epoch:>3}/{epochs}  loss {m.train_loss:.4f}{val_loss}  "
        f"val acc {m.accuracy:.4f}  "
        f"spike rate {m.spike_rate:.4f}  energy {m.energy / 1e6:.3f} uJ  "
        f"{m.epoch_time_s:.1f} s{test}"
    )


def run_train(args: argparse.Namespace) -> int:
    spec = read_spec(Path(args.spec), ArchSpec, "spec")
    ref, data_dir = dataset_ref(args.dataset)
    data = load_dataset(ref, data_dir, seed=args.seed)
    if tuple(spec.input_shape) != data.input_shape:
        raise SpecError(
            f"{args.spec}: input_shape {list(spec.input_shape)} does not match the data set's "
            f"samples {list(data.input_shape)}"
        )
    check_encoding(data, spec.encoding)
    check_frames(data, spec.time_steps)
    if spec.num_classes < data.num_classes:
        raise SpecError(
            f"{args.spec}: num_classes {spec.num_classes} is below the data set's "
            f"{data.num_classes} classes"
        )
    checkpoint_every = args.checkpoint_every
    resume_path = args.resume
    try:
        budget = Budget(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            loss=args.loss,
            checkpoint_every=checkpoint_every,
            train_fraction=args.train_fraction,
        )
    except ValidationError as e:
        first = e.errors()[0]
        raise SpecError(f"--{first['loc'][0]}: {first['msg']}".replace("_", "-")) from e
    if checkpoint_every and not args.out:
        raise SpecError("--checkpoint-every needs --out, the folder the training state goes to")
    resume = None if resume_path is None else load_state(Path(resume_path))
    samples = len(train_subset(data, budget.train_fraction, args.seed).y_train)
    print(f"{spec.name} on {data.name}: {samples} training samples, {budget.loss}")
    if resume is not None:
        print(f"resuming after epoch {resume.epoch} from {resume_path}")
    started = time.perf_counter()

    def show(metrics: EpochMetrics, model: nn.Module) -> None:
        print(_epoch_line(metrics, budget.epochs), flush=True)

    def keep(state: TrainState) -> None:
        save_state(state, Path(args.out))

    result = train_and_evaluate(
        spec,
        data,
        budget,
        seed=args.seed,
        on_epoch=show,
        on_checkpoint=keep if checkpoint_every else None,
        resume=resume,
    )
    last = result.last
    print(
        f"done in {time.perf_counter() - started:.1f} s: val acc {last.accuracy:.4f}, test acc "
        f"{last.test_accuracy:.4f}, params {last.params}, spike rate {last.spike_rate:.4f}, "
        f"SOPs {last.sops:.3g}, energy {last.energy:.3g} pJ (ANN of the same shape "
        f"{last.energy_ann:.3g} pJ)"
    )
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save(result.model.state_dict(), out / "weights.pt")
        (out / "model.py").write_text(generate_module(spec))
        print(f"wrote {out / 'model.py'} and {out / 'weights.pt'}")
    return 0

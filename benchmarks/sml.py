"""Does surrogate module learning (SML) help a deep candidate? Depth 8, with and without SML.

Run by hand:
    .venv/bin/python benchmarks/sml.py [--threads 2] [--quick] [--epochs 10] [--seeds 3]

What it measures: one depth-8 candidate (a single stage of width 32, eight blocks alternating
an STM mixer with 2 heads and a depthwise-conv mixer of kernel 3, mlp ratio 2, T = 2, LIF with
the sigmoid surrogate) trained by workers.train.train_and_evaluate with the loss "ce"
(cross-entropy of the time-averaged output) and with "sml" (Deng et al., ICML 2023: four
surrogate modules at taps 0, 2, 4, 6, alpha 0.5, lambda 0.9, tau_kd 3), the same epochs, batch
and learning rate, seeds 0, 1, 2, on two data sets:
- digits: scikit-learn's 8x8 digits (downsample 2, 16 tokens);
- waves (npz): a synthetic 1-D task written to a temporary directory and read through the npz
  path of workers/data.py. Each sequence has 64 samples: a sine of random phase and amplitude
  (0.5 to 1) with 1 to 4 cycles per window, plus a Gaussian bump (width 0.05 of the window) in
  the first or the second half, plus white noise of standard deviation 1. The 8 classes are
  (cycles, half); 2000 training and 1000 test sequences, generated with numpy seed 0. A
  logistic regression on the raw samples scores about 20% (phases are random), on the FFT
  magnitudes about 46%.
SML's modules are training-only: test accuracy is the SNN head alone, as deployed.

How to read it: one row per (data set, loss): mean and sample standard deviation of the test
accuracy over the seeds, its range, and the median time per epoch (SML pays for its modules in
training time only). The last column of each SML row is the difference of the means, SML - CE;
SML "should not lose" means it is not negative beyond the spread. With --quick (1 seed, 1
epoch) the numbers only show that everything runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from spaces.arch import ArchSpec
from workers.budget import Budget, LossKind
from workers.data import Splits, load_dataset
from workers.dataset_ref import DigitsDataset, NpzDataset
from workers.train import train_and_evaluate

WAVES_LENGTH = 64
WAVES_NOISE = 1.0
LOSSES: tuple[LossKind, ...] = ("ce", "sml")


def depth8(input_shape: tuple[int, ...], num_classes: int) -> ArchSpec:
    """The depth-8 candidate: dim 32, STM and conv blocks alternating, T = 2."""
    stm = {"mixer": {"kind": "stm", "heads": 2}, "mlp_ratio": 2.0}
    conv = {"mixer": {"kind": "conv", "kernel": 3}, "mlp_ratio": 2.0}
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": num_classes,
            "time_steps": 2,
            "downsample": 2,
            "stages": [{"dim": 32, "blocks": [stm, conv] * 4}],
        }
    )


def waves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n sequences of the synthetic task described in the module docstring."""
    y = rng.integers(0, 8, n)
    t = np.arange(WAVES_LENGTH) / WAVES_LENGTH
    cycles = 1 + y % 4
    phase = rng.uniform(0.0, 2 * np.pi, n)
    amplitude = rng.uniform(0.5, 1.0, n)
    x = amplitude[:, None] * np.sin(2 * np.pi * cycles[:, None] * t + phase[:, None])
    centre = np.where(y < 4, rng.uniform(0.1, 0.4, n), rng.uniform(0.6, 0.9, n))
    x += np.exp(-((t - centre[:, None]) ** 2) / (2 * 0.05**2))
    x += rng.normal(0.0, WAVES_NOISE, x.shape)
    return x.astype(np.float32), y.astype(np.int64)


def write_waves(folder: Path) -> str:
    """Write the waves npz into `folder`; returns its name relative to the folder."""
    rng = np.random.default_rng(0)
    x_train, y_train = waves(2000, rng)
    x_test, y_test = waves(1000, rng)
    name = "waves.npz"
    np.savez(folder / name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return name


def train(data: Splits, loss: LossKind, seed: int, epochs: int) -> tuple[float, list[float]]:
    """(test accuracy, epoch times) of one run."""
    spec = depth8(data.input_shape, data.num_classes)
    budget = Budget(epochs=epochs, batch_size=32, lr=1e-2, loss=loss)
    result = train_and_evaluate(spec, data, budget, seed=seed)
    return result.last.test_accuracy or 0.0, [m.epoch_time_s for m in result.curve]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 seed, 1 epoch (a smoke test)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    epochs = 1 if args.quick else args.epochs
    seeds = range(1 if args.quick else args.seeds)
    spec = depth8((8, 8), 10)
    print(
        f"depth-8 candidate {spec.name} (T={spec.time_steps}, mixers stm/conv alternating), "
        f"{epochs} epochs, batch 32, lr 0.01, seeds {list(seeds)}; threads {args.threads}, "
        f"torch {torch.__version__}"
    )
    header = (
        f"{'data':>7} {'loss':>4} {'mean':>7} {'std':>7} {'min':>7} {'max':>7} "
        f"{'s/epoch':>8} {'SML-CE':>7}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as folder:
        npz = write_waves(Path(folder))
        sets: dict[str, DigitsDataset | NpzDataset] = {
            "digits": DigitsDataset(name="digits"),
            "waves": NpzDataset(name="npz", path=npz),
        }
        for label, ref in sets.items():
            means: dict[str, float] = {}
            for loss in LOSSES:
                accuracies, times = [], []
                for seed in seeds:
                    data = load_dataset(ref, folder, seed=seed)
                    accuracy, epoch_times = train(data, loss, seed, epochs)
                    accuracies.append(accuracy)
                    times += epoch_times
                means[loss] = statistics.mean(accuracies)
                spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
                delta = f"{means['sml'] - means['ce']:>+7.4f}" if loss == "sml" else f"{'':>7}"
                print(
                    f"{label:>7} {loss:>4} {means[loss]:>7.4f} {spread:>7.4f} "
                    f"{min(accuracies):>7.4f} {max(accuracies):>7.4f} "
                    f"{statistics.median(times):>8.2f} {delta}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

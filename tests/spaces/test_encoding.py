"""Input encodings: rate spikes are Bernoulli draws with the right mean, event frames are summed
in groups, the direct encoding keeps its run-once stem, and the network trains with each."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from spaces.arch import ArchSpec, Encoding
from spaces.build import build_model
from spaces.encoding import ENCODINGS, EventEncoding, InputEncoding, RateEncoding

# input shape -> downsample giving a 16-token grid
INPUTS: dict[tuple[int, ...], int] = {(32,): 2, (8, 8): 2, (2, 8, 8): 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spec(
    encoding: str, input_shape: tuple[int, ...] = (2, 8, 8), time_steps: int = 2, **extra: Any
) -> ArchSpec:
    return ArchSpec.model_validate(
        {
            "input_shape": input_shape,
            "num_classes": 3,
            "time_steps": time_steps,
            "encoding": encoding,
            "downsample": INPUTS[input_shape],
            "stages": [
                {"dim": 16, "blocks": [{"mixer": {"kind": "stm", "heads": 2}}, {"mixer": {}}]}
            ],
            **extra,
        }
    )


def _batch(
    spec: ArchSpec, batch: int = 4, frames: int | None = None, seed: int = 1
) -> torch.Tensor:
    """A batch the spec's network reads: samples in [0, 1), or event counts 0..3."""
    gen = torch.Generator().manual_seed(seed)
    if spec.encoding == "events":
        shape = (batch, frames or spec.time_steps, *spec.input_shape)
        return torch.randint(0, 4, shape, generator=gen).float()
    return torch.rand(batch, *spec.input_shape, generator=gen)


def _calibrated(spec: ArchSpec) -> torch.nn.Module:
    """A network that fires in eval mode: batch norms hold one batch's statistics, spread 2."""
    model = build_model(spec, seed=0)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None
            torch.nn.init.constant_(module.weight, 2.0)
    with torch.no_grad():
        model.train()(_batch(spec, batch=8, seed=99))
    return model.eval()


def test_registry_matches_the_spec() -> None:
    assert set(ENCODINGS) == set(Encoding.__args__)
    assert all(issubclass(cls, InputEncoding) for cls in ENCODINGS.values())
    assert [name for name, cls in ENCODINGS.items() if cls.spiking] == ["rate"]


# --- rate --------------------------------------------------------------------------------------


def test_rate_spikes_are_binary_with_the_input_as_their_mean() -> None:
    encode = RateEncoding(in_channels=1, spatial=(5,))
    p = torch.tensor([[0.0, 0.1, 0.5, 0.9, 1.0]])
    torch.manual_seed(0)
    spikes = encode(p.repeat(400, 1), 50)  # 400 samples x 50 steps = 20,000 draws per value
    assert spikes.shape == (50, 400, 1, 5)
    assert spikes.dtype == p.dtype
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    mean = spikes.mean(dim=(0, 1, 2))
    # Binomial standard error is at most 0.5 / sqrt(20000) = 0.0035: 5 of them.
    torch.testing.assert_close(mean, p[0], atol=0.018, rtol=0.0)
    assert mean[0] == 0.0 and mean[4] == 1.0  # p = 0 never fires, p = 1 always does
    # Steps are independent draws, not one draw repeated.
    assert not torch.equal(spikes[0], spikes[1])


def test_rate_draws_follow_the_global_seed() -> None:
    encode = RateEncoding(in_channels=2, spatial=(4, 4))
    x = torch.rand(3, 2, 4, 4)
    torch.manual_seed(7)
    a = encode(x, 3)
    torch.manual_seed(7)
    b = encode(x, 3)
    c = encode(x, 3)  # the generator moved on
    assert torch.equal(a, b)
    assert not torch.equal(b, c)


def test_rate_network_is_stochastic_in_eval_and_repeats_after_a_seed() -> None:
    spec = _spec("rate")
    model = _calibrated(spec)
    x = _batch(spec)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        first = model(x)
        second = model(x)
        torch.manual_seed(3)
        again = model(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, second)


# --- events ------------------------------------------------------------------------------------


def test_event_frames_are_summed_in_groups_by_hand() -> None:
    encode = EventEncoding(in_channels=1, spatial=(2, 2))
    x = torch.arange(2 * 6 * 4, dtype=torch.float32).reshape(2, 6, 1, 2, 2)
    out = encode(x, 3)
    assert out.shape == (3, 2, 1, 2, 2)
    for t in range(3):
        for b in range(2):
            expected = x[b, 2 * t] + x[b, 2 * t + 1]  # frames 2t and 2t+1 make step t
            assert torch.equal(out[t, b], expected)
    # Sample 0, step 0, pixel (0, 0): frame 0 holds 0, frame 1 holds 4.
    assert out[0, 0, 0, 0, 0] == 0 + 4
    assert out.is_contiguous()


def test_as_many_frames_as_steps_is_a_transpose() -> None:
    encode = EventEncoding(in_channels=2, spatial=(3, 3))
    x = torch.rand(4, 5, 2, 3, 3)
    assert torch.equal(encode(x, 5), x.transpose(0, 1))
    # A flattened sample of the same size reads the same.
    assert torch.equal(encode(x.reshape(4, -1), 5), x.transpose(0, 1))


@pytest.mark.parametrize(("frames", "time_steps"), [(5, 2), (3, 4)])
def test_frames_not_a_multiple_of_time_steps_is_refused(frames: int, time_steps: int) -> None:
    spec = _spec("events", time_steps=time_steps)
    model = build_model(spec, seed=0)
    with pytest.raises(ValueError, match=rf"{frames} frames.*time_steps \({time_steps}\)"):
        model(_batch(spec, frames=frames))


# --- the network with each encoding -------------------------------------------------------------


def _stem_batches(model: torch.nn.Module, x: torch.Tensor) -> list[int]:
    seen: list[int] = []
    handles = [
        model.embed.stem.register_forward_hook(lambda m, a, o: seen.append(a[0].shape[0])),
        model.embed.shortcut.register_forward_hook(lambda m, a, o: seen.append(a[0].shape[0])),
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_stem_runs_once_for_direct_and_every_step_otherwise(encoding: str) -> None:
    spec = _spec(encoding, time_steps=3)
    model = build_model(spec, seed=0).eval()
    runs = 1 if encoding == "direct" else spec.time_steps
    assert _stem_batches(model, _batch(spec, batch=4)) == [4 * runs, 4 * runs]


@pytest.mark.parametrize("input_shape", list(INPUTS), ids=str)
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_network_forward_backward(encoding: str, input_shape: tuple[int, ...]) -> None:
    spec = _spec(encoding, input_shape, time_steps=3)
    model = build_model(spec, seed=0).train()
    x = _batch(spec, frames=6)
    steps = model.forward_steps(x)
    assert steps.shape == (3, 4, 3)
    torch.nn.functional.cross_entropy(steps.mean(0), torch.arange(4) % 3).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.embed.stem[0].weight.grad.abs().sum() > 0
    logits, features = model.forward_with_features(x, (0, 2))
    assert logits.shape == (3, 4, 3) and [f.shape[:2] for f in features] == [(3, 4)] * 2


def test_direct_input_over_time_equals_events_of_repeated_frames() -> None:
    """Events whose T frames all equal the static sample are the direct encoding, run T times."""
    direct, events = _spec("direct", time_steps=3), _spec("events", time_steps=3)
    x = _batch(direct)
    a = _calibrated(direct)
    b = build_model(events, seed=0).eval()
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        expected = a(x)
        got = b(x.unsqueeze(1).repeat(1, 3, 1, 1, 1))
    assert not torch.allclose(expected[0], expected[1])  # the samples are told apart
    torch.testing.assert_close(got, expected)


def test_weights_do_not_depend_on_the_encoding() -> None:
    states = [build_model(_spec(e), seed=5).state_dict() for e in sorted(ENCODINGS)]
    for state in states[1:]:
        assert list(state) == list(states[0])
        assert all(torch.equal(state[k], states[0][k]) for k in state)


def test_time_steps_may_change_after_building() -> None:
    """Time inheritance trains at a smaller T by setting the model's time_steps: the encodings
    read T from the network at every call."""
    spec = _spec("events", time_steps=4)
    model = build_model(spec, seed=0).eval()
    model.time_steps = 2
    with torch.no_grad():
        assert model.forward_steps(_batch(spec, frames=4)).shape == (2, 4, 3)


def test_spec_rejects_an_unknown_encoding() -> None:
    with pytest.raises(ValueError, match="encoding"):
        _spec("poisson")

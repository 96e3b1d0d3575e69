"""The driver on a real local Ray: every sampler through Ray Tune, multi-objective early stopping
end to end, and a two-node Ray cluster on this machine with trials finishing on both nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from search.driver import run_job
from search.job_spec import JobSpec
from search.records import ATTR_CURVE, ATTR_NODE, ATTR_REJECTED
from search.results import list_trials, pareto_front
from search.samplers import SAMPLER_NAMES
from search.study import open_storage, study_name
from tests.jobs import TINY_SPACE, driver_config, tiny_job

pytestmark = [pytest.mark.ray, pytest.mark.slow]

OBJECTIVES = ["accuracy", "params", "spike_rate"]


def _spec(**overrides: Any) -> JobSpec:
    spec = tiny_job("driver-test", budget={"epochs": 2, "batch_size": 64}, seed=5)
    spec.update(overrides)
    return JobSpec.model_validate(spec)


@pytest.mark.parametrize("sampler", [name for name in SAMPLER_NAMES if name != "random"])
def test_every_sampler_runs_a_job_through_ray_tune(sampler: str, tmp_path: Path) -> None:
    """Ray Tune pickles the searcher and its sampler when the Tuner is made and at every
    experiment checkpoint: Optuna 5.1's NSGA-II and NSGA-III keep a threading.Lock, and a job
    with either failed before its first trial (search/full_budget_view.py)."""
    spec = _spec(
        n_trials=3,
        sampler=sampler,
        budget={"epochs": 1, "batch_size": 128},
        space={**TINY_SPACE, "dims": [8, 16], "time_steps": [1, 2]},
    )
    config = driver_config(tmp_path)
    run_job(1, spec, config)
    listed, _ = list_trials(open_storage(config.database_url), 1, OBJECTIVES, limit=100, offset=0)
    assert sum(r.state == "complete" for r in listed) == 3, listed


def test_mo_asha_stops_trials_and_keeps_them_out_of_the_front(tmp_path: Path) -> None:
    """Grace 1 epoch, eta 2, budget 3 epochs: of the trials that reach the first rung, those
    behind on the front stop after 1 epoch. They stay in the study, tagged, with their curve,
    and the front holds only trials that trained all 3 epochs."""
    spec = _spec(
        n_trials=6,
        budget={"epochs": 3, "batch_size": 128},
        early_stopping={"kind": "mo_asha", "grace_epochs": 1, "reduction_factor": 2},
        space={**TINY_SPACE, "dims": [8, 16, 32], "time_steps": [1, 2]},
    )
    config = driver_config(tmp_path)
    run_job(1, spec, config)

    storage = open_storage(config.database_url)
    listed, _ = list_trials(storage, 1, OBJECTIVES, limit=1000, offset=0)
    # Repeats of an architecture already drawn are rejected before training.
    records = [r for r in listed if r.state != "rejected"]
    assert len(records) == 6 and all(r.state == "complete" for r in records)
    stopped = [r for r in records if r.early_stopped]
    full = [r for r in records if not r.early_stopped]
    assert stopped, "no trial was stopped early"
    assert full, "every trial was stopped"
    assert all(r.epochs_trained < 3 for r in stopped)
    assert all(r.epochs_trained == 3 for r in full)
    study = optuna.load_study(study_name=study_name(1), storage=storage)
    for trial in study.get_trials():
        if ATTR_REJECTED in trial.user_attrs:
            continue
        curve = trial.user_attrs[ATTR_CURVE]
        assert [p["epoch"] for p in curve] == list(range(1, len(curve) + 1))
    front, hypervolume = pareto_front(storage, 1, OBJECTIVES)
    assert front and hypervolume > 0
    assert {r.number for r in front} <= {r.number for r in full}


def test_a_progressive_job_draws_coarse_one_block_networks_without_costly_stm_first(
    tmp_path: Path,
) -> None:
    """sampler_options.progressive_depth, progressive_tokens and progressive_mixers on a real
    job of 6 trials without a time budget, on digits in 8 channels: the trials drawn before 35%
    of them (numbers 0-2) have one block, the coarser grid (downsample 2: 16 tokens, where STM's
    token matrices outweigh the block) and no STM mixer, whichever sampler drew them (TPE's
    start-up, or the random draw after a repeat); the job runs to its end."""
    spec = _spec(
        n_trials=6,
        sampler="tpe",
        sampler_options={
            "progressive_depth": True,
            "progressive_tokens": True,
            "progressive_mixers": True,
        },
        budget={"epochs": 1, "batch_size": 128},
        space={
            **TINY_SPACE,
            "mixers": ["stm", "identity", "pool"],
            "max_depth": 3,
            "dims": [8],
            "downsample": [1, 2],
            "time_steps": [1, 2],
        },
    )
    config = driver_config(tmp_path)
    run_job(1, spec, config)
    study = optuna.load_study(study_name=study_name(1), storage=open_storage(config.database_url))
    first = [t for t in study.get_trials() if t.number <= 2]
    assert len(first) == 3 and all(t.params["s0.depth"] == 1 for t in first), first
    assert all(t.params["downsample"] == 2 for t in first), first
    assert all(t.params["s0.b0.mixer"] != "stm" for t in first), first
    finished = [t for t in study.get_trials() if ATTR_REJECTED not in t.user_attrs]
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in finished) == 6


def test_trials_finish_on_both_nodes_of_a_two_node_cluster(tmp_path: Path) -> None:
    """A head and a worker node (separate raylets on this machine), one CPU each; the driver
    joins the cluster by address, and each trial records the node it trained on."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        config = driver_config(tmp_path, ray_address=cluster.address)
        run_job(1, _spec(n_trials=4, budget={"epochs": 1, "batch_size": 128}), config)
        storage = open_storage(config.database_url)
        study = optuna.load_study(study_name=study_name(1), storage=storage)
        trials = [t for t in study.get_trials() if ATTR_REJECTED not in t.user_attrs]
        assert len(trials) == 4
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        nodes = {t.user_attrs[ATTR_NODE]["node_id"] for t in trials}
        assert nodes == {node.node_id for node in cluster.list_all_nodes()}
    finally:
        cluster.shutdown()

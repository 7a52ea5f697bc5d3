"""A two-node Ray cluster on one machine (``ray.cluster_utils.Cluster``, 127.0.0.1): env runners spread over both
nodes, and a run that loses a node goes on with fewer runners (issue 12)."""

from __future__ import annotations

import os

import pytest

from ember.sims import make_env
from ember.skills.learning.build import build_algo
from ember.skills.learning.runner import train
from ember.skills.learning.runners import RAY_LOCAL_ENV, RunnerGroup, RunnerSpec

ray = pytest.importorskip("ray", reason="Ray is the optional extra ember[ray]")

PPO_CFG = {"name": "ppo", "num_steps": 16, "hidden": [32, 32], "epochs": 1}


def test_runners_spread_over_two_nodes_and_the_run_survives_losing_one() -> None:
    os.environ.update(RAY_LOCAL_ENV)
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    group = None
    try:
        worker_node = cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        spec = RunnerSpec("pendulum", {"num_envs": 4}, dict(PPO_CFG), seed=1)
        group = RunnerGroup(spec, 2, backend="ray", address=cluster.address, restart_timeout_s=8)
        nodes = {i: ray.get(w.node.remote()) for i, w in group.workers.items()}
        assert len(set(nodes.values())) == 2, nodes  # SPREAD: one runner per node
        doomed = next(i for i, n in nodes.items() if n == worker_node.node_id)
        learner = build_algo(dict(PPO_CFG), make_env("pendulum", num_envs=4, seed=0), 0)
        removed: list[bool] = []

        def lose_node(tag: str, value: float, step: int) -> None:
            if not removed and step >= 256:
                cluster.remove_node(worker_node)  # the node and its runner are gone; the head has no room for it
                removed.append(True)

        result = train(learner, None, make_env("pendulum", num_envs=4, seed=9), 1024, runners=group,
                       eval_every_steps=10**9, on_log=lose_node)  # fmt: skip
        assert removed and result.env_steps >= 1024
        assert group.lost == 1 and list(group.workers) == [1 - doomed] and group.discarded >= 1
    finally:
        if group is not None:
            group.close()
        ray.shutdown()
        cluster.shutdown()

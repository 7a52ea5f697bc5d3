"""Env runners (issue 12): Ray actors sample what in-process runners sample, learning is the same, faults are
survived; Ray stays on 127.0.0.1 and is shut down at the end of the module."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from ember.sims import make_env
from ember.skills.learning.build import build_algo
from ember.skills.learning.runner import train
from ember.skills.learning.runners import RunnerGroup, RunnerSpec, start_ray

ray = pytest.importorskip("ray", reason="Ray is the optional extra ember[ray]")

PPO_CFG = {"name": "ppo", "num_steps": 16, "hidden": [32, 32], "lr": 1e-3, "epochs": 2, "num_minibatches": 2}
SAC_CFG = {"name": "sac", "hidden": [32, 32], "learning_starts": 64, "batch_size": 64}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    started = start_ray(None, num_cpus=2)
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}  # nothing listens beyond this machine
    yield
    if started:
        ray.shutdown()


def _spec(algo: dict, num_envs: int = 4, rollout_steps: int = 16) -> RunnerSpec:
    return RunnerSpec("pendulum", {"num_envs": num_envs}, dict(algo), seed=3, rollout_steps=rollout_steps)


def _learner(algo: dict):
    return build_algo(dict(algo), make_env("pendulum", num_envs=4, seed=0), 0)


@pytest.mark.parametrize("algo", [PPO_CFG, SAC_CFG], ids=["ppo", "sac"])
def test_ray_runners_sample_what_local_runners_sample(algo: dict) -> None:
    batches = {}
    for backend in ("local", "ray"):
        group = RunnerGroup(_spec(algo), 2, backend=backend)
        try:
            learner = _learner(algo)
            batches[backend] = [group.sample(learner, 16) for _ in range(2)]
            assert group.stats["workers"] == 2
        finally:
            group.close()
    for local_round, ray_round in zip(batches["local"], batches["ray"], strict=True):
        assert [b.worker for b in ray_round] == [0, 1]
        for a, b in zip(local_round, ray_round, strict=True):
            assert a.weight_version == b.weight_version and a.env_steps == b.env_steps == 16 * 4
            key = "rollout" if "rollout" in a.data else "transitions"
            for name, tensor in a.data[key].items():
                assert tensor.shape == b.data[key][name].shape, name
                assert torch.equal(tensor, b.data[key][name]), name
    # different workers draw different episodes (their own seeds)
    key = "rollout" if "rollout" in batches["ray"][0][0].data else "transitions"
    first = batches["ray"][0]
    assert not torch.equal(first[0].data[key]["policy"], first[1].data[key]["policy"])


def test_ppo_learns_the_same_through_ray_and_local_runners() -> None:
    finals = {}
    for backend in ("local", "ray"):
        group = RunnerGroup(_spec(PPO_CFG), 2, backend=backend)
        learner = _learner(PPO_CFG)
        try:
            result = train(learner, None, make_env("pendulum", num_envs=4, seed=9), 4 * 128 * 3, runners=group,
                           eval_every_steps=10**9)  # fmt: skip
        finally:
            group.close()
        assert result.env_steps == 4 * 128 * 3
        finals[backend] = learner.actor.state_dict()
    for name, value in finals["local"].items():
        torch.testing.assert_close(value, finals["ray"][name], rtol=0, atol=1e-6)


def test_a_killed_runner_is_replaced_its_batch_discarded_and_the_run_finishes() -> None:
    group = RunnerGroup(_spec(PPO_CFG), 2, backend="ray", restart_timeout_s=60)
    learner = _learner(PPO_CFG)
    killed: list[int] = []

    def kill_once(tag: str, value: float, step: int) -> None:
        if not killed and step >= 256:
            pid = ray.get(group.workers[1].ready.remote())
            os.kill(pid, signal.SIGKILL)  # the process dies, as when its node crashes
            killed.append(pid)

    try:
        result = train(learner, None, make_env("pendulum", num_envs=4, seed=9), 16 * 8 * 8, runners=group,
                       eval_every_steps=10**9, on_log=kill_once)  # fmt: skip
        assert killed and group.restarts == 1 and group.discarded == 1 and len(group.workers) == 2
        assert result.env_steps >= 16 * 8 * 8
        # the one lost batch is missing from the step count, not averaged in: 7 of 8 rounds had both runners
        new_pid = ray.get(group.workers[1].ready.remote())
        assert new_pid != killed[0]
    finally:
        group.close()


def test_env_errors_are_raised_not_retried() -> None:
    spec = RunnerSpec("pendulum", {"num_envs": 2, "no_such_argument": 1}, dict(PPO_CFG))
    with pytest.raises(Exception, match="no_such_argument"):
        group = RunnerGroup(spec, 1, backend="ray", restart_timeout_s=10)
        group.close()


@pytest.mark.parametrize(
    ("env", "kwargs"),
    [("tabletop_push", {"num_envs": 2}), ("overcooked_selfplay", {"num_envs": 2})],
    ids=["pybullet", "overcooked"],
)
def test_ray_runners_build_pybullet_and_overcooked_envs(env: str, kwargs: dict) -> None:
    pytest.importorskip("overcooked" if env.startswith("overcooked") else "pybullet")
    cfg = {"name": "ppo", "num_steps": 8, "hidden": [32, 32]}
    group = RunnerGroup(RunnerSpec(env, kwargs, cfg, rollout_steps=8), 2, backend="ray")
    try:
        learner = build_algo(dict(cfg), make_env(env, num_envs=2, seed=0), 0)
        batches = group.sample(learner, 8)
        learner.ingest([b.data for b in batches])
        assert learner.storage.rewards.shape == (8, 4) and learner.env_steps == 32
        assert torch.isfinite(torch.tensor(list(learner.update().values()))).all()
    finally:
        group.close()


def test_a_run_with_runners_resumes_from_the_drivers_checkpoint(tmp_path) -> None:
    eval_env = make_env("pendulum", num_envs=4, seed=9)
    for total, resume in ((256, False), (512, True)):
        group = RunnerGroup(_spec(PPO_CFG), 2, backend="ray")
        learner = _learner(PPO_CFG)
        try:
            result = train(learner, None, eval_env, total, run_dir=tmp_path, eval_every_steps=128, runners=group,
                           resume=resume)  # fmt: skip
        finally:
            group.close()
        assert result.env_steps == total and (tmp_path / "checkpoints" / "last.pt").is_file()
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["algo"]["env_steps"] == 512 and state["env"] is None  # runners start fresh episodes

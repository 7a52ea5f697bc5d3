"""``init_from=``: a run starts from another's networks but keeps its own config's learning rates and, if asked, its
own action std (a DAgger student's checkpoint carries lr 1e-3 and std 0.1, which a PPO fine-tune must not inherit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ember.launch.train import TrainConfigError, init_weights
from ember.sims import make_env
from ember.skills.learning.build import build_algo
from ember.skills.learning.runner import save_checkpoint


def _algo(**cfg: object) -> Any:
    env = make_env("pendulum", num_envs=2, seed=0)
    return build_algo({"name": "ppo", "hidden": [16, 16], **cfg}, env, 0)


def test_init_from_keeps_this_runs_learning_rates_and_sets_the_std(tmp_path: Path) -> None:
    source = _algo(lr=1e-3, critic_lr=1e-3, init_std=0.1)
    with torch.no_grad():
        for p in source.actor.mean.parameters():
            p.add_(0.5)
    save_checkpoint(tmp_path / "src.pt", {"algo": source.state_dict()})

    tuned = _algo(lr=2e-5, critic_lr=3e-4, init_std=1.0, finetune_std=0.03)
    init_weights(tuned, tmp_path / "src.pt", 0.03)
    assert [g["lr"] for g in tuned.optimizer.param_groups] == [2e-5, 3e-4]
    assert tuned.lr == 2e-5
    assert torch.allclose(tuned.actor.log_std.exp(), torch.full((1,), 0.03))
    mean_src = source.actor.mean[0].weight
    assert torch.equal(tuned.actor.mean[0].weight, mean_src)
    assert tuned.env_steps == 0

    kept = _algo(lr=2e-5, critic_lr=3e-4)
    init_weights(kept, tmp_path / "src.pt")  # no finetune_std: the checkpoint's std
    assert torch.allclose(kept.actor.log_std.exp(), torch.full((1,), 0.1))


def test_init_from_counts_the_critic_warmup_from_this_run(tmp_path: Path) -> None:
    """A PPO checkpoint past its own warm-up (updates > critic_warmup) must not skip this run's: the new run's first
    ``critic_warmup`` updates train the critic alone (a new morphology's values differ from the source's)."""
    source = _algo()
    source.updates = 500
    save_checkpoint(tmp_path / "src.pt", {"algo": source.state_dict()})
    tuned = _algo(critic_warmup=2)
    init_weights(tuned, tmp_path / "src.pt")
    assert tuned.updates == 0
    actor = [p.detach().clone() for p in tuned.actor.parameters()]
    critic = [p.detach().clone() for p in tuned.critic.parameters()]
    env = make_env("pendulum", num_envs=2, seed=0)
    obs, _ = env.reset()
    for _ in range(2):  # two updates inside the warm-up: the actor is held, the critic learns
        while not tuned.rollout_full():
            obs, reward, terminated, truncated, extras = env.step(tuned.act(obs))
            tuned.process_env_step(obs, reward, terminated, truncated, extras)
        tuned.compute_returns(obs)
        tuned.update()
    assert all(torch.equal(a, b) for a, b in zip(actor, tuned.actor.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(critic, tuned.critic.parameters(), strict=True))


def test_finetune_std_needs_a_gaussian_ppo_actor(tmp_path: Path) -> None:
    env = make_env("pendulum", num_envs=2, seed=0)
    sac = build_algo({"name": "sac", "hidden": [16, 16]}, env, 0)
    save_checkpoint(tmp_path / "sac.pt", {"algo": sac.state_dict()})
    with pytest.raises(TrainConfigError, match="finetune_std"):
        init_weights(build_algo({"name": "sac", "hidden": [16, 16]}, env, 0), tmp_path / "sac.pt", 0.05)

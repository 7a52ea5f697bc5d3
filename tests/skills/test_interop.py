"""Isaac Lab interface adapter and rsl_rl wrapper."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from ember.sims.torch_envs.pendulum import PendulumVecEnv
from ember.skills.learning.interop import IsaacLabAdapter, as_rsl_rl
from ember.skills.learning.ppo import PPO
from ember.skills.learning.runner import train


class PointMassDirectEnv:
    """Follows Isaac Lab's ``DirectRLEnv`` interface exactly (attributes, reset/step signatures and return order,
    obs dict of groups, ``reset_terminated``/``reset_time_outs``, ``extras["log"]``, reset inside step, obs returned
    after the reset), on a batched 1-D point mass that must reach the origin."""

    def __init__(self, num_envs: int = 16, device: str = "cpu") -> None:
        self.cfg = {"episode_length_s": 2.0, "decimation": 1, "sim": {"dt": 0.02}}
        self.num_envs = num_envs
        self.device = device
        self.max_episode_length = 100
        self.single_observation_space = gym.spaces.Dict(
            {"policy": gym.spaces.Box(-np.inf, np.inf, (2,)), "critic": gym.spaces.Box(-np.inf, np.inf, (3,))}
        )
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (1,))
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self.reset_terminated = torch.zeros(num_envs, dtype=torch.bool)
        self.reset_time_outs = torch.zeros(num_envs, dtype=torch.bool)
        self.extras: dict[str, Any] = {}
        self.x = torch.zeros(num_envs)
        self.v = torch.zeros(num_envs)
        self.gen = torch.Generator()

    def _reset_idx(self, env_ids: torch.Tensor) -> None:
        self.x[env_ids] = torch.rand(len(env_ids), generator=self.gen) * 2 - 1
        self.v[env_ids] = 0.0
        self.episode_length_buf[env_ids] = 0

    def _get_observations(self) -> dict[str, torch.Tensor]:
        policy = torch.stack([self.x, self.v], -1)
        return {"policy": policy, "critic": torch.cat([policy, self.x.abs()[:, None]], -1)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self.gen.manual_seed(seed)
        self._reset_idx(torch.arange(self.num_envs))
        return self._get_observations(), self.extras

    def step(self, action: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        a = action.clamp(-1, 1)[:, 0]
        self.v = self.v + a * 0.1
        self.x = self.x + self.v * 0.1
        self.episode_length_buf += 1
        reward = -self.x.abs() - 0.1 * self.v.abs()
        self.reset_terminated = self.x.abs() > 3
        self.reset_time_outs = self.episode_length_buf >= self.max_episode_length
        self.extras = {"log": {"Episode_Reward/x": reward.mean()}}
        done = (self.reset_terminated | self.reset_time_outs).nonzero().flatten()
        if len(done):
            self._reset_idx(done)
        return self._get_observations(), reward, self.reset_terminated, self.reset_time_outs, self.extras


def test_isaac_lab_env_trains_in_embers_ppo() -> None:
    env = IsaacLabAdapter(PointMassDirectEnv())
    evaluation = IsaacLabAdapter(PointMassDirectEnv(num_envs=8))
    algo = PPO(2, 3, 1, num_envs=16, num_steps=32, seed=0)
    start = train(algo, env, evaluation, total_steps=512, eval_every_steps=512, stop_at_target=False).last_eval
    result = train(algo, env, evaluation, total_steps=40_000, eval_every_steps=10_000, stop_at_target=False)
    assert result.best_eval > start + 10.0


def test_adapter_refuses_what_is_not_an_isaac_env() -> None:
    with pytest.raises(TypeError, match="lacks"):
        IsaacLabAdapter(object())


def test_rsl_rl_on_policy_runner_trains_on_an_ember_env(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rsl_rl.runners import OnPolicyRunner

    env = as_rsl_rl(PendulumVecEnv(num_envs=32, seed=0))
    obs = env.get_observations()
    assert set(obs.keys()) == {"policy", "critic"} and obs.batch_size == torch.Size([32])
    cfg = {
        "num_steps_per_env": 24,
        "save_interval": 50,
        "obs_groups": {"actor": ["policy"], "critic": ["critic"]},
        "algorithm": {"class_name": "PPO", "learning_rate": 1e-3, "entropy_coef": 0.0},
        "actor": {
            "class_name": "MLPModel",
            "hidden_dims": [32, 32],
            "activation": "elu",
            "obs_normalization": True,
            "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0},
        },
        "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32], "activation": "elu", "obs_normalization": True},
        "logger": "tensorboard",
    }
    runner = OnPolicyRunner(env, cfg, log_dir=str(tmp_path), device="cpu")
    runner.learn(num_learning_iterations=3)
    assert runner.current_learning_iteration >= 2

"""Batched torch Pendulum: gymnasium's ``Pendulum-v1`` dynamics for N envs at once (contract 1).

Same equations, constants and reward as gymnasium (g = 10, m = l = 1, dt = 0.05 s, torque in [-2, 2] N m, speed
clipped to 8 rad/s, 200-step episodes that only truncate), so returns compare one to one with gymnasium and SB3.
Groups: ``policy`` = (cos θ, sin θ, θ̇) with optional noise; ``critic`` = the noiseless values and θ itself.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ember.sims.env import Obs, StepResult, VecEnv

MAX_SPEED = 8.0  # [rad/s]
MAX_TORQUE = 2.0  # [N m]
DT = 0.05  # [s]
G, M, L = 10.0, 1.0, 1.0  # [m/s^2], [kg], [m]


class PendulumVecEnv(VecEnv):
    """Args:
    num_envs: batch size.
    max_episode_length: steps per episode (200 as in gymnasium).
    obs_noise: std of the noise on the actor's observation.
    seed: seed of the first reset.
    device: torch device.
    """

    def __init__(
        self,
        num_envs: int = 64,
        max_episode_length: int = 200,
        obs_noise: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if num_envs < 1 or max_episode_length < 1:
            raise ValueError(f"num_envs and max_episode_length must be >= 1; got {num_envs}, {max_episode_length}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.max_episode_length = max_episode_length
        self.obs_noise = obs_noise
        self.single_observation_space = gym.spaces.Dict(
            {
                "policy": gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
                "critic": gym.spaces.Box(-np.inf, np.inf, (4,), np.float32),
            }
        )
        self.single_action_space = gym.spaces.Box(-MAX_TORQUE, MAX_TORQUE, (1,), np.float32)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.theta = torch.zeros(num_envs, device=self.device)
        self.theta_dot = torch.zeros(num_envs, device=self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        if seed is not None:
            self.generator.manual_seed(seed)
        self._reset_idx(torch.arange(self.num_envs, device=self.device))
        return self._observe(), {"log": {}}

    def _reset_idx(self, env_ids: torch.Tensor) -> None:
        n = len(env_ids)
        self.theta[env_ids] = (torch.rand(n, generator=self.generator, device=self.device) * 2 - 1) * math.pi
        self.theta_dot[env_ids] = torch.rand(n, generator=self.generator, device=self.device) * 2 - 1
        self.episode_length_buf[env_ids] = 0

    def save_state(self) -> dict[str, Any]:
        """Everything needed to continue bit for bit (checkpoints)."""
        return {
            "theta": self.theta.clone(),
            "theta_dot": self.theta_dot.clone(),
            "episode_length_buf": self.episode_length_buf.clone(),
            "generator": self.generator.get_state(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.theta, self.theta_dot = state["theta"].clone(), state["theta_dot"].clone()
        self.episode_length_buf = state["episode_length_buf"].clone()
        self.generator.set_state(state["generator"])

    def _observe(self) -> Obs:
        clean = torch.stack([torch.cos(self.theta), torch.sin(self.theta), self.theta_dot], dim=-1)
        policy = clean
        if self.obs_noise > 0:
            policy = clean + torch.randn(clean.shape, generator=self.generator, device=self.device) * self.obs_noise
        angle = (self.theta + math.pi) % (2 * math.pi) - math.pi
        return {"policy": policy, "critic": torch.cat([clean, angle[:, None]], dim=-1)}

    def step(self, actions: torch.Tensor) -> StepResult:
        u = torch.as_tensor(actions, dtype=torch.float32, device=self.device).reshape(self.num_envs, 1)[:, 0]
        u = torch.clamp(torch.nan_to_num(u), -MAX_TORQUE, MAX_TORQUE)
        angle = (self.theta + math.pi) % (2 * math.pi) - math.pi
        cost = angle**2 + 0.1 * self.theta_dot**2 + 0.001 * u**2
        theta_dot = self.theta_dot + (3 * G / (2 * L) * torch.sin(self.theta) + 3.0 / (M * L**2) * u) * DT
        self.theta_dot = torch.clamp(theta_dot, -MAX_SPEED, MAX_SPEED)
        self.theta = self.theta + self.theta_dot * DT
        self.episode_length_buf += 1
        truncated = self.episode_length_buf >= self.max_episode_length
        terminated = torch.zeros_like(truncated)
        obs = self._observe()
        final_obs = {k: v.clone() for k, v in obs.items()}
        ids = truncated.nonzero(as_tuple=False).flatten()
        if len(ids):
            self._reset_idx(ids)
            fresh = self._observe()
            for key in obs:
                obs[key][ids] = fresh[key][ids]
        extras = {"log": {"cost_mean": float(cost.mean())}, "time_outs": truncated.clone(), "final_obs": final_obs}
        return obs, -cost, terminated, truncated, extras

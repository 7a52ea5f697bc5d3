"""Contract 1 — the vectorized env, shaped like Isaac Lab's ``DirectRLEnv`` (../shared/DESIGN.md).

Shapes, for ``N = num_envs``:

- ``obs``: ``dict[str, Tensor]`` with group ``"policy"`` ``(N, policy_dim)`` — what the robot senses — and, for
  asymmetric actor-critic, ``"critic"`` ``(N, critic_dim)`` — privileged simulator state.
- ``reward``, ``terminated``, ``truncated``: ``(N,)`` float32 / bool / bool.
- ``extras["log"]``: ``dict[str, float]`` of scalar metrics; ``extras["time_outs"]``: ``(N,)`` bool, truncation;
  ``extras["final_obs"]``: ``dict[str, Tensor]`` indexed like ``obs``, the last observation of each env that just
  finished (rows of envs that did not finish repeat their current observation), for bootstrapping; optionally
  ``extras["success"]``: ``(N,)`` bool, episodes that just ended by reaching the task's goal (recorders and
  evaluations read it where an env has a success criterion).

Finished envs reset themselves inside :meth:`VecEnv.step`, through ``_reset_idx(env_ids)`` as in Isaac Lab.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
import torch

Obs = dict[str, torch.Tensor]
StepResult = tuple[Obs, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]


class VecEnv(ABC):
    """Batched environment. Subclasses fill in the attributes below and the ``_``-prefixed hooks."""

    num_envs: int
    device: torch.device
    max_episode_length: int
    """Steps per episode before truncation [control steps]."""
    single_observation_space: gym.spaces.Dict
    single_action_space: gym.spaces.Box
    episode_length_buf: torch.Tensor
    """``(num_envs,)`` int64, control steps since each env's reset."""

    @abstractmethod
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        """Reset every env. ``seed`` reseeds the whole batch deterministically."""

    @abstractmethod
    def step(self, actions: torch.Tensor) -> StepResult:
        """Apply ``actions`` ``(num_envs, action_dim)`` and advance one control step."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine resources."""

    @property
    def observation_space(self) -> gym.spaces.Dict:
        """Batched observation space (leading dimension ``num_envs``)."""
        return gym.spaces.Dict(
            {
                key: gym.spaces.Box(
                    low=np.broadcast_to(space.low, (self.num_envs, *space.shape)),
                    high=np.broadcast_to(space.high, (self.num_envs, *space.shape)),
                    dtype=space.dtype,  # type: ignore[arg-type]
                )
                for key, space in self.single_observation_space.spaces.items()
                if isinstance(space, gym.spaces.Box)
            }
        )

    @property
    def action_space(self) -> gym.spaces.Box:
        space = self.single_action_space
        return gym.spaces.Box(
            low=np.broadcast_to(space.low, (self.num_envs, *space.shape)),
            high=np.broadcast_to(space.high, (self.num_envs, *space.shape)),
            dtype=space.dtype,  # type: ignore[arg-type]
        )


class GymnasiumEnv(gym.Env):
    """One env of a :class:`VecEnv` (``num_envs == 1``) as a ``gymnasium.Env``, for ``check_env`` and SB3.

    Observations are the dict of groups as float32 numpy arrays. Auto-reset is hidden: gymnasium callers reset
    themselves, so the observation returned with ``terminated`` or ``truncated`` is the env's final observation.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(self, vec_env: VecEnv) -> None:
        if vec_env.num_envs != 1:
            raise ValueError(
                f"GymnasiumEnv wraps exactly one env; got num_envs={vec_env.num_envs}. Build it with num_envs=1."
            )
        self.vec_env = vec_env
        self.observation_space = vec_env.single_observation_space
        self.action_space = vec_env.single_action_space

    @staticmethod
    def _row(obs: Obs) -> dict[str, np.ndarray]:
        return {k: v[0].detach().cpu().numpy().astype(np.float32) for k, v in obs.items()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if seed is None and self.np_random is not None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
        obs, extras = self.vec_env.reset(seed=seed, options=options)
        return self._row(obs), {"log": extras.get("log", {})}

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        act = torch.as_tensor(np.asarray(action, dtype=np.float32).reshape(1, -1), device=self.vec_env.device)
        obs, reward, terminated, truncated, extras = self.vec_env.step(act)
        done = bool(terminated[0]) or bool(truncated[0])
        shown = self._row(extras["final_obs"]) if done else self._row(obs)
        return shown, float(reward[0]), bool(terminated[0]), bool(truncated[0]), {"log": extras.get("log", {})}

    def close(self) -> None:
        self.vec_env.close()

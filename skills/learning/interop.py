"""Interop with Isaac Lab and rsl_rl.

- :class:`IsaacLabAdapter` runs an env that follows Isaac Lab's ``DirectRLEnv`` / ``ManagerBasedRLEnv`` interface in
  Ember's trainers. Isaac Lab returns the observation *after* resetting finished envs and gives no final observation,
  so the adapter passes ``extras["time_outs"]`` and no ``final_obs``: PPO then bootstraps time-outs from the value of
  the last observation it saw (as rsl_rl does), SAC from the returned observation.
- :func:`as_rsl_rl` exposes an Ember env as rsl_rl's ``VecEnv`` (observations as a ``TensorDict`` of groups, dones,
  ``time_outs`` and ``log`` in extras), so rsl_rl's ``OnPolicyRunner`` trains on it. rsl_rl is an optional extra.
"""

from __future__ import annotations

from typing import Any

import torch

from ember.sims.env import Obs, StepResult, VecEnv


class IsaacLabAdapter(VecEnv):
    """Wrap an Isaac-Lab-style env (``DirectRLEnv`` or ``ManagerBasedRLEnv``) as Ember's :class:`VecEnv`."""

    def __init__(self, env: Any) -> None:
        missing = [
            a
            for a in (
                "num_envs",
                "device",
                "max_episode_length",
                "single_observation_space",
                "single_action_space",
                "reset",
                "step",
            )
            if not hasattr(env, a)
        ]
        if missing:
            raise TypeError(f"{type(env).__name__} lacks {missing}; it does not follow Isaac Lab's RL env interface")
        if "policy" not in env.single_observation_space.spaces:
            raise TypeError(
                f"{type(env).__name__}'s observation space has groups "
                f"{sorted(env.single_observation_space.spaces)}; Isaac Lab tasks name the actor's 'policy'"
            )
        self.env = env
        self.num_envs = env.num_envs
        self.device = torch.device(env.device)
        self.max_episode_length = int(env.max_episode_length)
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space

    @property  # type: ignore[override]
    def episode_length_buf(self) -> torch.Tensor:  # type: ignore[override]
        return self.env.episode_length_buf

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        obs, extras = self.env.reset(seed=seed, options=options)
        return dict(obs), {"log": dict(extras.get("log", {}))}

    def step(self, actions: torch.Tensor) -> StepResult:
        obs, reward, terminated, truncated, extras = self.env.step(actions.to(self.device))
        log = {
            k: float(v.float().mean()) if isinstance(v, torch.Tensor) else float(v)
            for k, v in extras.get("log", {}).items()
        }
        return dict(obs), reward, terminated.bool(), truncated.bool(), {"log": log, "time_outs": truncated.bool()}

    def close(self) -> None:
        if hasattr(self.env, "close"):
            self.env.close()


def as_rsl_rl(env: VecEnv) -> Any:
    """An rsl_rl ``VecEnv`` view of ``env`` (needs ``pip install ember[rsl_rl]``)."""
    try:
        from rsl_rl.env import VecEnv as RslVecEnv
        from tensordict import TensorDict
    except ImportError as err:
        raise ImportError("rsl_rl is not installed; install the extra: pip install -e '.[rsl_rl]'") from err

    class RslRlVecEnv(RslVecEnv):
        def __init__(self, inner: VecEnv) -> None:
            self.env = inner
            self.num_envs = inner.num_envs
            self.num_actions = int(inner.single_action_space.shape[0])
            self.max_episode_length = inner.max_episode_length
            self.device = inner.device
            self.cfg: dict[str, Any] = {}
            obs, _ = inner.reset()
            self._obs = obs

        @property
        def episode_length_buf(self) -> torch.Tensor:  # type: ignore[override]
            return self.env.episode_length_buf

        @episode_length_buf.setter
        def episode_length_buf(self, value: torch.Tensor) -> None:
            self.env.episode_length_buf = value

        def _td(self, obs: Obs) -> TensorDict:
            return TensorDict(dict(obs), batch_size=[self.num_envs], device=self.device)

        def get_observations(self) -> TensorDict:
            return self._td(self._obs)

        def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
            obs, reward, terminated, truncated, extras = self.env.step(actions)
            self._obs = obs
            log = {f"/{k}": v for k, v in extras.get("log", {}).items()}
            return self._td(obs), reward, (terminated | truncated).long(), {"time_outs": truncated, "log": log}

    return RslRlVecEnv(env)

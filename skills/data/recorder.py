"""Record demonstrations: run a controller on a vectorized env over seeded episodes and write each finished episode
to an :class:`~ember.skills.data.dataset.EpisodeWriter` (one episode at a time, so a killed recording keeps every
episode it finished).

A controller has ``reset(env_ids, critic)`` (new episodes start in those rows) and ``act(critic) -> actions``; it may
add ``episode_attrs(i) -> dict`` (stored with the episode, e.g. which side of an obstacle it chose). Actions are
recorded in the env's action space, so a policy trained on them acts where it was trained.

``action_noise`` > 0 injects noise into the executed actions while recording the controller's own (DART, Laskey et
al. 2017): the demonstrations then show how to recover from the small errors a learned policy makes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ember.sims.env import VecEnv
from ember.skills.data.dataset import EpisodeWriter, Field


def episode_fields(env: VecEnv) -> dict[str, Field]:
    """The per-step fields recorded from ``env``: both observation groups, the goal, the action and the reward."""
    spaces = env.single_observation_space
    goal = getattr(env, "goal_slice", slice(0, 0))
    fields = {
        "policy": Field(tuple(spaces["policy"].shape or ())),
        "action": Field(tuple(env.single_action_space.shape or ())),
        "reward": Field(()),
        "goal": Field((len(range(*goal.indices((spaces["policy"].shape or (0,))[0]))),)),
    }
    if "critic" in spaces.spaces:
        fields["critic"] = Field(tuple(spaces["critic"].shape or ()))
    return fields


def record(
    env: VecEnv,
    controller: Any,
    writer: EpisodeWriter,
    episodes: int,
    seed: int = 0,
    on_episode: Callable[[int, bool], None] | None = None,
    action_noise: float = 0.0,
) -> dict[str, Any]:
    """Record ``episodes`` finished episodes; returns counts. ``on_episode(done_so_far, success)`` reports progress."""
    import torch

    noise = torch.Generator().manual_seed(seed)
    goal = getattr(env, "goal_slice", slice(0, 0))
    obs, _ = env.reset(seed=seed)
    key = "critic" if "critic" in obs else "policy"
    controller.reset(list(range(env.num_envs)), obs[key])
    buffers: list[dict[str, list[Any]]] = [_empty() for _ in range(env.num_envs)]
    started = [0] * env.num_envs
    written = successes = 0
    while written < episodes:
        actions = controller.act(obs[key])
        executed = actions
        if action_noise > 0:
            executed = (actions + action_noise * torch.randn(actions.shape, generator=noise)).clamp(-1.0, 1.0)
        next_obs, reward, terminated, truncated, extras = env.step(executed)
        success = extras.get("success", terminated & (reward > 0))
        rows = {g: obs[g].cpu().numpy() for g in obs}
        act, rew = actions.cpu().numpy(), reward.cpu().numpy()
        for i in range(env.num_envs):
            buf = buffers[i]
            buf["policy"].append(rows["policy"][i])
            buf["goal"].append(rows["policy"][i][goal])
            buf["action"].append(act[i])
            buf["reward"].append(np.float32(rew[i]))
            if "critic" in rows:
                buf["critic"].append(rows["critic"][i])
        done = (terminated | truncated).cpu().numpy()
        for i in (int(k) for k in np.nonzero(done)[0]):
            if written < episodes:
                ok = bool(success[i])
                attrs = controller.episode_attrs(i) if hasattr(controller, "episode_attrs") else {}
                steps = {k: np.stack(v) for k, v in buffers[i].items() if v}
                writer.add(
                    steps,
                    success=ok,
                    seed=seed,
                    action_noise=action_noise,
                    env_index=int(i),
                    env_episode=started[i],
                    **attrs,
                )
                written += 1
                successes += ok
                if on_episode is not None:
                    on_episode(written, ok)
            buffers[i] = _empty()
            started[i] += 1
        if done.any():
            controller.reset(list(np.nonzero(done)[0]), next_obs[key])
        obs = next_obs
    return {"episodes": written, "successes": successes}


def _empty() -> dict[str, list[Any]]:
    return {"policy": [], "goal": [], "action": [], "reward": [], "critic": []}

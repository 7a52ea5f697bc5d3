"""Build an algorithm from its config (``launch/conf/algo/*.yaml``) for an env: used by ``ember train`` and by env
runners, which hold a copy of the algorithm next to their own env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from ember.skills.learning.ppo import PPO
from ember.skills.learning.sac import SAC


class AlgoConfigError(ValueError):
    pass


def cpu_threads(threads: int, flush_denormal: bool = True) -> None:
    """Set torch's intra-op threads for a training or inference process, first switching denormal floats off
    (flush to zero): a trained network's ELU backward and Adam's second moments fill with values below 1e-38, which
    x86 handles up to 100x slower — the retargeting critic's forward+backward took 5x longer with trained weights than
    with fresh ones (1.85 s against 0.37 s per 100 minibatches of 512 on 2 threads), and the PPO loop slowed as
    training went on. Set it before the thread pool starts: its threads copy the flag when they are created."""
    if flush_denormal:
        torch.set_flush_denormal(True)  # a no-op returning False where the CPU lacks it
    torch.set_num_threads(threads)


def build_algo(algo: dict[str, Any], env: Any, seed: int) -> SAC | PPO:
    """``algo`` is the ``algo`` config group as a dict (``name`` plus the class's arguments); sizes come from
    ``env``'s spaces and batch size."""
    algo = dict(algo)
    name = algo.pop("name")
    algo.pop("finetune_std", None)  # applied with init_from's weights (launch/train.py), not a constructor argument
    policy_dim = env.single_observation_space["policy"].shape[0]
    critic_space = env.single_observation_space.spaces.get("critic", env.single_observation_space["policy"])
    space = env.single_action_space
    discrete = isinstance(space, gym.spaces.Discrete)
    act_dim = int(space.n) if discrete else space.shape[0]
    algo["hidden"] = tuple(algo.get("hidden", (64, 64)))
    if name == "sac" and discrete:
        raise AlgoConfigError(
            "algo=sac needs a continuous (Box) action space; this task's actions are discrete: algo=ppo"
        )
    if name == "sac":
        low = torch.as_tensor(env.single_action_space.low, dtype=torch.float32)
        high = torch.as_tensor(env.single_action_space.high, dtype=torch.float32)
        return SAC(policy_dim, critic_space.shape[0], act_dim, low, high, seed=seed, **algo)
    if name == "ppo":
        batch = env.num_envs * int(algo.get("num_steps", 32))
        if int(algo.get("num_minibatches", 4)) > batch:
            raise AlgoConfigError(
                f"algo.num_minibatches={algo['num_minibatches']} is more than the {batch} samples of a rollout "
                f"({env.num_envs} envs x algo.num_steps={algo.get('num_steps', 32)}); give at most {batch}"
            )
        return PPO(
            policy_dim, critic_space.shape[0], act_dim, num_envs=env.num_envs, seed=seed, discrete=discrete, **algo
        )
    raise AlgoConfigError(f"algo.name={name!r} is unknown; choose one of ['ppo', 'sac']")

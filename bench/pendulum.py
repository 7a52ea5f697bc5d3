"""Ember SAC vs Stable-Baselines3 SAC on Pendulum: wall-clock time to a mean evaluation return >= -200.

    pip install stable-baselines3     # the comparison's only extra
    python bench/pendulum.py

Ember uses its documented default SAC configuration (launch/algo_config.py ``SACConfig``; no per-benchmark tuning) on
the batched torch pendulum with the default 8 envs; SB3 uses its documented defaults on gymnasium's Pendulum-v1. Both
evaluate every 1000 env steps on 10 episodes (Ember: 32 batched envs, one episode each; the time counts), one torch
thread, same machine, same run. Target: Ember >= 5x faster. Prints one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from machine import machine

from ember.launch.algo_config import SACConfig
from ember.launch.config import PendulumTaskConfig
from ember.sims.torch_envs.pendulum import PendulumVecEnv
from ember.skills.learning.runner import train
from ember.skills.learning.sac import SAC

TARGET = -200.0


def run_ember(seed: int) -> dict[str, Any]:
    config = {k: v for k, v in dataclasses.asdict(SACConfig()).items() if k != "name"}
    config["hidden"] = tuple(config["hidden"])
    task = PendulumTaskConfig()
    env = PendulumVecEnv(num_envs=task.num_envs, seed=seed)
    algo = SAC(3, 4, 1, torch.tensor([-2.0]), torch.tensor([2.0]), seed=seed, **config)
    result = train(
        algo,
        env,
        PendulumVecEnv(num_envs=32, seed=seed + 1),
        total_steps=200_000,
        eval_every_steps=1000,
        eval_target=TARGET,
    )
    return {
        "solved": result.solved_at_s is not None,
        "wall_s": round(result.solved_at_s or result.wall_s, 2),
        "env_steps": result.solved_at_steps or result.env_steps,
        "best_eval": round(result.best_eval, 1),
        "utd_ratio": config["utd_ratio"],
        "num_envs": task.num_envs,
    }


def run_sb3(seed: int, cap_s: float) -> dict[str, Any]:
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy

    model = SB3SAC("MlpPolicy", gym.make("Pendulum-v1"), seed=seed, verbose=0)
    eval_env = gym.make("Pendulum-v1")
    t0, state = time.perf_counter(), {"solved_s": None, "steps": 0, "best": -np.inf}

    class Check(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % 1000:
                return True
            mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
            state["best"] = max(state["best"], mean)
            if mean >= TARGET:
                state["solved_s"], state["steps"] = time.perf_counter() - t0, self.num_timesteps
                return False
            return time.perf_counter() - t0 < cap_s

    model.learn(total_timesteps=200_000, callback=Check())
    return {
        "solved": state["solved_s"] is not None,
        "wall_s": round(state["solved_s"] or time.perf_counter() - t0, 2),
        "env_steps": state["steps"],
        "best_eval": round(float(state["best"]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sb3-cap-s", type=float, default=300.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ember = run_ember(args.seed)
    sb3 = run_sb3(args.seed, args.sb3_cap_s)
    ratio = sb3["wall_s"] / ember["wall_s"]
    print(
        json.dumps(
            {
                "ember_sac": ember,
                "sb3_sac": sb3,
                "speedup": round(ratio, 2),
                "speedup_is_lower_bound": not sb3["solved"],
                "machine": machine(),
                "targets": {
                    "ember_5x_faster_than_sb3": {
                        "target": ">= 5",
                        "value": round(ratio, 2),
                        "met": ember["solved"] and ratio >= 5,
                    }
                },
            }
        )
    )


if __name__ == "__main__":
    main()

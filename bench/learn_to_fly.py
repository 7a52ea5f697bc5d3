"""Learning to fly: wall-clock time to the hover criterion on the batched torch quadrotor, and env throughput.

    python bench/learn_to_fly.py                       # Ember PPO and SAC, each capped at --cap-s seconds
    python bench/learn_to_fly.py --sb3                 # also Stable-Baselines3 PPO/SAC (pip install stable-baselines3)

Criterion (the task's): >= 95 % of 100 evaluation envs, started with position within 0.3 m of the target, tilt up to
30 degrees and speed up to 0.5 m/s, stay within 0.1 m of the target from t = 2 s to t = 12 s. Wall time includes
evaluation. SB3 runs with its documented defaults on the same dynamics wrapped as a gymnasium env, capped at 30x
Ember's time; where it does not reach the criterion the speed-up is reported as a lower bound with SB3's best.
Targets on 2 CPU cores: hover in <= 60 s (stretch 18 s), >= 10x faster than SB3, >= 1M env-steps/s at 4096 envs.
Prints one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from machine import machine
from rich.console import Console

from ember.sims import make_env
from ember.sims.env import GymnasiumEnv
from ember.sims.torch_envs.quadrotor import QuadrotorVecEnv, hover_success
from ember.skills.learning.build import build_algo
from ember.skills.learning.runner import train

# What `ember train task=quadrotor_hover algo=<preset>` composes: the task's default config and its PPO preset
# (launch/conf/algo/ppo_quadrotor.yaml); SAC with the settings it was last tried with, on 32 envs.
COMMANDS = {
    "ppo": ["task=quadrotor_hover"],  # the task's default algorithm: its PPO preset
    "sac": [
        "task=quadrotor_hover",
        "algo=sac",
        "task.num_envs=32",
        "algo.utd_ratio=0.1",
        "algo.learning_starts=5000",
        "algo.lr=1e-3",
        "algo.init_alpha=0.1",
        "eval_every_steps=20000",
    ],
}


def train_config(name: str, seed: int) -> dict[str, Any]:
    """The ``ember train`` config of ``COMMANDS[name]`` (Hydra's compose, the CLI's schemas and presets)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from ember.launch.config import register

    register()
    with initialize_config_module("ember.launch.conf", version_base="1.3"):
        cfg = compose("train", overrides=[*COMMANDS[name], f"seed={seed}"])
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def throughput() -> dict[str, float]:
    out = {}
    for n in (1, 64, 1024, 4096):
        env = QuadrotorVecEnv(num_envs=n)
        env.reset(seed=0)
        actions = torch.zeros(n, 4)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.5:
            env.step(actions)
            steps += n
        out[str(n)] = round(steps / (time.perf_counter() - t0))
    return out


def run_ember(name: str, cap_s: float, seed: int) -> dict[str, Any]:
    cfg = train_config(name, seed)
    task = dict(cfg["task"])
    env_id, eval_target, eval_envs = task.pop("name"), task.pop("eval_target"), task.pop("eval_envs")
    env = make_env(env_id, seed=seed, **task)  # as `ember train` builds them
    eval_env = make_env(env_id, **{**task, "num_envs": eval_envs, "seed": seed + 10_000})
    algo = build_algo(dict(cfg["algo"]), env, seed)
    t0 = time.perf_counter()
    state = {"best": 0.0}

    def criterion(a: Any) -> float:
        value = hover_success(eval_env, lambda obs: a.act(obs, deterministic=True))
        state["best"] = max(state["best"], value)
        if time.perf_counter() - t0 > cap_s:
            raise TimeoutError
        return value

    console = Console(stderr=True)

    def status(p: dict[str, Any]) -> None:
        console.print(
            f"ember {name}: {p['env_steps']:>10,} steps  {p['wall_s']:6.1f} s  success {p['eval']:.2f} "
            f"(best {p['best']:.2f})",
            highlight=False,
        )

    try:
        result = train(
            algo,
            env,
            eval_env,
            total_steps=10**9,
            eval_every_steps=cfg["eval_every_steps"],
            eval_target=eval_target,
            eval_fn=criterion,
            on_progress=status,
            seed=seed,
        )
        return {
            "algo": f"ember_{name}",
            "command": "ember train " + " ".join([*COMMANDS[name], f"seed={seed}"]),
            "num_envs": env.num_envs,
            "solved": result.solved_at_s is not None,
            "wall_s": round(result.wall_s, 1),
            "env_steps": result.env_steps,
            "best_success": state["best"],
        }
    except TimeoutError:
        return {
            "algo": f"ember_{name}",
            "command": "ember train " + " ".join([*COMMANDS[name], f"seed={seed}"]),
            "num_envs": env.num_envs,
            "solved": False,
            "wall_s": round(time.perf_counter() - t0, 1),
            "env_steps": algo.env_steps,
            "best_success": state["best"],
        }


class _PolicyOnly(gym.ObservationWrapper):
    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = env.observation_space["policy"]

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return observation["policy"]


def run_sb3(name: str, cap_s: float, seed: int) -> dict[str, Any]:
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback

    env = _PolicyOnly(GymnasiumEnv(QuadrotorVecEnv(num_envs=1, seed=seed)))
    model = (SB3PPO if name == "ppo" else SB3SAC)("MlpPolicy", env, seed=seed, verbose=0)
    eval_env = QuadrotorVecEnv(num_envs=100, seed=seed + 1)
    t0, state = time.perf_counter(), {"best": 0.0, "solved_s": None}

    class Check(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % 20_000:
                return time.perf_counter() - t0 < cap_s
            policy = lambda obs: torch.as_tensor(model.predict(obs["policy"].numpy(), deterministic=True)[0])  # noqa: E731
            value = hover_success(eval_env, policy)
            state["best"] = max(state["best"], value)
            if value >= 0.95:
                state["solved_s"] = time.perf_counter() - t0
                return False
            return time.perf_counter() - t0 < cap_s

    model.learn(total_timesteps=10**9, callback=Check())
    return {
        "algo": f"sb3_{name}",
        "solved": state["solved_s"] is not None,
        "wall_s": round(state["solved_s"] or time.perf_counter() - t0, 1),
        "best_success": state["best"],
        "cap_s": round(cap_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cap-s", type=float, default=300.0, help="wall-clock cap per Ember run [s]")
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"], choices=["ppo", "sac"])
    parser.add_argument("--sb3", action="store_true", help="also run Stable-Baselines3 (capped at 30x Ember's time)")
    parser.add_argument("--sb3-cap-x", type=float, default=30.0, help="SB3's cap as a multiple of Ember's time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [run_ember(name, args.cap_s, args.seed) for name in args.algos]
    if args.sb3:
        for name, ember in zip(args.algos, list(runs), strict=True):
            sb3 = run_sb3(name, args.sb3_cap_x * ember["wall_s"], args.seed)
            sb3["speedup"] = round(sb3["wall_s"] / ember["wall_s"], 2)
            sb3["speedup_is_lower_bound"] = not sb3["solved"]
            runs.append(sb3)
    rates = throughput()
    solved = [r for r in runs if r["algo"].startswith("ember") and r["solved"]]
    best = min((r["wall_s"] for r in solved), default=None)
    targets = {
        "hover_wall_s_le_60": {"target": "<= 60", "value": best, "met": best is not None and best <= 60},
        "env_steps_per_s_4096_ge_1M": {"target": ">= 1e6", "value": rates["4096"], "met": rates["4096"] >= 1e6},
    }
    if args.sb3:
        ratios = [r["speedup"] for r in runs if r["algo"].startswith("sb3")]
        targets["faster_than_sb3_ge_10x"] = {"target": ">= 10", "value": ratios, "met": all(x >= 10 for x in ratios)}
    print(
        json.dumps(
            {
                "runs": runs,
                "env_steps_per_s": rates,
                "machine": machine(),
                "targets": targets,
            }
        )
    )


if __name__ == "__main__":
    main()

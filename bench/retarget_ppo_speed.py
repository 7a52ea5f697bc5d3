"""Training throughput of asymmetric PPO on task=retarget: env steps per second of the whole loop (env step, acting,
PPO update), and where the time goes, for several env and thread settings. Networks and PPO settings are the shipped
PPO stage's (512-256 ELU, batch num_envs x num_steps, 4 minibatches unless given, 5 epochs; steady-state updates,
without its 30 critic-only warm-up updates); the env is the four training clips with the residual on motion matching.

    python bench/retarget_ppo_speed.py                      # the default settings below
    python bench/retarget_ppo_speed.py --settings 32,0,1,64 128,2,2,64,16   # each: num_envs,physics_threads,
                                                                           # threads,num_steps[,minibatches (4)]
    python bench/retarget_ppo_speed.py --settings 128,2,2,64,16 \
        --init-from skills/humanoid/checkpoints/retarget/checkpoint.pt [--keep-denormals]   # trained networks

Fresh networks run at one speed; trained ones (``--init-from``: a PPO checkpoint's networks, normalizers and optimizer
moments) fill their ELU backward and Adam moments with denormal floats, which x86 handles far slower, so the loop
slowed as training went on until ``ember train`` flushed them to zero (``cpu_threads``).

Prints progress to stderr and one JSON object as the last line of stdout. Run it on idle cores: anything else
running changes the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from machine import machine
from rich.console import Console

from ember.sims.humanoid.retarget_env import RetargetVecEnv
from ember.skills.learning.build import cpu_threads
from ember.skills.learning.ppo import PPO
from ember.skills.learning.runner import load_checkpoint

DEFAULT_SETTINGS = ["32,0,1,64", "32,2,1,64", "128,2,2,16", "128,2,2,64,16"]
"""The shipped PPO stage's settings (32 envs stepped from Python, 1 torch thread; with physics_threads=2 for its last
part), then 128 envs on two rollout and two torch threads: the shipped batch of 2048 (16 steps), and 64 steps with 16
minibatches (the shipped minibatch of 512 and gradient steps per sample)."""


def measure(
    num_envs: int,
    physics_threads: int,
    threads: int,
    num_steps: int,
    minibatches: int,
    samples: int,
    init_from: str | None = None,
    flush_denormal: bool = True,
) -> dict[str, Any]:
    """Throughput over about ``samples`` env steps (whole rollouts), after one warm-up rollout."""
    cpu_threads(threads, flush_denormal)
    env = RetargetVecEnv(
        num_envs=num_envs,
        clips=["walk", "run", "punch", "kick"],
        mirror=False,
        residual_scale=0.5,
        physics_threads=physics_threads,
        seed=0,
    )
    obs, _ = env.reset(seed=0)
    algo = PPO(
        obs["policy"].shape[1],
        obs["critic"].shape[1],
        env.single_action_space.shape[0],
        num_envs,
        num_steps,
        hidden=(512, 256),
        num_minibatches=minibatches,
        init_std=0.03,
        lr=3e-5,
        critic_lr=1e-3,
        gamma=0.95,
        lam=0.95,
        desired_kl=None,
    )
    if init_from is not None:
        algo.load_state_dict({**load_checkpoint(Path(init_from))["algo"], "env_steps": 0})
    spent = {"env": 0.0, "act": 0.0, "update": 0.0}
    rollouts = max(2, samples // (num_envs * num_steps)) + 1
    for r in range(rollouts):
        if r == 1:  # the first rollout warms caches and thread pools
            spent = {k: 0.0 for k in spent}
        for _ in range(num_steps):
            t = time.perf_counter()
            actions = algo.act(obs)
            t1 = time.perf_counter()
            next_obs, reward, terminated, truncated, extras = env.step(actions)
            t2 = time.perf_counter()
            algo.process_env_step(next_obs, reward, terminated, truncated, extras)
            obs = next_obs
            spent["act"] += t1 - t + time.perf_counter() - t2
            spent["env"] += t2 - t1
        t = time.perf_counter()
        algo.compute_returns(obs)
        algo.update()
        spent["update"] += time.perf_counter() - t
    env.close()
    steps = (rollouts - 1) * num_envs * num_steps
    total = sum(spent.values())
    return {
        "num_envs": num_envs,
        "physics_threads": physics_threads,
        "threads": threads,
        "num_steps": num_steps,
        "minibatches": minibatches,
        "env_steps": steps,
        "steps_per_s": round(steps / total),
        "share": {k: round(v / total, 2) for k, v in spent.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, help="envs,physics threads,threads,steps")
    parser.add_argument("--samples", type=int, default=40_000, help="env steps measured per setting")
    parser.add_argument("--init-from", help="a PPO checkpoint (checkpoint.pt or checkpoints/last.pt) to start from")
    parser.add_argument("--keep-denormals", action="store_true", help="do not flush denormal floats to zero")
    args = parser.parse_args()
    console = Console(stderr=True)
    flush = not args.keep_denormals
    rows = []
    for text in args.settings:
        try:
            values = [int(v) for v in text.split(",")]
            num_envs, physics_threads, threads, num_steps = values[:4]
            minibatches = values[4] if len(values) == 5 else 4
            if len(values) > 5:
                raise ValueError(text)
        except ValueError:
            parser.error(f"--settings {text!r}: give num_envs,physics_threads,threads,num_steps[,minibatches]")
        if min(num_envs, threads, num_steps, minibatches) < 1 or physics_threads < 0:
            parser.error(f"--settings {text!r}: each must be >= 1 (physics_threads >= 0)")
        with console.status(f"PPO on task=retarget, {text}"):
            rows.append(
                measure(num_envs, physics_threads, threads, num_steps, minibatches, args.samples, args.init_from, flush)
            )
        console.print(json.dumps(rows[-1]))
    print(
        json.dumps(
            {
                "machine": machine(),
                "samples": args.samples,
                "init_from": args.init_from,
                "flush_denormal": flush,
                "settings": rows,
            }
        )
    )


if __name__ == "__main__":
    main()

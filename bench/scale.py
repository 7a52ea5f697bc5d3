"""Scaling benchmark (issue 12): env-steps/s through Ray env runners vs the learner's own process, Ray's fixed costs,
the weight broadcast's share of an iteration, and time to a fixed return.

    python bench/scale.py                          # PyBullet tabletop_push throughput + pendulum SAC time-to-return
    python bench/scale.py --iterations 10 --skip-return

Throughput: ``tabletop_push`` (PyBullet, ``--envs`` clients per runner), PPO with ``--steps`` steps per env per
iteration, measured over ``--iterations`` iterations after one warm-up iteration; ``local`` steps the env in the
learner's process (``ember train``'s default), ``ray_N`` through N Ray actors (one CPU each) that each hold
``--envs`` envs. Two rates: collection only (``sample_steps_per_s``: env steps / time the runners took to sample,
broadcast included) and whole iterations (``steps_per_s``: sampling + the learner's update). Ray's fixed costs
(``ray.init``, starting the actors and building their envs) are reported apart and are not in either rate.
Time to return: pendulum SAC (the task's defaults) until the evaluation return reaches -200, local vs Ray, each
starting its clock after set-up. Target (issue 12): >= 1.6x at 2 workers on 2 cores for the PyBullet env; weight
broadcast <= 10 % of iteration time. Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import torch
from machine import machine
from rich.console import Console

from ember.sims import make_env
from ember.skills.learning.build import build_algo
from ember.skills.learning.runner import train
from ember.skills.learning.runners import RunnerGroup, RunnerSpec, start_ray

console = Console(stderr=True)


def ppo_cfg(steps: int) -> dict[str, Any]:
    return {"name": "ppo", "num_steps": steps, "hidden": [128, 128], "epochs": 2, "num_minibatches": 2}


def local_throughput(env_name: str, envs: int, steps: int, iterations: int) -> dict[str, Any]:
    env = make_env(env_name, num_envs=envs, seed=0)
    algo = build_algo(ppo_cfg(steps), env, 0)
    obs, _ = env.reset(seed=0)
    sample_s = update_s = 0.0
    for it in range(iterations + 1):
        t0 = time.perf_counter()
        for _ in range(steps):
            actions = algo.act(obs)
            obs, reward, terminated, truncated, extras = env.step(actions)
            algo.process_env_step(obs, reward, terminated, truncated, extras)
        algo.compute_returns(obs)
        t1 = time.perf_counter()
        algo.update()
        if it > 0:  # the first iteration warms up
            sample_s += t1 - t0
            update_s += time.perf_counter() - t1
    env.close()
    n = iterations * steps * envs
    return {
        "workers": 0,
        "envs": envs,
        "sample_steps_per_s": round(n / sample_s),
        "steps_per_s": round(n / (sample_s + update_s)),
        "update_share": round(update_s / (sample_s + update_s), 3),
    }


def ray_throughput(env_name: str, workers: int, envs: int, steps: int, iterations: int) -> dict[str, Any]:
    spec = RunnerSpec(env_name, {"num_envs": envs}, ppo_cfg(steps), seed=0, rollout_steps=steps)
    group = RunnerGroup(spec, workers, backend="ray")
    learner = build_algo(ppo_cfg(steps), make_env(env_name, num_envs=1, seed=0), 0)
    broadcast_s = sample_s = update_s = 0.0
    try:
        for it in range(iterations + 1):
            batches = group.sample(learner, steps)
            learner.ingest([b.data for b in batches])
            t1 = time.perf_counter()
            learner.update()
            if it > 0:
                broadcast_s += group.stats["broadcast_s"]
                sample_s += group.stats["broadcast_s"] + group.stats["sample_s"]
                update_s += time.perf_counter() - t1
    finally:
        group.close()
    n = iterations * steps * envs * workers
    return {
        "workers": workers,
        "envs": envs * workers,
        "sample_steps_per_s": round(n / sample_s),
        "steps_per_s": round(n / (sample_s + update_s)),
        "update_share": round(update_s / (sample_s + update_s), 3),
        "broadcast_share": round(broadcast_s / (sample_s + update_s), 4),
        "broadcast_ms": round(1000 * broadcast_s / iterations, 2),
        "fixed_costs_s": {"ray_init": round(group.ray_init_s, 2), "runners_start": round(group.start_s, 2)},
    }


def time_to_return(workers: int, target: float = -200.0, budget: int = 40_000) -> dict[str, Any]:
    sac = {"name": "sac", "hidden": [64, 64], "learning_starts": 500, "utd_ratio": 0.5, "lr": 3e-3}
    eval_env = make_env("pendulum", num_envs=16, seed=10_000)
    group = None
    if workers:
        spec = RunnerSpec("pendulum", {"num_envs": 8 // workers}, dict(sac), seed=0, rollout_steps=32)
        group = RunnerGroup(spec, workers, backend="ray")
        env = None
    else:
        env = make_env("pendulum", num_envs=8, seed=0)
    algo = build_algo(dict(sac), eval_env if env is None else env, 0)
    try:
        result = train(algo, env, eval_env, budget, eval_every_steps=1024, eval_target=target, runners=group)  # type: ignore[arg-type]
    finally:
        if group is not None:
            group.close()
    return {
        "workers": workers,
        "solved_s": None if result.solved_at_s is None else round(result.solved_at_s, 2),
        "solved_env_steps": result.solved_at_steps,
        "best_eval": round(result.best_eval, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="tabletop_push")
    parser.add_argument("--envs", type=int, default=8, help="envs per runner (and in the local process)")
    parser.add_argument("--steps", type=int, default=32, help="steps per env per iteration")
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--workers", default="1,2", help="Ray worker counts to measure")
    parser.add_argument("--skip-return", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    counts = [int(w) for w in args.workers.split(",")]
    rows = []
    console.log(f"local: {args.envs} {args.env} envs, {args.iterations} iterations x {args.steps} steps")
    rows.append({"mode": "local", **local_throughput(args.env, args.envs, args.steps, args.iterations)})
    t0 = time.perf_counter()
    start_ray(None, num_cpus=os.cpu_count())
    ray_init_s = time.perf_counter() - t0
    for w in counts:
        console.log(f"ray: {w} runners x {args.envs} envs")
        rows.append({"mode": f"ray_{w}", **ray_throughput(args.env, w, args.envs, args.steps, args.iterations)})
    base = rows[0]
    for row in rows:
        row["speedup_vs_local"] = round(row["steps_per_s"] / base["steps_per_s"], 2)
        row["sample_speedup_vs_local"] = round(row["sample_steps_per_s"] / base["sample_steps_per_s"], 2)
    returns = []
    if not args.skip_return:
        for w in [0, *counts]:
            console.log(f"pendulum SAC to return -200: {'local' if w == 0 else f'{w} Ray runners'}")
            returns.append({"mode": "local" if w == 0 else f"ray_{w}", **time_to_return(w)})
    import ray

    ray.shutdown()
    two = next((r for r in rows if r["mode"] == "ray_2"), None)
    out = {
        "bench": "scale",
        "machine": machine(),
        "env": args.env,
        "ray_init_s": round(ray_init_s, 2),
        "throughput": rows,
        "time_to_return": returns,
        "targets": {
            "speedup_2_workers": {"target": 1.6, "measured": two["speedup_vs_local"] if two else None},
            "broadcast_share": {"target": 0.10, "measured": max(r.get("broadcast_share", 0) for r in rows)},
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())

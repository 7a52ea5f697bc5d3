"""Tabletop benchmark: plan-and-execute success per goal template, and vectorized-env throughput vs raw stepping.

    python bench/tabletop.py                 # 50 seeded episodes per template (about 5 minutes on 2 cores)
    python bench/tabletop.py --episodes 5    # quick look

Prints progress to stderr and one JSON object as the last line of stdout.
Targets: >= 95 % success on each template; env overhead <= 20 % over raw stepSimulation (same scenes, clients,
control mode and decimation, both counted in physics steps/s, measured in this run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from machine import machine
from rich.console import Console
from rich.progress import Progress

from ember.launch.episode import run_episode
from ember.sims.pybullet.tabletop_env import TabletopVecEnv

COLORS = ("red", "green", "blue")


def _perm(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [COLORS[i] for i in rng.permutation(3)]


# Each template maps a seed to (goal, arrangement): the cubes involved vary with the seed.
TEMPLATES: dict[str, Callable[[int], tuple[str, Any]]] = {
    "pick_place": lambda s: (f"put the {_perm(s)[0]} cube in the tray", "scattered"),
    "stack_2": lambda s: (f"stack {_perm(s)[0]} on {_perm(s)[1]}", "scattered"),
    "stack_3": lambda s: (f"stack {_perm(s)[1]} on {_perm(s)[0]} and {_perm(s)[2]} on {_perm(s)[1]}", "scattered"),
    "unstack_3_tower": lambda s: ("unstack everything", "tower"),
    "clear_tray": lambda s: ("clear the tray", "tray"),
    "all_in_tray": lambda s: ("put every cube in the tray", "scattered"),
    "all_in_tray_mixed": lambda s: ("put every cube in the tray", "mixed"),
}


def bench_templates(episodes: int, progress: Progress) -> dict[str, Any]:
    task = {"name": "tabletop", "cubes": list(COLORS), "tray": True, "max_seconds": 150.0}
    out: dict[str, Any] = {}
    for name, make in TEMPLATES.items():
        bar = progress.add_task(name, total=episodes)
        results = []
        for seed in range(episodes):
            goal, arrangement = make(seed)
            metrics = run_episode(
                {**task, "arrangement": arrangement}, {"name": "symbolic"}, goal, seed=1000 + seed, max_replans=2
            )
            results.append(metrics)
            progress.update(bar, advance=1, description=f"{name} {sum(r['success'] for r in results)}/{len(results)}")
        failures = [
            {"seed": 1000 + i, "goal": r["goal"], "reason": r["reason"]}
            for i, r in enumerate(results)
            if not r["success"]
        ]
        out[name] = {
            "success_rate": sum(r["success"] for r in results) / episodes,
            "episodes": episodes,
            "mean_sim_steps": statistics.mean(r["sim_steps"] for r in results),
            "mean_world_time_s": round(statistics.mean(r["world_time_s"] for r in results), 2),
            "mean_wall_time_s": round(statistics.mean(r["wall_time_s"] for r in results), 3),
            "mean_replans": statistics.mean(r["replans"] for r in results),
            "failures": failures[:5],
        }
    return out


def _env_rate(num_envs: int, seconds: float) -> float:
    env = TabletopVecEnv(task="push", num_envs=num_envs, control="ee_delta", max_episode_length=100)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        env.step(torch.rand(num_envs, 4, generator=gen) * 2 - 1)
        steps += 1
    rate = steps * num_envs * env.decimation / (time.perf_counter() - t0)
    env.close()
    return rate


def _raw_rate(num_envs: int, seconds: float) -> float:
    """The same scenes and clients, the same control mode (IK on the grasp point plus motor targets) and decimation,
    and the same episode resets every ``max_episode_length`` steps (the push task starts the arm beside the cube,
    where contacts make physics dearer), with no observation, reward or tensor work."""
    env = TabletopVecEnv(task="push", num_envs=num_envs, control="ee_delta", max_episode_length=100)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for scene in env.scenes:
            ee, _ = scene.ee_pose()
            scene.arm_target = scene.ik(ee + rng.uniform(-1, 1, 3) * env.ee_step, 0.0)
            scene.hold_arm()
            for _ in range(env.decimation):
                scene.bc.stepSimulation()
        steps += 1
        if steps % env.max_episode_length == 0:
            env._reset_idx(np.arange(num_envs))
    rate = steps * num_envs * env.decimation / (time.perf_counter() - t0)
    env.close()
    return rate


def bench_throughput(seconds: float) -> dict[str, Any]:
    out = {}
    for n in (1, 2, 4):
        env_rate, raw_rate = _env_rate(n, seconds), _raw_rate(n, seconds)
        out[str(n)] = {
            "env_physics_steps_per_s": round(env_rate),
            "env_steps_per_s": round(env_rate / 8),
            "raw_physics_steps_per_s": round(raw_rate),
            "overhead_fraction": round(1.0 - env_rate / raw_rate, 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=50, help="seeded episodes per goal template")
    parser.add_argument("--throughput-seconds", type=float, default=4.0, help="measuring time per setting [s]")
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    templates: dict[str, Any] = {}
    if args.episodes > 0:
        with Progress(transient=False, console=Console(stderr=True)) as progress:
            templates = bench_templates(args.episodes, progress)
    throughput = bench_throughput(args.throughput_seconds)
    targets = {
        f"success_{name}": {"target": ">= 0.95", "value": r["success_rate"], "met": r["success_rate"] >= 0.95}
        for name, r in templates.items()
    }
    worst = max(t["overhead_fraction"] for t in throughput.values())
    targets["env_overhead"] = {"target": "<= 0.20", "value": worst, "met": worst <= 0.20}
    result = {
        "templates": templates,
        "throughput": throughput,
        "machine": machine(),
        "bench_wall_s": round(time.perf_counter() - t0, 1),
        "targets": targets,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

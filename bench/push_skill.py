"""Learned push vs scripted push: success over seeded episodes, each skill run through the world contract.

    python bench/push_skill.py --artifact skills/tabletop/checkpoints/push --episodes 100

Each episode: one cube scattered on the table (the training distribution's scene), a goal 8-18 cm away inside the
workspace, drawn from the seed; the skill runs until it reports success or failure (or 20 s of world time).
Target: the learned skill's success rate >= 90 % of the scripted skill's. Prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import torch
from machine import machine
from rich.console import Console
from rich.progress import Progress

from ember.sims.pybullet.assets import WORKSPACE_X, WORKSPACE_Y
from ember.sims.pybullet.tabletop_world import TabletopWorld
from ember.skills.skill import Skill, Status
from ember.skills.tabletop.learned import LearnedPush
from ember.skills.tabletop.skills import Push


def goal_for(world: TabletopWorld, rng: np.random.Generator) -> list[float]:
    cube = np.array(world.objects()["red_cube"].position[:2])
    for _ in range(100):
        angle, dist = rng.uniform(-math.pi, math.pi), rng.uniform(0.08, 0.18)
        goal = cube + dist * np.array([math.cos(angle), math.sin(angle)])
        if WORKSPACE_X[0] <= goal[0] <= WORKSPACE_X[1] and WORKSPACE_Y[0] <= goal[1] <= WORKSPACE_Y[1] + 0.1:
            break
    return goal.tolist()


def run(skill: Skill, seed: int) -> tuple[bool, list[float]]:
    with TabletopWorld(cubes=("red",), tray=False, seed=seed, obs_noise=0.005) as world:
        goal = goal_for(world, np.random.default_rng(seed + 10_000))
        skill.start(world, "panda", obj="red_cube", position=goal)
        values: list[float] = []
        while world.time() < 20.0:
            outcome = skill.tick()
            if outcome.value is not None:
                values.append(outcome.value)
            if outcome.status != Status.RUNNING:
                break
            world.advance()
        final = np.array(world.objects()["red_cube"].position[:2])
        return bool(np.linalg.norm(final - goal) < Push.tolerance), values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default=None, help="learned push artifact folder (default: the committed one)")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with Progress(console=Console(stderr=True)) as progress:
        bar = progress.add_task("scripted push", total=args.episodes)
        scripted = []
        for seed in range(args.episodes):
            scripted.append(run(Push(), seed)[0])
            progress.update(bar, advance=1, description=f"scripted push {sum(scripted)}/{len(scripted)}")
        bar = progress.add_task("learned push", total=args.episodes)
        learned_runs = []
        for seed in range(args.episodes):
            learned_runs.append(run(LearnedPush(artifact=args.artifact), seed))
            progress.update(bar, advance=1, description=f"learned push {sum(ok for ok, _ in learned_runs)}/{seed + 1}")
    learned = [ok for ok, _ in learned_runs]
    rate_s, rate_l = float(np.mean(scripted)), float(np.mean(learned))
    ratio = rate_l / rate_s if rate_s else 0.0
    print(
        json.dumps(
            {
                "episodes": args.episodes,
                "scripted_success_rate": rate_s,
                "learned_success_rate": rate_l,
                "ratio": round(ratio, 3),
                "mean_first_value": float(np.mean([v[0] for _, v in learned_runs if v] or [0.0])),
                "machine": machine(),
                "targets": {
                    "learned_ge_90pct_of_scripted": {"target": ">= 0.9", "value": round(ratio, 3), "met": ratio >= 0.9}
                },
            }
        )
    )


if __name__ == "__main__":
    main()

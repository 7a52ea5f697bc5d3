"""Human-object interaction: full-task and sub-step completion per task for the scripted baseline (the learned
goal-conditioned policy is not trained yet; its rows will sit beside these).

    python bench/hoi.py                  # 100 seeded episodes per task
    python bench/hoi.py --episodes 10

Each episode: a seeded scene for the task (``sims/hoi/env.sample_scene``), the template planner's stages for one
instruction (the same ones the tests use), validated, then run as ``StageSkill`` leaves with the scripted feedback
controller; a stage succeeds when its reward passes 0.9 within 10 s of world time. Reports full-task completion,
sub-step completion, the share of planner outputs that were valid, mean world time of successes and wall time.
Precision and contact accuracy need the learned policy's rollouts too and are not reported yet.
Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from machine import machine
from rich.console import Console
from rich.progress import Progress

from ember.planners.hoi.template import TemplatePlanner, task_instruction
from ember.planners.validate import PlanError
from ember.sims.hoi.env import sample_scene
from ember.sims.hoi.world import HOIWorld
from ember.skills.hoi.scripted import run_stages
from ember.skills.skill import Status

TASKS = ("reach", "push", "open", "sit", "carry")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    planner = TemplatePlanner()
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    with Progress(console=Console(stderr=True)) as progress:
        for task in TASKS:
            bar = progress.add_task(task, total=args.episodes)
            full, steps_done, steps_all, valid, seconds = 0, 0, 0, 0, []
            for seed in range(args.episodes):
                rng = np.random.default_rng(1000 + seed)
                world = HOIWorld.from_description(sample_scene(task, rng), seed=seed)
                try:
                    stages = [
                        s.to_dict() for s in planner.plan(task_instruction(task, rng), world.description()).stages
                    ]
                except PlanError:
                    progress.advance(bar)
                    continue
                valid += 1
                results = run_stages(world, stages, timeout=10.0)
                done = sum(r.status is Status.SUCCESS for r in results)
                steps_done, steps_all = steps_done + done, steps_all + len(stages)
                if done == len(stages):
                    full += 1
                    seconds.append(sum(r.seconds for r in results))
                progress.update(bar, advance=1, description=f"{task} {full}/{seed + 1}")
            out[task] = {
                "scripted": {
                    "full_task_completion": full / args.episodes,
                    "sub_step_completion": round(steps_done / max(steps_all, 1), 3),
                    "mean_world_s_of_successes": round(float(np.mean(seconds)), 2) if seconds else None,
                },
                "planner_valid_share": valid / args.episodes,
            }
    print(
        json.dumps(
            {
                "tasks": out,
                "episodes": args.episodes,
                "wall_s": round(time.perf_counter() - t0, 1),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()

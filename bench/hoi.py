"""Human-object interaction: per task, the learned goal-conditioned policy (the shipped artifact, or ``--policy``)
and the scripted baseline on the same seeded scenes and stages.

    python bench/hoi.py                       # 100 seeded episodes per task, both controllers
    python bench/hoi.py --episodes 10 --policy runs/train_..._hoi_ppo_seed0/artifact
    python bench/hoi.py --no-policy           # the scripted baseline only

Each episode: a seeded scene for the task (``sims/hoi/env.sample_scene``), the template planner's stages for one
instruction (the same ones the tests use), validated, then run as ``StageSkill`` leaves with each controller; a stage
succeeds when its reward passes 0.9 within 10 s of world time. Per controller and task: full-task completion, sub-step
completion, sub-step precision (cm: at the end of each completed stage that moves an object, the object's distance to
its target; for a stage with contact links, their mean gap), contact accuracy (at the end of every stage run, the
share of contact links touching and separating links not touching, 2.5 cm), failures by cause (timeout; the
character or box leaving the workspace counts as a timeout here), mean world time of successes; plus the share of
planner outputs that were valid; and, as both controllers run the same seeded episodes, a paired comparison: the
episodes only one of them completed and the exact McNemar test's p-value. A residual artifact (``meta.json``'s
``residual_scale`` > 0) runs the scripted controller under the policy, as in training. Prints progress to stderr and
one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine
from rich.console import Console
from rich.progress import Progress

from ember.planners.hoi.template import TemplatePlanner, task_instruction
from ember.planners.validate import PlanError
from ember.sims.hoi.env import sample_scene
from ember.sims.hoi.world import HOIWorld
from ember.skills.hoi.learned import SHIPPED, PolicyStageController
from ember.skills.hoi.scripted import ScriptedStageController, run_stages
from ember.skills.skill import Status

TASKS = ("reach", "push", "open", "sit", "carry")


def run_controller(task: str, episodes: int, planner: TemplatePlanner, make_controller: Any, progress: Progress,
                   label: str) -> tuple[dict[str, Any], int, list[bool]]:  # fmt: skip
    bar = progress.add_task(f"{label} {task}", total=episodes)
    full, steps_done, steps_all, valid, seconds = 0, 0, 0, 0, []
    errors: list[float] = []
    right = judged = 0
    solved: list[bool] = []  # per seeded episode, for the paired comparison
    for seed in range(episodes):
        rng = np.random.default_rng(1000 + seed)
        world = HOIWorld.from_description(sample_scene(task, rng), seed=seed)
        try:
            stages = [s.to_dict() for s in planner.plan(task_instruction(task, rng), world.description()).stages]
        except PlanError:
            progress.advance(bar)
            solved.append(False)
            continue
        valid += 1
        results = run_stages(world, stages, controller=make_controller(), timeout=10.0)
        done = sum(r.status is Status.SUCCESS for r in results)
        steps_done, steps_all = steps_done + done, steps_all + len(stages)
        errors += [r.error_m for r in results if r.status is Status.SUCCESS and r.error_m is not None]
        right += sum(r.contacts_right for r in results)
        judged += sum(r.contacts_judged for r in results)
        solved.append(done == len(stages))
        if done == len(stages):
            full += 1
            seconds.append(sum(r.seconds for r in results))
        progress.update(bar, advance=1, description=f"{label} {task} {full}/{seed + 1}")
    row = {
        "full_task_completion": full / episodes,
        "sub_step_completion": round(steps_done / max(steps_all, 1), 3),
        "sub_step_precision_cm": round(100 * float(np.mean(errors)), 1) if errors else None,
        "contact_accuracy": round(right / judged, 3) if judged else None,
        "failed_episodes": episodes - full,
        "mean_world_s_of_successes": round(float(np.mean(seconds)), 2) if seconds else None,
    }
    return row, valid, solved


def paired(learned: list[bool], scripted: list[bool]) -> dict[str, Any]:
    """The two controllers on the same seeded episodes: episodes only one of them completed, and the exact McNemar
    test's two-sided p-value (a binomial test on those discordant episodes) that they complete equally often."""
    from scipy.stats import binomtest

    only_learned = sum(a and not b for a, b in zip(learned, scripted, strict=True))
    only_scripted = sum(b and not a for a, b in zip(learned, scripted, strict=True))
    discordant = only_learned + only_scripted
    p = binomtest(only_learned, discordant).pvalue if discordant else 1.0
    return {"only_learned": only_learned, "only_scripted": only_scripted, "mcnemar_p": round(float(p), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--policy", default=None, help="artifact folder (default: the shipped one)")
    parser.add_argument("--no-policy", action="store_true", help="the scripted baseline only")
    args = parser.parse_args()
    planner = TemplatePlanner()
    controllers: dict[str, Any] = {"scripted": ScriptedStageController}
    meta: dict[str, Any] = {}
    if not args.no_policy:
        folder = Path(args.policy) if args.policy else SHIPPED
        meta = {"artifact": str(folder), **PolicyStageController(folder).meta}
        controllers["learned"] = lambda: PolicyStageController(folder)
    out: dict[str, Any] = {}
    solved: dict[str, dict[str, list[bool]]] = {}
    t0 = time.perf_counter()
    with Progress(console=Console(stderr=True)) as progress:
        for task in TASKS:
            out[task], solved[task] = {}, {}
            for label, make in controllers.items():
                row, valid, solved[task][label] = run_controller(task, args.episodes, planner, make, progress, label)
                out[task][label] = row
                out[task]["planner_valid_share"] = valid / args.episodes
            if "learned" in controllers:
                out[task]["paired"] = paired(solved[task]["learned"], solved[task]["scripted"])
    completion = {t: {k: v["full_task_completion"] for k, v in out[t].items() if k in controllers} for t in TASKS}
    learned_better = [t for t in TASKS if completion[t].get("learned", -1.0) > completion[t]["scripted"]]
    targets = {}
    if "learned" in controllers:
        targets = {
            "completion_ge_80_reach_push_sit": {
                t: out[t]["learned"]["full_task_completion"] >= 0.8 for t in ("reach", "push", "sit")
            },
            "above_scripted_on_3_tasks": {"tasks": learned_better, "met": len(learned_better) >= 3},
            "significantly_above_scripted": [  # McNemar p < 0.05 on the same seeded episodes
                t for t in learned_better if out[t]["paired"]["mcnemar_p"] < 0.05
            ],
        }
    print(
        json.dumps(
            {
                "tasks": out,
                "targets": targets,
                "policy": {
                    k: meta.get(k)
                    for k in ("artifact", "train_command", "env_steps", "wall_s", "tasks", "residual_scale")
                },
                "episodes": args.episodes,
                "wall_s": round(time.perf_counter() - t0, 1),
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()

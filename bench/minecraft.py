"""Minecraft: success rate and mean time over seeded trials on Ember's local server, symbolic planner.

    python bench/minecraft.py [--trials 20]

Each trial lays out a fresh seeded scenario (bots' spawn points, 3 trees 6-14 blocks away, 2 cobblestone walls or
pillars in between; `sims/minecraft/scenarios.py`) and runs one goal through the planner and the behavior-tree
executor with replanning, as `ember run task=minecraft` does: collect 5 dirt, collect 3 oak logs, craft a wooden
pickaxe (one bot), and craft two wooden pickaxes with one bot and with two (the speed-up: the ratio of mean times,
and per layout — the team runs each of the lone bot's layouts, on fresh ground beside it — its median, best and
worst). Time is wall time from the first tick to success (the game runs in real time). Anchors (MindForge, open
LLMs): dirt 66.6 %, wood 70.8 %.
Targets: >= 95 % with the symbolic planner; two bots >= 1.5x faster than one on the two-pickaxe goal.
Prints one JSON object last and writes bench/results/minecraft.json.
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

from ember.planners.executor import Executor
from ember.planners.minecraft import parse_goal
from ember.planners.minecraft_team import TeamPlanner
from ember.sims.minecraft.data import game_data
from ember.sims.minecraft.scenarios import lay_out, make_scenario, seed_origin
from ember.sims.minecraft.server import MinecraftServer
from ember.sims.minecraft.world import MinecraftWorld
from ember.skills.library import SkillLibrary

GOALS = [
    ("collect_5_dirt", "collect 5 dirt", 1),
    ("collect_3_oak_logs", "collect 3 oak logs", 1),
    ("craft_wooden_pickaxe", "craft a wooden pickaxe", 1),
    ("two_pickaxes_one_bot", "craft two wooden pickaxes", 1),
    ("two_pickaxes_two_bots", "craft two wooden pickaxes", 2),
    ("craft_stone_pickaxe", "craft a stone pickaxe", 1),
]


def trial(
    server: MinecraftServer, world: MinecraftWorld, goal_text: str, seed: int, budget: float, rerun: bool = False
) -> dict[str, Any]:
    """One seeded trial; ``rerun`` lays the seed's layout out on fresh ground beside the first (a team on the layout
    a lone bot had)."""
    data = game_data(world.version)
    planner = TeamPlanner(data)
    ox, oz = seed_origin(seed)
    scenario = make_scenario(seed, world.names, trees=3, obstacles=2, origin=(ox, oz + 48) if rerun else None)
    lay_out(server, world, scenario)
    goal = parse_goal(goal_text, data)
    literals = planner.goal_literals(goal, world.names)
    start = world.time()
    plan = planner.plan(goal, world.facts(), world.names)
    result = Executor(world, SkillLibrary.for_domain("minecraft"), max_seconds=budget, settle_seconds=0.0).run(
        plan, literals, replan=lambda _: planner.plan(goal, world.facts(), world.names), max_replans=3
    )
    return {
        "seed": seed,
        "success": result.success,
        "seconds": world.time() - start,
        "replans": result.replans,
        "reason": result.reason,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--budget", type=float, default=180.0, help="seconds per trial")
    parser.add_argument("--only", default=None, help="comma-separated goal keys to run (default: all)")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    wall0 = time.perf_counter()
    with MinecraftServer() as server, Progress(console=Console(stderr=True)) as progress:
        job = progress.add_task("minecraft trials", total=len(GOALS) * args.trials)
        for k, (key, text, bots) in enumerate(GOALS):
            if args.only and key not in args.only.split(","):
                continue
            world = MinecraftWorld(port=server.port, bots=[f"b{k}_{i}" for i in range(bots)], server=server)
            rows = []
            first = next(j for j, goal in enumerate(GOALS) if goal[1] == text)  # a goal's trials share seeds
            try:
                for seed in range(args.trials):
                    rows.append(trial(server, world, text, 1000 * first + seed, args.budget, rerun=first != k))
                    progress.advance(job)
            finally:
                world.close()
            ok = [r for r in rows if r["success"]]
            results[key] = {
                "goal": text,
                "bots": bots,
                "trials": len(rows),
                "success_rate": len(ok) / len(rows),
                "mean_seconds_successful": float(np.mean([r["seconds"] for r in ok])) if ok else None,
                "std_seconds_successful": float(np.std([r["seconds"] for r in ok])) if ok else None,
                "mean_replans": float(np.mean([r["replans"] for r in rows])),
                "failures": [r["reason"] for r in rows if not r["success"]][:5],
                "seconds_per_trial": {r["seed"]: round(r["seconds"], 2) for r in rows if r["success"]},
            }
    one, two = results.get("two_pickaxes_one_bot", {}), results.get("two_pickaxes_two_bots", {})
    speedup = (
        one["mean_seconds_successful"] / two["mean_seconds_successful"]
        if one.get("mean_seconds_successful") and two.get("mean_seconds_successful")
        else None
    )
    per_trial = [  # the same layouts: one bot's time over the team's, seed by seed
        one["seconds_per_trial"][seed] / two["seconds_per_trial"][seed]
        for seed in one.get("seconds_per_trial", {})
        if seed in two.get("seconds_per_trial", {})
    ]
    targets = {f"{k}_success_ge_95": v["success_rate"] >= 0.95 for k, v in results.items()}
    targets["two_bots_speedup_ge_1.5"] = bool(speedup is not None and speedup >= 1.5)
    report = {
        "bench": "minecraft",
        "planner": "symbolic (recipe + team planner)",
        "results": results,
        "two_pickaxes_speedup": speedup,
        "two_pickaxes_speedup_per_layout": {
            "median": float(np.median(per_trial)) if per_trial else None,
            "best": float(np.max(per_trial)) if per_trial else None,
            "worst": float(np.min(per_trial)) if per_trial else None,
            "layouts": len(per_trial),
        },
        "anchors": {"mindforge_dirt": 0.666, "mindforge_wood": 0.708},
        "targets": targets,
        "wall_s": round(time.perf_counter() - wall0, 1),
        "machine": machine(),
    }
    out = Path(__file__).parent / "results" / ("minecraft.json" if not args.only else "minecraft_partial.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()

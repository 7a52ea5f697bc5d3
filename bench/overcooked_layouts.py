"""Overcooked beyond the classic five: Ember's cooperative planner driving both chefs on every 2-chef layout the
``overcooked`` package ships, soups and points per 400-tick episode, mean over seeded episodes; beside them the greedy
partner with itself and Ember (chef0) beside a greedy partner (chef1).

    python bench/overcooked_layouts.py [--episodes 5]

Layouts ordering 1-2 ingredient soups run under the package's own rules (a chef starts each pot; recipe values and
cook times are the layout's); the others under the standard rules (see ``sims/overcooked/kitchen.py``). Layouts
Ember refuses are listed with the reason. No target: the figures show where the general mechanism (geometry,
giving way, recipes) holds and where it is weak. Prints one JSON object last and writes
bench/results/overcooked_layouts.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from machine import machine
from rich.console import Console
from rich.progress import Progress


def main() -> None:
    # This folder holds bench/overcooked.py, named like the `overcooked` package: keep the folder off the path.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    from ember.planners.overcooked import CooperativePlanner, run_episode
    from ember.sims.overcooked.kitchen import CLASSIC_LAYOUTS, OvercookedWorld, layouts
    from ember.sims.world import WorldError
    from ember.skills.library import SkillLibrary
    from ember.skills.overcooked.partners import GreedyPartner, play

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=5)
    args = parser.parse_args()
    planner = CooperativePlanner(SkillLibrary.for_domain("overcooked"))
    results: dict[str, dict] = {}
    refused: dict[str, str] = {}
    start = time.perf_counter()
    names = [n for n in layouts() if n not in CLASSIC_LAYOUTS]
    with Progress(console=Console(stderr=True)) as progress:
        job = progress.add_task("layouts", total=len(names))
        for layout in names:
            try:
                world = OvercookedWorld(layout)
            except WorldError as err:
                refused[layout] = str(err)
                progress.advance(job)
                continue
            soups, points, greedy, beside = [], [], [], []
            for seed in range(args.episodes):
                soups.append(run_episode(world, planner, seed=seed))
                points.append(world.kitchen.score)
                world.kitchen.reset()
                greedy.append(play(world.kitchen, (GreedyPartner(seed), GreedyPartner(seed + 100))))
                beside.append(run_episode(world, planner, (True, False), (None, GreedyPartner(seed)), seed=seed))
            results[layout] = {
                "soups": float(np.mean(soups)),
                "points": float(np.mean(points)),
                "greedy_pair_soups": float(np.mean(greedy)),
                "beside_greedy_soups": float(np.mean(beside)),  # Ember as chef0, the greedy partner as chef1
                "pots_start_by_themselves": world.kitchen.auto_cook,
                "recipes": {"+".join(r): {"value": v, "cook_ticks": t} for r, (v, t) in world.kitchen.recipes.items()},
            }
            progress.advance(job)
    zero = sorted(k for k, v in results.items() if v["soups"] == 0)
    below = sorted(k for k, v in results.items() if v["beside_greedy_soups"] < v["greedy_pair_soups"])
    report = {
        "bench": "overcooked_layouts",
        "episodes": args.episodes,
        "results": results,
        "refused": refused,
        "layouts_with_no_soup": zero,
        "layouts_where_ember_beside_greedy_makes_fewer_than_the_greedy_pair": below,
        "wall_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    out = Path(__file__).parent / "results" / "overcooked_layouts.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()

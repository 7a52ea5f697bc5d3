"""Overcooked beyond the classic five: Ember's cooperative planner driving both chefs on every 2-chef layout the
``overcooked`` package ships, soups and points per 400-tick episode, mean over seeded episodes.

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
            soups, points = [], []
            for seed in range(args.episodes):
                soups.append(run_episode(world, planner, seed=seed))
                points.append(world.kitchen.score)
            results[layout] = {
                "soups": float(np.mean(soups)),
                "points": float(np.mean(points)),
                "pots_start_by_themselves": world.kitchen.auto_cook,
                "recipes": {"+".join(r): {"value": v, "cook_ticks": t} for r, (v, t) in world.kitchen.recipes.items()},
            }
            progress.advance(job)
    zero = sorted(k for k, v in results.items() if v["soups"] == 0)
    report = {
        "bench": "overcooked_layouts",
        "episodes": args.episodes,
        "results": results,
        "refused": refused,
        "layouts_with_no_soup": zero,
        "wall_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    out = Path(__file__).parent / "results" / "overcooked_layouts.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()

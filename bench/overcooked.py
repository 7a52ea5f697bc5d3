"""Overcooked: soups per 400-tick episode on the five classic layouts, mean ± std over seeded episodes.

    python bench/overcooked.py [--episodes 20]

Modes: (a) Ember's symbolic cooperative planner controls both chefs; (b) it controls one chef beside each partner
kind (greedy, random, stay, and the committed PPO self-play partner where the layout has one) in both seats; plus
a pair of Ember's greedy partners (the in-backend baseline) and the PPO partner beside itself.
Reference (two of overcooked-ai 1.1.0's greedy agents, measured here): cramped_room 9.0, asymmetric_advantages 12.3,
coordination_ring 0, forced_coordination 0, counter_circuit_o_1order 1.0.
Targets: (a) >= 1.2x the reference on cramped_room and asymmetric_advantages, >= 5 on the other three; (b) with the
greedy partner, above the greedy pair wherever the pair scores > 0, and > 0 on coordination_ring in both seats.
The ProAgent-style LLM planner runs in mode (a) against the stand-in model (a test instrument answering with the
cooperative planner's choice: it measures the LLM path's plumbing and calls per episode, not any language model);
with a stand-in that errs 30 % of the time it compares ProAgent alone, ReAd (critic-triggered revisions) and
revise-every-proposal. Prints one JSON object last and writes bench/results/overcooked.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine
from rich.console import Console
from rich.progress import Progress

from ember.planners.llm.client import ChatClient
from ember.planners.llm.overcooked import CooperativeStandIn, ProAgentPlanner
from ember.planners.llm.testing import OpenAIStubServer
from ember.planners.overcooked import CooperativePlanner, run_episode
from ember.planners.overcooked_critic import ReAdPlanner, train_critic
from ember.sims.overcooked.kitchen import CLASSIC_LAYOUTS, OvercookedWorld
from ember.skills.library import SkillLibrary
from ember.skills.overcooked.partners import CHECKPOINTS, GreedyPartner, make_partner, play

REFERENCE = {
    "cramped_room": 9.0,
    "asymmetric_advantages": 12.3,
    "coordination_ring": 0.0,
    "forced_coordination": 0.0,
    "counter_circuit_o_1order": 1.0,
}


def stats(values: list[int]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def main() -> None:
    # This file is named like the `overcooked` package (imported lazily by the backend): keep its folder off the path.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    planner = CooperativePlanner(SkillLibrary.for_domain("overcooked"))
    seeds = range(args.episodes)
    results: dict[str, dict] = {}
    start = time.perf_counter()
    with Progress(console=Console(stderr=True)) as progress:
        job = progress.add_task("layouts", total=len(CLASSIC_LAYOUTS))
        for layout in CLASSIC_LAYOUTS:
            world = OvercookedWorld(layout)
            row: dict[str, dict] = {"reference_greedy_pair": {"mean": REFERENCE[layout]}}
            row["ember_both"] = stats([run_episode(world, planner, seed=s) for s in seeds])
            standin = CooperativeStandIn(world, CooperativePlanner(planner.skills))
            with OpenAIStubServer(standin) as server:
                llm_soups, calls = [], []
                for s in seeds:
                    llm = ProAgentPlanner(ChatClient(server.base_url, "stand-in", cache_dir=None), planner.skills)
                    llm_soups.append(run_episode(world, llm, seed=s))
                    calls.append(llm.calls)
            row["proagent_standin_both"] = {**stats(llm_soups), "model_calls_per_episode": float(np.mean(calls))}
            # ReAd: the same LLM path against a stand-in that picks a random valid skill 30 % of the time; the critic
            # (trained here on exploring rollouts) asks for a revision only below its threshold. "always" asks for one
            # after every proposal (the verify-everything baseline).
            critic, fit = train_critic(layout, planner.skills, episodes=12, seed=0)
            for mode, threshold in (("proagent_k30", None), ("read_k30", -0.05), ("always_revise_k30", 1e9)):
                soups_k, calls_k = [], []
                for s in seeds:
                    corrupt = CooperativeStandIn(world, CooperativePlanner(planner.skills), corruption=0.3, seed=s)
                    with OpenAIStubServer(corrupt) as server:
                        llm = ProAgentPlanner(ChatClient(server.base_url, "stand-in", cache_dir=None), planner.skills)
                        chosen: Any = llm if threshold is None else ReAdPlanner(llm, critic, threshold=threshold)
                        soups_k.append(run_episode(world, chosen, seed=s))
                        calls_k.append(chosen.calls)
                row[mode] = {**stats(soups_k), "model_calls_per_episode": float(np.mean(calls_k))}
            row["read_critic_fit"] = fit
            row["greedy_pair"] = stats(
                [play(world.kitchen, (GreedyPartner(s), GreedyPartner(s + 1000))) for s in seeds]
            )
            kinds = ["greedy", "random", "stay"]
            if (CHECKPOINTS / f"ppo_selfplay_{layout}.pt").is_file():
                kinds.append("ppo")  # the committed self-play partner, beside itself and beside Ember
                row["ppo_selfplay_pair"] = stats(
                    [
                        play(world.kitchen, (make_partner("ppo", s, layout), make_partner("ppo", s + 1000, layout)))
                        for s in seeds
                    ]
                )
            for kind in kinds:
                for seat in (0, 1):
                    soups = []
                    for s in seeds:
                        partners = [make_partner(kind, s + 1000, layout), None]
                        controlled = [False, True]
                        if seat == 0:
                            partners.reverse()
                            controlled.reverse()
                        soups.append(run_episode(world, planner, tuple(controlled), tuple(partners), seed=s))  # type: ignore[arg-type]
                    row[f"ember_seat{seat}_with_{kind}"] = stats(soups)
            results[layout] = row
            progress.advance(job)
    targets = {}
    for layout, row in results.items():
        want = 1.2 * REFERENCE[layout] if REFERENCE[layout] > 5 else 5.0
        targets[f"{layout}_both_ge_{want:g}"] = row["ember_both"]["mean"] >= want
        pair = row["greedy_pair"]["mean"]
        for seat in (0, 1):
            got = row[f"ember_seat{seat}_with_greedy"]["mean"]
            if pair > 0:
                targets[f"{layout}_seat{seat}_with_greedy_above_pair"] = got > pair
            elif layout == "coordination_ring":
                targets[f"{layout}_seat{seat}_with_greedy_gt_0"] = got > 0
    report = {
        "bench": "overcooked",
        "episodes": args.episodes,
        "horizon": 400,
        "results": results,
        "targets": targets,
        "wall_s": round(time.perf_counter() - start, 1),
        "machine": machine(),
    }
    out = Path(__file__).parent / "results" / "overcooked.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""Diffusion policy (BESO-style) vs behavior cloning on the push_obstacle task: success over seeded episodes for
1, 3, 10 and 50 denoising steps and for the BC baseline, latency per action chunk, and which side of the post each
episode passed on (judged by the grasp point's path).

    python bench/diffusion.py                     # the committed checkpoints, 100 episodes each
    python bench/diffusion.py --beso runs/.../policy.pt --bc runs/.../policy.pt --episodes 20

Targets (issue 6): 50-step success >= 80 %; 3-step success >= 0.9 x 50-step; 3-step latency <= 2 ms p50 per chunk
(one torch thread); the diffusion policy passes on both sides (each >= 25 %) where BC collides or averages.
Every configuration runs the same seeded episodes. Prints one JSON object last and writes bench/results/diffusion.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine
from rich.console import Console
from rich.progress import Progress

from ember.sims import make_env
from ember.skills.diffusion.evaluate import load_policy, rollout
from ember.skills.diffusion.policy import ChunkController

CHECKPOINTS = Path(__file__).resolve().parents[1] / "skills" / "tabletop" / "checkpoints"


def latency_ms(policy: object, steps: int, rows: torch.Tensor, repeats: int = 300) -> dict[str, float]:
    """Wall time of one chunk prediction for one env [ms] (after a warm-up)."""
    times = []
    generator = torch.Generator().manual_seed(0)
    for k in range(repeats + 20):
        start = time.perf_counter()
        policy.predict(rows, steps=steps, generator=generator)  # type: ignore[attr-defined]
        if k >= 20:
            times.append((time.perf_counter() - start) * 1e3)
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beso", default=str(CHECKPOINTS / "push_obstacle_beso" / "policy.pt"))
    parser.add_argument("--bc", default=str(CHECKPOINTS / "push_obstacle_bc" / "policy.pt"))
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--steps", default="1,3,10,50", help="denoising steps to evaluate, comma-separated")
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "diffusion.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    beso, meta = load_policy(args.beso)
    bc, _ = load_policy(args.bc)
    env = make_env(meta["task"], num_envs=1, **meta.get("env", {}))
    configs = [(f"beso_{s}", beso, int(s)) for s in args.steps.split(",")] + [("bc", bc, None)]
    results: dict[str, dict] = {}
    with Progress(console=Console(stderr=True)) as progress:
        for name, policy, steps in configs:
            job = progress.add_task(name, total=args.episodes)
            controller = ChunkController(policy, 1, steps=steps, seed=args.seed)
            summary = rollout(
                env,
                controller,
                args.episodes,
                seed=args.seed,
                on_episode=lambda n, _, job=job: progress.update(job, completed=n),
            )
            summary.pop("chunk_latency_ms", None)  # measured below, alone, for a clean figure
            rows = torch.as_tensor(env.reset(seed=args.seed)[0]["policy"])[:, None].repeat(1, policy.cfg.obs_history, 1)
            summary["chunk_latency_ms"] = latency_ms(policy, steps or 1, rows)
            results[name] = summary
    env.close()
    best = results.get("beso_50", {}).get("success_rate")
    three = results.get("beso_3", {})
    report = {
        "bench": "diffusion",
        "task": meta["task"],
        "episodes": args.episodes,
        "beso_checkpoint": args.beso,
        "bc_checkpoint": args.bc,
        "results": results,
        "targets": {
            "beso_50_success_ge_0.8": None if best is None else best >= 0.8,
            "beso_3_ge_0.9x_beso_50": None if best is None or not three else three["success_rate"] >= 0.9 * best,
            "beso_3_latency_p50_le_2ms": None if not three else three["chunk_latency_ms"]["p50"] <= 2.0,
            "beso_both_sides_ge_25pct": None
            if not three
            else min(three.get("side_left", 0), three.get("side_right", 0)) >= 0.25,
        },
        "machine": machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()

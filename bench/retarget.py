"""Retargeting from sparse inputs: the tracking policy on training clips, held-out clips and a second morphology.

    python bench/retarget.py                                   # the shipped policy (skills/humanoid/checkpoints)
    python bench/retarget.py --policy runs/<train run>/artifact --finetuned runs/<fine-tune run>/artifact
    python bench/retarget.py --rollouts 5 --seeds 1            # quick look

For each clip: ``--seeds`` x ``--rollouts`` rollouts, each from a phase drawn with the seed, for the clip's length
(clips that loop: ``--seconds``). Success: no fall and a mean body error below 0.3 m at every step; a rollout that
stops early either fell (``fell_rate``: head below 60 % of the reference's) or drifted (``drift_rate``: upright, the
mean body error past 0.5 m). Errors are over
the 15 bodies (world MPJPE and root-relative MPJPE), head and hands, jitter (mean body acceleration, m/s^2) and foot
skating (horizontal speed of feet in ground contact, mm/s). Held out: dance_a, dance_b and the training clips turned
90 degrees and played at 0.8x and 1.2x. The second morphology (legs x0.7, arms x1.3) tracks each clip as played on
its own skeleton (same joint angles, its own FK for the trackers), zero-shot with the human policy, and with
``--finetuned`` if given. A row without a policy (PD targets = the reference's own angles) on the training clips is
the floor; so are the rows of the motion-matched pose alone (``matching_only_*``: the base a residual policy
corrects, built from the training clips). Training throughput comes from the artifact (env steps / wall time of its
run) and from a fresh measurement of the env alone. Targets: >= 90 % success and <= 120 mm mean joint error on the
training clips. Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from machine import machine
from rich.console import Console

from ember.sims.humanoid.evaluation import evaluate_tracking, spread_phases
from ember.sims.humanoid.motion import Clip, held_out_variants, load_clip
from ember.sims.humanoid.retarget_env import ACTION_SCALE, RetargetVecEnv
from ember.skills.humanoid.tracking import SHIPPED, TrackingPolicy

TRAIN = ("walk", "run", "punch", "kick")
HELD_OUT = ("dance_a", "dance_b")


class NoPolicy:
    """The honest floor: PD targets are the reference clip's own joint angles (it needs the full reference, which a
    live system does not have, and still falls). ``drive``: the character's drive (the policy's under comparison)."""

    env: RetargetVecEnv

    def __init__(self, drive: dict[str, float] | None = None) -> None:
        self.drive = dict(drive or {})

    def env_kwargs(self) -> dict[str, Any]:
        return dict(self.drive)

    def act(self, obs: Any) -> torch.Tensor:
        t = self.env.tables
        return torch.as_tensor(t.qpos[self.env.frame + 1, 7:] / ACTION_SCALE, dtype=torch.float32)


class MatchOnly:
    """A residual policy's base alone: PD targets are the motion-matched pose (what the trackers give a live system
    without any learning)."""

    def __init__(self, policy: TrackingPolicy) -> None:
        self.kwargs = policy.env_kwargs()  # a policy that is not residual: the matcher over the training clips
        if "residual_scale" not in self.kwargs:
            self.kwargs.update(residual_scale=1.0, match_clips=list(TRAIN), match_mirror=True)

    def env_kwargs(self) -> dict[str, Any]:
        return self.kwargs

    def act(self, obs: Any) -> torch.Tensor:
        return torch.zeros(obs["policy"].shape[0], 28)


def bench_clips(
    policy: TrackingPolicy | NoPolicy | MatchOnly,
    clips: dict[str, Clip],
    seeds: int,
    rollouts: int,
    seconds: float,
    scales: tuple[float, float],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, clip in clips.items():
        env = RetargetVecEnv(
            num_envs=rollouts,
            clips=[clip],
            mirror=False,
            max_episode_length=int(seconds * 30) + 2,
            leg_scale=scales[0],
            arm_scale=scales[1],
            **policy.env_kwargs(),
        )
        if isinstance(policy, NoPolicy):
            policy.env = env
        room = env.tables.start_room(0)
        runs = []
        for seed in range(seeds):
            phases = np.random.default_rng(seed).integers(0, room, rollouts).tolist()
            length = seconds if clip.loop else clip.duration
            runs.append(evaluate_tracking(env, policy.act, name, phases, length))
        out[name] = {
            key: round(float(np.mean([r[key] for r in runs])), 3 if key.endswith("_rate") else 1)
            for key in runs[0]
            if key not in ("clip", "episodes", "survival_s")
        }
    keys = list(next(iter(out.values())))
    out["mean"] = {key: round(float(np.mean([v[key] for v in out.values()])), 3) for key in keys}
    return out


def fixed_phases(policy: TrackingPolicy, clips: list[str], seconds: float = 5.0) -> dict[str, Any]:
    """The issue's check: from 5 phases spread evenly over each clip, does the character stay up for ``seconds``?"""
    out: dict[str, Any] = {}
    for name in clips:
        env = RetargetVecEnv(num_envs=5, clips=[name], mirror=False, max_episode_length=400, **policy.env_kwargs())
        phases = spread_phases(env.tables.start_room(0), 5)
        r = evaluate_tracking(env, policy.act, name, phases, seconds)
        keys = ("success_rate", "mean_survival_s", "survival_s", "mpjpe_world_mm")
        out[name] = {"phases": phases, **{k: r[k] for k in keys}}
    return out


def env_throughput(seconds: float = 5.0, physics_threads: int = 0) -> float:
    """Env steps per second of 32 envs under zero actions (falls and resets included)."""
    env = RetargetVecEnv(num_envs=32, physics_threads=physics_threads)
    env.reset(seed=0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        env.step(torch.zeros(32, 28))
        steps += 32
    env.close()
    return round(steps / (time.perf_counter() - t0), 1)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be a number above 0")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default=str(SHIPPED), help="artifact folder of the human policy")
    parser.add_argument("--finetuned", default=None, help="artifact folder fine-tuned on the second morphology")
    parser.add_argument("--seeds", type=_positive(int), default=3)
    parser.add_argument("--rollouts", type=_positive(int), default=20)
    parser.add_argument("--seconds", type=_positive(float), default=10.0, help="rollout length on clips that loop [s]")
    parser.add_argument(
        "--clips", nargs="+", default=list(TRAIN), help="training clips to bench (a policy trained on fewer)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    human = TrackingPolicy(args.policy)
    train = {n: load_clip(n) for n in args.clips}
    held = {**{n: load_clip(n) for n in HELD_OUT}, **held_out_variants()}
    result: dict[str, Any] = {
        "policy": args.policy,
        "policy_meta": {
            k: human.meta.get(k)
            for k in ("train_command", "env_steps", "wall_s", "best_eval_success", "mujoco", "model_hash")
        },
    }
    for label, clips, scales, policy in (
        ("no_policy_train", train, (1.0, 1.0), NoPolicy(human.drive)),
        ("matching_only_train", train, (1.0, 1.0), MatchOnly(human)),
        ("matching_only_held_out", held, (1.0, 1.0), MatchOnly(human)),
        ("train", train, (1.0, 1.0), human),
        ("held_out", held, (1.0, 1.0), human),
        ("morphology_zero_shot", train, (0.7, 1.3), TrackingPolicy(args.policy, 0.7, 1.3, zero_shot=True)),
    ):
        console.print(f"{label} ...")
        result[label] = bench_clips(policy, clips, args.seeds, args.rollouts, args.seconds, scales)
        console.print(result[label]["mean"])
    result["fixed_phases_5s"] = fixed_phases(human, list(train))
    console.print({"fixed_phases_5s": result["fixed_phases_5s"]})
    if args.finetuned:
        console.print("morphology_finetuned ...")
        tuned = TrackingPolicy(args.finetuned, 0.7, 1.3)
        result["morphology_finetuned"] = bench_clips(tuned, train, args.seeds, args.rollouts, args.seconds, (0.7, 1.3))
    meta = human.meta
    result["training_env_steps_per_s"] = (
        round(meta.get("run_env_steps", meta["env_steps"]) / meta["wall_s"], 1) if meta.get("wall_s") else None
    )
    result["env_only_steps_per_s"] = env_throughput()
    result["env_only_steps_per_s_rollout"] = {n: env_throughput(physics_threads=n) for n in (1, 2)}
    train_mean = result["train"]["mean"]
    result["targets"] = {
        "train_success_ge_0.9": {"value": train_mean["success_rate"], "met": train_mean["success_rate"] >= 0.9},
        "train_mpjpe_le_120mm": {"value": train_mean["mpjpe_world_mm"], "met": train_mean["mpjpe_world_mm"] <= 120},
    }
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Why tracking rollouts fail: for each clip, the moment a rollout's mean body error first reaches 0.3 m (the bench's
success threshold), split into where the error sits.

    python bench/retarget_failures.py                                  # the shipped policy, the four training clips
    python bench/retarget_failures.py --policy runs/<run>/artifact --clips run punch

Rollouts as in bench/retarget.py (``--seeds`` x ``--rollouts``, each from a phase drawn with the seed, for the clip's
length or ``--seconds`` on clips that loop). For each rollout that fails — the first step with a mean body error of
0.3 m or more, or a fall before that — the error at that step is split into: the root's offset from the reference
root (along the reference's horizontal direction of travel, across it, and vertical, m), the heading (yaw) error
(degrees), and the root-relative error of each body group (trunk, arms, legs: mean over its bodies of
``|(body - root) - (ref body - ref root)|``, m; ``*_heading_rel_m``: the same with each side turned into its own
heading frame, so a heading error alone adds nothing — the pose error proper). Also per clip: the reference's mean
horizontal root speed, the share of rollouts that fail and when (mean time to failure, s), and the same split averaged
over all live steps of all rollouts (``all_steps``), to compare the failure moment with ordinary tracking. Prints one
JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import mujoco
import numpy as np
import torch
from machine import machine

from ember.sims.humanoid.motion import load_clip
from ember.sims.humanoid.retarget_env import RetargetVecEnv
from ember.sims.humanoid.rotations import quat_yaw, rotate_z
from ember.skills.humanoid.tracking import SHIPPED, TrackingPolicy

TRAIN = ("walk", "run", "punch", "kick")
GROUPS = {
    "trunk": ("root", "chest", "neck"),
    "arms": ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist"),
    "legs": ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"),
}
FAIL_ERR = 0.3


def split(env: RetargetVecEnv, ref: np.ndarray, groups: dict[str, list[int]]) -> dict[str, np.ndarray]:
    """Per env: the root offset (along / across the reference's travel, vertical), heading error, group errors."""
    s, t = env.last_state, env.tables
    d = s["qpos"][:, :3] - t.qpos[ref, :3]
    v = t.qvel[ref, :2]
    speed = np.linalg.norm(v, axis=1)
    u = np.where(speed[:, None] > 1e-3, v / np.maximum(speed, 1e-9)[:, None], [1.0, 0.0])  # standing: world x
    rel = (s["bodies"] - s["qpos"][:, None, :3]) - (t.bodies[ref] - t.qpos[ref, None, :3])
    rel_err = np.linalg.norm(rel, axis=-1)
    own_h = rotate_z(
        s["bodies"] - s["qpos"][:, None, :3], -quat_yaw(s["qpos"][:, 3:7])
    )  # each in its own heading frame
    ref_h = rotate_z(t.bodies[ref] - t.qpos[ref, None, :3], -quat_yaw(t.qpos[ref, 3:7]))
    heading_err = np.linalg.norm(own_h - ref_h, axis=-1)
    out = {
        "root_along_m": np.sum(d[:, :2] * u, 1),
        "root_across_m": u[:, 0] * d[:, 1] - u[:, 1] * d[:, 0],
        "root_vertical_m": d[:, 2],
        "yaw_err_deg": np.degrees(np.angle(np.exp(1j * (quat_yaw(s["qpos"][:, 3:7]) - quat_yaw(t.qpos[ref, 3:7]))))),
    }
    out.update({f"{g}_rel_m": rel_err[:, ids].mean(1) for g, ids in groups.items()})
    out.update({f"{g}_heading_rel_m": heading_err[:, ids].mean(1) for g, ids in groups.items()})
    return out


def summarize(rows: list[dict[str, np.ndarray]]) -> dict[str, float]:
    if not rows:
        return {}
    keys = rows[0].keys()
    cat = {k: np.concatenate([r[k] for r in rows]) for k in keys}
    out: dict[str, float] = {}
    for k, v in cat.items():
        if k.startswith("root_") or k.startswith("yaw"):
            out[f"{k}_mean"] = round(float(v.mean()), 3)
            out[f"{k}_abs_mean"] = round(float(np.abs(v).mean()), 3)
        else:
            out[k] = round(float(v.mean()), 3)
    return out


def failures(policy: TrackingPolicy, clip_name: str, seeds: int, rollouts: int, seconds: float) -> dict[str, Any]:
    clip = load_clip(clip_name)
    length = seconds if clip.loop else clip.duration
    env = RetargetVecEnv(
        num_envs=rollouts,
        clips=[clip],
        mirror=False,
        max_episode_length=int(length * 30) + 2,
        **policy.env_kwargs(),
    )
    names = [mujoco.mj_id2name(env.model, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(1, env.model.nbody)]
    groups = {g: [names.index(b) for b in bodies] for g, bodies in GROUPS.items()}
    t = env.tables
    at_fail: list[dict[str, np.ndarray]] = []
    every: list[dict[str, np.ndarray]] = []
    fail_t: list[float] = []
    fell_first = 0
    for seed in range(seeds):
        phases = np.random.default_rng(seed).integers(0, t.start_room(0), rollouts)
        obs = env.reset_to(clip_name, phases.tolist())
        alive = np.ones(rollouts, dtype=bool)
        ok = np.ones(rollouts, dtype=bool)
        for k in range(round(length * 30)):
            with torch.no_grad():
                action = policy.act(obs)
            ref = env.frame + 1
            obs, _, terminated, truncated, extras = env.step(action)
            parts = split(env, ref, groups)
            fell = terminated.numpy()
            first = alive & ok & ((extras["body_err"] >= FAIL_ERR) | fell)
            live = alive & ~fell
            every.append({key: v[live] for key, v in parts.items()})
            if first.any():
                at_fail.append({key: v[first] for key, v in parts.items()})
                fail_t.extend([(k + 1) / 30.0] * int(first.sum()))
                fell_first += int((first & fell & (extras["body_err"] < FAIL_ERR)).sum())
            ok &= ~first
            alive &= ~(fell | truncated.numpy())
            if not alive.any():
                break
    env.close()
    total = seeds * rollouts
    return {
        "ref_root_speed_m_s": round(float(np.linalg.norm(clip.qvel[:, :2], axis=1).mean()), 2),
        "rollouts": total,
        "failed_rate": round(len(fail_t) / total, 3),
        "fell_before_0.3m_rate": round(fell_first / total, 3),
        "mean_time_to_failure_s": round(float(np.mean(fail_t)), 2) if fail_t else None,
        "at_failure": summarize(at_fail),
        "all_steps": summarize(every),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default=str(SHIPPED), help="artifact folder of the tracking policy")
    parser.add_argument("--clips", nargs="+", default=list(TRAIN))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0, help="rollout length on clips that loop [s]")
    args = parser.parse_args()
    if args.seeds < 1 or args.rollouts < 1 or args.seconds <= 0:
        parser.error(
            f"--seeds and --rollouts must be >= 1 and --seconds > 0; got {args.seeds}, {args.rollouts}, {args.seconds}"
        )
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    policy = TrackingPolicy(args.policy)
    result: dict[str, Any] = {"policy": args.policy, "fail_err_m": FAIL_ERR}
    result["clips"] = {c: failures(policy, c, args.seeds, args.rollouts, args.seconds) for c in args.clips}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

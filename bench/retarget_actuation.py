"""Can the character's joints follow a clip at all? The root is pinned to the reference (set to its pose and
velocity at every physics step, so balance plays no part) and each hinge's PD target is the reference's next frame:
what is left is the drive — gains, torque limits, passive damping, armature — against the clip's joint speeds.

    python bench/retarget_actuation.py                                    # the default drive and two lighter ones
    python bench/retarget_actuation.py --drives 0.1,0 0.025,0.01 --clips walk run

For each drive (``joint_damping,armature``: ``character.humanoid_mjcf``; 0.1,0 is the default every shipped policy
was trained on) and clip: from 5 phases spread over the clip, up to ``--seconds`` of control steps (30 Hz, 8 physics
steps each), the mean root-relative position error of the limb bodies (shoulders, elbows, wrists, hips, knees,
ankles; mm), the mean absolute hinge error (degrees) and the share of actuator-steps at the torque limit. Then, free
(not pinned) and under uniform +-3 rad PD targets for 2 s from 30 starts, how many control steps MuJoCo found
unstable — a lighter drive must stay stable. Also the clip's fastest hinge rate. Prints one JSON object as the last
line of stdout.
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

from ember.sims.humanoid.character import CONTROL_DECIMATION
from ember.sims.humanoid.motion import load_clip
from ember.sims.humanoid.retarget_env import ACTION_SCALE, RetargetVecEnv

LIMBS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def pinned(env: RetargetVecEnv, clip: str, phases: list[int], seconds: float) -> dict[str, float]:
    """PD to the reference's next frame with the root held on the reference (env 0's data; the env's tables)."""
    t, m, d = env.tables, env.model, env.datas[0]
    names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(1, m.nbody)]
    limbs = [i for i, b in enumerate(names) if any(part in b for part in LIMBS)]
    limit = m.actuator_forcerange[:, 1]
    end = int(t.start[0] + t.length[0]) - 2
    errs, joint, saturated = [], [], []
    for phase in phases:
        env.reset_to(clip, [phase] * env.num_envs)
        f = int(env.frame[0])
        for _ in range(round(seconds * 30)):
            if f + 1 >= end:
                break
            d.ctrl[:] = t.qpos[f + 1, 7:]
            for sub in range(CONTROL_DECIMATION):
                a = sub / CONTROL_DECIMATION
                q = t.qpos[f, :7] * (1 - a) + t.qpos[f + 1, :7] * a
                d.qpos[:3], d.qpos[3:7] = q[:3], q[3:7] / np.linalg.norm(q[3:7])
                d.qvel[:6] = t.qvel[f, :6]
                mujoco.mj_step(m, d)
                saturated.append(float(np.mean(np.abs(d.actuator_force) >= 0.99 * limit)))
            f += 1
            d.qpos[:7] = t.qpos[f, :7]
            mujoco.mj_kinematics(m, d)
            rel = (d.xpos[1:] - d.qpos[:3]) - (t.bodies[f] - t.qpos[f, :3])
            errs.append(float(np.linalg.norm(rel, axis=-1)[limbs].mean()))
            joint.append(float(np.degrees(np.abs(np.angle(np.exp(1j * (d.qpos[7:] - t.qpos[f, 7:])))).mean())))
    return {
        "limb_err_mm": round(1000 * float(np.mean(errs)), 1),
        "hinge_err_deg": round(float(np.mean(joint)), 2),
        "torque_saturated_share": round(float(np.mean(saturated)), 3),
    }


def noise_unstable(clip: str, drive: tuple[float, float], seed: int = 0) -> int:
    """Control steps (of 30 envs x 60) MuJoCo flagged unstable under uniform +-3 rad PD targets, free root."""
    env = RetargetVecEnv(
        num_envs=30, clips=[clip], mirror=False, max_episode_length=400, joint_damping=drive[0], armature=drive[1]
    )
    rng = np.random.default_rng(seed)
    env.reset_to(clip, (np.arange(30) % env.tables.start_room(0)).tolist())
    unstable = 0
    for _ in range(60):
        _, _, _, _, extras = env.step(torch.as_tensor(rng.uniform(-3, 3, (30, 28)) / ACTION_SCALE))
        unstable += round(extras["log"]["unstable"] * 30)
    env.close()
    return unstable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drives", nargs="+", default=["0.1,0", "0.025,0.01", "0.01,0.02"])
    parser.add_argument("--clips", nargs="+", default=["walk", "run", "punch", "kick"])
    parser.add_argument("--seconds", type=float, default=2.0, help="pinned rollout length per phase [s]")
    args = parser.parse_args()
    drives: list[tuple[float, float]] = []
    for text in args.drives:
        try:
            damping, armature = (float(v) for v in text.split(","))
        except ValueError:
            parser.error(f"--drives {text!r}: give joint_damping,armature (e.g. 0.1,0)")
        drives.append((damping, armature))
    t0 = time.perf_counter()
    result: dict[str, Any] = {"clips": {}}
    for clip in args.clips:
        row: dict[str, Any] = {"max_hinge_rate_rad_s": round(float(np.abs(load_clip(clip).qvel[:, 6:]).max()), 1)}
        for drive in drives:
            env = RetargetVecEnv(num_envs=1, clips=[clip], mirror=False, joint_damping=drive[0], armature=drive[1])
            phases = np.linspace(0, env.tables.start_room(0) - 1, 5).astype(int).tolist()
            row[f"{drive[0]:g},{drive[1]:g}"] = {
                **pinned(env, clip, phases, args.seconds),
                "unstable_steps_under_noise": noise_unstable(clip, drive),
            }
        result["clips"][clip] = row
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    result["machine"] = machine()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

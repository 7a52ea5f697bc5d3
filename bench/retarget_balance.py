"""How the retargeting character falls without a policy, and whether foot-placement feedback keeps it up.

    python bench/retarget_balance.py                  # walk, 32 starts per setting
    python bench/retarget_balance.py --clip run --envs 16

Open loop: PD targets are the reference clip's own joint angles (the floor row of ``bench/retarget.py``). Part 1
follows the character from reference-state starts at random phases and prints, every 0.1 s, the mean over the envs
still up: root height error, forward and lateral tilt of the pelvis against the reference's (change of its up axis'
x and y components, heading frame approximately), forward root speed error, knee angle errors and mean body error.
Part 2 adds SIMBICON-style swing-hip feedback (Yin, Loken and van de Panne 2007) to the reference targets: while the
reference has exactly one foot on the ground, the swing hip's flexion and abduction targets get
``cd * (d - d_ref) + cv * (v - v_ref)`` for the horizontal offset ``d`` of the centre of mass from the stance foot
and the centre-of-mass velocity ``v`` (heading frame, the reference's in its own), and prints the mean time to the
first fall per gain pair. Part 3 leads the PD targets by the reference's joint velocity instead (``q_ref + lead *
qdot_ref``: with damping ``kp / 10`` that is a velocity feed-forward at ``lead = 0.1`` s) and prints the same.
One JSON object on the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np

from ember.sims.humanoid.retarget_env import ACTION_SCALE, CONTACT_HEIGHT, FOOT_SITES, RetargetVecEnv
from ember.sims.humanoid.rotations import quat_to_mat, quat_yaw, rotate_z

GAINS = ((0.0, 0.0), (0.5, 0.2), (1.0, 0.2), (1.0, 0.5), (2.0, 0.5), (0.5, 0.5), (2.0, 1.0))
STEPS = 150  # 5 s at 30 Hz


def _com(model: Any, data: Any, feet: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mujoco.mj_subtreeVel(model, data)
    return data.subtree_com[1].copy(), data.subtree_linvel[1].copy(), data.site_xpos[feet].copy()


def how_it_falls(env: RetargetVecEnv, seed: int) -> list[dict[str, float]]:
    m, t = env.model, env.tables
    adr = {m.joint(j).name: m.jnt_qposadr[j] for j in range(1, m.njnt)}
    env.reset(seed=seed)
    alive = np.ones(env.num_envs, dtype=bool)
    rows = []
    for k in range(STEPS):
        _, _, terminated, _, extras = env.step(t.qpos[env.frame + 1, 7:] / ACTION_SCALE)
        q, ref = env.last_state["qpos"], t.qpos[env.frame]
        up, ref_up = quat_to_mat(q[:, 3:7])[:, :, 2], quat_to_mat(ref[:, 3:7])[:, :, 2]
        if k % 3 == 2 and alive.any():
            knee = [np.abs(q[alive, adr[f"{s}_knee"]] - ref[alive, adr[f"{s}_knee"]]).mean() for s in ("right", "left")]
            rows.append(
                {
                    "t_s": round((k + 1) / 30, 2),
                    "up": int(alive.sum()),
                    "root_height_err_m": round(float((q[alive, 2] - ref[alive, 2]).mean()), 3),
                    "pelvis_tilt_forward": round(float((up - ref_up)[alive, 0].mean()), 3),
                    "pelvis_tilt_lateral": round(float(np.abs(up - ref_up)[alive, 1].mean()), 3),
                    "root_speed_err_m_s": round(
                        float((env.last_state["qvel"][alive, 0] - t.qvel[env.frame][alive, 0]).mean()), 2
                    ),
                    "knee_err_rad": [round(float(x), 2) for x in knee],
                    "body_err_m": round(float(extras["body_err"][alive].mean()), 3),
                }
            )
        alive &= ~terminated.numpy()
        if not alive.any():
            break
    return rows


def mean_survival(env: RetargetVecEnv, seed: int, targets: Callable[[np.ndarray], np.ndarray]) -> float:
    """Mean time to each env's first fall [s] (at most ``STEPS``) with PD targets ``targets(next_frames)`` [rad]."""
    env.reset(seed=seed)
    first_fall = np.full(env.num_envs, STEPS)
    for k in range(STEPS):
        _, _, terminated, _, _ = env.step(targets(env.frame + 1) / ACTION_SCALE)
        first_fall[terminated.numpy() & (first_fall == STEPS)] = k + 1
        if (first_fall < STEPS).all():
            break
    return round(float(first_fall.mean() / 30), 3)


def foot_placement(env: RetargetVecEnv, cd: float, cv: float) -> Callable[[np.ndarray], np.ndarray]:
    """The reference's targets plus SIMBICON-style swing-hip feedback (module docstring) for ``env``'s characters."""
    m, t = env.model, env.tables
    adr = {m.joint(j).name: m.jnt_qposadr[j] - 7 for j in range(1, m.njnt)}
    hips = [(adr[f"{s}_hip_z"], adr[f"{s}_hip_x"]) for s in ("right", "left")]  # flexion, abduction (FOOT_SITES order)
    feet = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, n) for n in FOOT_SITES]
    ref = _reference_com(env, feet)

    def targets(nxt: np.ndarray) -> np.ndarray:
        action = t.qpos[nxt, 7:].copy()
        for i, data in enumerate(env.datas):
            com, vel, own_feet = _com(m, data, feet)
            ref_com, ref_vel, ref_feet = ref[nxt[i]]
            on_ground = ref_feet[:, 2] < CONTACT_HEIGHT
            if on_ground.sum() != 1:
                continue
            stance = int(np.argmax(on_ground))
            yaw, ref_yaw = quat_yaw(data.qpos[None, 3:7])[0], quat_yaw(t.qpos[None, nxt[i], 3:7])[0]
            d = (
                rotate_z((com - own_feet[stance])[None], -yaw)[0]
                - rotate_z((ref_com - ref_feet[stance])[None], -ref_yaw)[0]
            )
            v = rotate_z(vel[None], -yaw)[0] - rotate_z(ref_vel[None], -ref_yaw)[0]
            flexion, abduction = hips[1 - stance]
            action[i, flexion] += cd * d[0] + cv * v[0]
            action[i, abduction] += cd * d[1] + cv * v[1]
        return action

    return targets


def _reference_com(env: RetargetVecEnv, feet: list[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Centre of mass, its velocity and the foot sites of every reference frame of ``env``."""
    m, t = env.model, env.tables
    scratch = mujoco.MjData(m)
    rows = []
    for q, v in zip(t.qpos, t.qvel, strict=True):
        scratch.qpos[:], scratch.qvel[:] = q, v
        mujoco.mj_forward(m, scratch)
        rows.append(_com(m, scratch, feet))
    return rows


def velocity_lead(env: RetargetVecEnv, lead: float) -> Callable[[np.ndarray], np.ndarray]:
    """The reference's targets led by its joint velocity: ``q_ref + lead * qdot_ref``."""
    t = env.tables
    return lambda nxt: t.qpos[nxt, 7:] + lead * t.qvel[nxt, 6:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", default="walk")
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    env = RetargetVecEnv(num_envs=args.envs, clips=[args.clip], mirror=False, max_episode_length=STEPS, seed=1)
    result = {
        "clip": args.clip,
        "envs": args.envs,
        "open_loop_fall": how_it_falls(env, args.seed),
        "foot_placement_feedback": [
            {
                "cd_rad_per_m": cd,
                "cv_rad_s_per_m": cv,
                "mean_survival_s": mean_survival(env, args.seed, foot_placement(env, cd, cv)),
            }
            for cd, cv in GAINS
        ],
        "velocity_lead": [
            {
                "lead_s": lead,
                "mean_survival_s": mean_survival(env, args.seed, velocity_lead(env, lead)),
            }
            for lead in (0.0, 0.05, 0.1, 0.2)
        ],
        "wall_s": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

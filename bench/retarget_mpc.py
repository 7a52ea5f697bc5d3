"""The sampling MPC teacher (skills/humanoid/mpc.py) on the training clips: does a controller that knows the
simulator state and the reference's coming frames keep the character up where the reference's own PD targets fall?
Prints JSON (bench/results/retarget_mpc.json): per clip, the MPC and the reference PD targets from 5 phases spread
over the clip, rolled out for ``--seconds``.

    python bench/retarget_mpc.py [--clips walk run punch kick] [--samples 64] [--horizon 15] [--temperature 0.3]
        [--sigma 0.1]
    python bench/retarget_mpc.py --clips walk --weights 10 10 20    # DAgger's teacher (world error weighed 10)
    python bench/retarget_mpc.py --joint-damping 0.025 --armature 0.01   # another drive (character.humanoid_mjcf)
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from retarget import NoPolicy
from rich.console import Console

from ember.sims.humanoid.character import JOINT_DAMPING
from ember.sims.humanoid.evaluation import evaluate_tracking, spread_phases
from ember.sims.humanoid.retarget_env import RetargetVecEnv
from ember.skills.humanoid.mpc import SamplingMPC

KEYS = (
    "success_rate",
    "mean_survival_s",
    "survival_s",
    "mpjpe_world_mm",
    "mpjpe_root_mm",
    "head_hands_mm",
    "foot_skate_mm_s",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="+", default=["walk", "run", "punch", "kick"])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--temperature", type=float, default=0.3, help="MPPI temperature (0: cheapest candidate)")
    parser.add_argument("--sigma", type=float, default=0.1, help="std of the plan perturbations [action units]")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--joint-damping", type=float, default=JOINT_DAMPING, help="passive damping per unit kp [s]")
    parser.add_argument("--armature", type=float, default=0.0, help="rotor inertia added per hinge [kg m^2]")
    parser.add_argument(
        "--weights", type=float, nargs=3, default=[10.0, 3.0, 20.0], help="cost: relative, world, height"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    console = Console(stderr=True)
    out: dict[str, Any] = {**vars(args), "clips": {}}
    for clip in args.clips:
        env = RetargetVecEnv(
            num_envs=5,
            clips=[clip],
            mirror=False,
            max_episode_length=400,
            seed=0,
            joint_damping=args.joint_damping,
            armature=args.armature,
        )
        phases = spread_phases(env.tables.start_room(0), 5)
        row: dict[str, Any] = {"phases": phases}
        floor = NoPolicy()  # the reference's own PD targets
        floor.env = env
        reference = evaluate_tracking(env, floor.act, clip, phases, args.seconds)
        row["reference_pd"] = {k: reference[k] for k in KEYS}
        t0 = time.perf_counter()
        with (
            SamplingMPC(
                env,
                samples=args.samples,
                horizon=args.horizon,
                threads=args.threads,
                temperature=args.temperature,
                sigma=args.sigma,
                weights=tuple(args.weights),
            ) as mpc,
            console.status(f"MPC on {clip}"),
        ):

            def act(obs: Any, env: RetargetVecEnv = env, mpc: SamplingMPC = mpc) -> torch.Tensor:
                return torch.as_tensor(np.stack([mpc.targets(i) for i in range(env.num_envs)]), dtype=torch.float32)

            result = evaluate_tracking(env, act, clip, phases, args.seconds)
        row["mpc"] = {k: result[k] for k in KEYS}
        row["mpc_wall_s"] = round(time.perf_counter() - t0, 1)
        out["clips"][clip] = row
        console.print(f"{clip}: {json.dumps(row)}")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

"""One run of bench/retarget_sweep.sh: export ``RUN/checkpoints/last.pt`` as a tracking artifact and bench it on the
four training clips with bench/retarget.py's settings (3 seeds x 20 rollouts, 10 s on looping clips), or bench the
shipped policy (``RUN`` = ``shipped``). Prints one JSON object: per clip and mean, success, fall and drift rates and
world / root-relative MPJPE (mm).

    python bench/retarget_sweep_bench.py runs/sw_ctl_s1
"""

from __future__ import annotations

import json
import sys
import time

import torch
from retarget import TRAIN, bench_clips

from ember.launch.train import retarget_artifact
from ember.sims.humanoid.motion import load_clip
from ember.skills.humanoid.tracking import SHIPPED, TrackingPolicy

KEYS = ("success_rate", "mpjpe_world_mm", "mpjpe_root_mm", "fell_rate", "drift_rate")


def main() -> None:
    run = sys.argv[1]
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    policy = TrackingPolicy(SHIPPED if run == "shipped" else retarget_artifact(run, "last.pt"))
    clips = {n: load_clip(n) for n in TRAIN}
    res = bench_clips(policy, clips, 3, 20, 10.0, (1.0, 1.0))
    out = {
        "name": run,
        "env_steps": policy.meta.get("env_steps"),
        "wall_s": policy.meta.get("wall_s"),
        "bench_s": round(time.perf_counter() - t0, 1),
        **{c: {k: res[c][k] for k in KEYS} for c in res},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

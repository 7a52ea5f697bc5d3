"""ROS 2 deployment benchmark: command-to-acknowledgement latency through real ROS 2 middleware, and plan success
through ROS (planner -> tree -> skills -> safety -> rclpy -> ``ember robot-sim``) vs direct PyBullet.

    python bench/ros.py                     # 10 s of commands at 100 Hz and 250 Hz, 20 seeded episodes each way
    python bench/ros.py --episodes 4 --latency-s 3

Latency: the bridge stamps each command ``seq=<n>``; the robot-sim echoes the newest applied sequence id in its
next joint state (``ack=<n>``, states at ``--state-hz``); latency = that state's arrival - the command's send time,
both on this machine's monotonic clock. Both processes share the 2 cores with nothing else of the bench.
Episodes alternate the tabletop bench's pick_place and stack_2 templates (bench/tabletop.py) on seeds 1000+k; the
robot-sim is started afresh for each ROS episode with the same seed, so both runs start from the same arrangement.
Targets: p99 <= 10 ms at 100 Hz, and the same success rate through ROS as direct.
Prints progress to stderr and one JSON object as the last line of stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
from machine import machine
from rich.console import Console
from rich.progress import Progress
from tabletop import COLORS, TEMPLATES

from ember.launch.episode import run_episode

os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


class RobotSim:
    """``ember robot-sim`` as a child process, stopped on exit."""

    def __init__(self, *overrides: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ember.launch.cli", "robot-sim", *overrides],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("robot-sim ready"):
                return
        raise RuntimeError("robot-sim exited before it was ready")

    def __enter__(self) -> RobotSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def latency(rate_hz: float, seconds: float, state_hz: float) -> dict[str, Any]:
    from ember.robots import make_robot_world

    with RobotSim(f"state_hz={state_hz}", "camera_hz=0"):
        world = make_robot_world(
            "ros", {"control_hz": rate_hz, "limits": {"max_command_hz": max(300.0, 2.0 * rate_hz)}}, connect_timeout=30
        )
        try:
            q0 = world.observe("panda")["policy"][:7].astype(np.float64)
            t_end = world.time() + seconds
            while world.time() < t_end:
                t = world.time()
                world.apply("panda", {"joint_pos": q0 + 0.05 * math.sin(2.0 * t)})
                world.advance()
            time.sleep(0.1)
            lat = np.array(world.latencies) * 1000.0
            sent = world.counters["commands"]
            refused = world.counters["refused"]
        finally:
            world.close()
    return {
        "command_hz": rate_hz,
        "state_hz": state_hz,
        "commands": sent,
        "acknowledged": int(lat.size),
        "refused": refused,
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "max_ms": round(float(lat.max()), 3),
    }


def episodes(n: int, progress: Progress) -> dict[str, Any]:
    task = {"name": "tabletop", "cubes": list(COLORS), "tray": True, "max_seconds": 150.0}
    out: dict[str, Any] = {}
    for backend in ("sim", "ros"):
        bar = progress.add_task(f"{backend} episodes", total=n)
        results = []
        for k in range(n):
            template = ("pick_place", "stack_2")[k % 2]
            goal, arrangement = TEMPLATES[template](k)
            seed = 1000 + k
            spec = {**task, "arrangement": arrangement}
            if backend == "ros":
                with RobotSim(f"seed={seed}", f"task.arrangement={arrangement}"):
                    metrics = run_episode({**spec, "backend": "ros"}, {"name": "symbolic"}, goal, seed=seed)
            else:
                metrics = run_episode(spec, {"name": "symbolic"}, goal, seed=seed)
            results.append(
                {"seed": seed, "goal": goal, **{key: metrics[key] for key in ("success", "status", "reason")}}
            )
            results[-1]["world_s"] = metrics["world_time_s"]
            ok = sum(r["success"] for r in results)
            progress.update(bar, advance=1, description=f"{backend} episodes {ok}/{len(results)}")
        out[backend] = {
            "success_rate": sum(r["success"] for r in results) / n,
            "mean_world_s": round(float(np.mean([r["world_s"] for r in results])), 2),
            "failures": [r for r in results if not r["success"]],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--latency-s", type=float, default=10.0, help="seconds of commands per rate")
    parser.add_argument("--state-hz", type=float, default=250.0, help="robot-sim joint state rate")
    args = parser.parse_args()
    console = Console(stderr=True)
    t0 = time.perf_counter()
    lat = []
    for rate in (100.0, 250.0):
        console.print(f"latency at {rate:g} Hz ...")
        lat.append(latency(rate, args.latency_s, args.state_hz))
        console.print(lat[-1])
    with Progress(console=console) as progress:
        runs = episodes(args.episodes, progress)
    p99_100 = lat[0]["p99_ms"]
    result = {
        "latency": lat,
        "episodes": runs,
        "ros_domain_id": int(os.environ["ROS_DOMAIN_ID"]),
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
        "targets": {
            "p99_ms_at_100hz_le_10": {"target": "<= 10", "value": p99_100, "met": p99_100 <= 10.0},
            "ros_success_eq_direct": {
                "target": "ros == sim",
                "value": [runs["ros"]["success_rate"], runs["sim"]["success_rate"]],
                "met": runs["ros"]["success_rate"] >= runs["sim"]["success_rate"],
            },
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

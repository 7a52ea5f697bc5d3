"""``ember data``: record demonstrations and summarize datasets.

ember data info PATH
ember data record --task tabletop_push_obstacle --episodes 400 --out data/push_obstacle.zarr [--seed 0] [--num-envs 2]
    [--action-noise 0.1]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from ember.launch.status import print_error

DEMONSTRATORS: dict[str, str] = {
    "tabletop_push_obstacle": "ember.skills.tabletop.demos:ObstaclePushDemonstrator",
}
"""Scripted demonstrators by env name (``ember.sims.ENVS``)."""


def record_demos(
    task: str,
    episodes: int,
    out: str,
    seed: int = 0,
    num_envs: int = 2,
    progress: bool = True,
    action_noise: float = 0.0,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Record ``episodes`` demonstrations of ``task`` into the dataset at ``out`` (appending); returns its summary."""
    from ember.launch.status import status_progress
    from ember.sims import load_class, make_env
    from ember.skills.data.dataset import EpisodeDataset, EpisodeWriter
    from ember.skills.data.recorder import episode_fields, record

    if task not in DEMONSTRATORS:
        raise ValueError(f"task={task!r} has no demonstrator; tasks with one: {sorted(DEMONSTRATORS)}")
    env = make_env(task, num_envs=num_envs, seed=seed, **env_kwargs)
    try:
        meta = {
            "task": task,
            "env": {"num_envs": num_envs, **env_kwargs},
            "controller": DEMONSTRATORS[task],
            "seed": seed,
            "action_noise": action_noise,
        }
        meta["goal_slice"] = [env.goal_slice.start, env.goal_slice.stop]
        writer = EpisodeWriter(out, episode_fields(env), meta)
        controller = load_class(DEMONSTRATORS[task])(num_envs, seed=seed)
        with status_progress(Console(stderr=True), progress) as bar:
            job = bar.add_task(f"recording {task}", total=episodes, status="")
            ok = [0]

            def on_episode(done: int, success: bool) -> None:
                ok[0] += success
                bar.update(job, completed=done, status=f"{ok[0]}/{done} successful")

            record(env, controller, writer, episodes, seed=seed, on_episode=on_episode, action_noise=action_noise)
    finally:
        env.close()
    return EpisodeDataset(out).info()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="ember data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="summarize a dataset")
    info.add_argument("path")
    rec = sub.add_parser("record", help="record scripted demonstrations")
    rec.add_argument("--task", default="tabletop_push_obstacle", help=f"one of {sorted(DEMONSTRATORS)}")
    rec.add_argument("--episodes", type=int, default=400)
    rec.add_argument("--out", required=True, help="dataset directory (created, or appended to)")
    rec.add_argument("--seed", type=int, default=0)
    rec.add_argument("--num-envs", type=int, default=2)
    rec.add_argument("--action-noise", type=float, default=0.0, help="std of noise on executed actions (DART)")
    rec.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    console = Console(stderr=True)
    from ember.skills.data.dataset import DatasetError, EpisodeDataset

    try:
        if args.command == "info":
            summary = EpisodeDataset(args.path).info()
        else:
            if args.episodes < 1 or args.num_envs < 1 or not args.action_noise >= 0 or args.action_noise == math.inf:
                raise ValueError(
                    f"--episodes and --num-envs must be >= 1 and --action-noise a finite number >= 0; got "
                    f"{args.episodes}, {args.num_envs}, {args.action_noise}"
                )
            out = Path(args.out)
            if out.exists() and not out.is_dir():
                raise ValueError(f"--out {args.out}: is a file; give a dataset directory (new, or one to append to)")
            if not out.parent.exists() and not out.parent.is_dir():
                raise ValueError(f"--out {args.out}: its folder {out.parent} does not exist; create it first")
            summary = record_demos(
                args.task,
                args.episodes,
                args.out,
                args.seed,
                args.num_envs,
                progress=not args.no_progress,
                action_noise=args.action_noise,
            )
    except (DatasetError, ValueError) as err:
        print_error(console, str(err))
        sys.exit(2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

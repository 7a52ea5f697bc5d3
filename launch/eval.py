"""``ember eval checkpoint=PATH``: roll a trained chunk policy out over seeded episodes of the task it was trained
on; prints and writes ``metrics.json`` (success, steps, latency per chunk, and for push_obstacle the side shares).

ember eval checkpoint=skills/tabletop/checkpoints/push_obstacle_beso/policy.pt steps=3 episodes=100
ember eval -m checkpoint=... steps=1,3,10,50
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from ember.launch.bounds import ConfigBoundsError, check_bounds
from ember.launch.config import register
from ember.launch.status import print_error, status_progress
from ember.sims.atomic import atomic_write_json, atomic_write_text
from ember.skills.learning.build import cpu_threads

register()


@hydra.main(config_path="conf", config_name="eval", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from ember.sims import make_env
    from ember.skills.diffusion.evaluate import load_policy, rollout
    from ember.skills.diffusion.policy import ChunkController

    console = Console(stderr=True)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_bounds(cfg)
    except ConfigBoundsError as err:
        print_error(console, str(err))
        sys.exit(2)
    cpu_threads(int(cfg.threads))
    try:
        policy, meta = load_policy(cfg.checkpoint)
        sampling = {k: cfg[k] for k in ("steps", "sampler", "guidance") if cfg[k] is not None}
        if policy.cfg.kind != "beso" and sampling:
            raise ValueError(
                f"a {policy.cfg.kind} policy does not sample; {', '.join(f'{k}={v}' for k, v in sampling.items())} "
                "apply to BESO (diffusion) policies only — leave them out"
            )
        num_envs = min(int(cfg.num_envs), int(cfg.episodes))  # an env per episode at most (each holds a simulator)
        env = make_env(meta["task"], num_envs=num_envs, seed=cfg.seed, **meta.get("env", {}))
        controller = ChunkController(policy, env.num_envs, cfg.steps, cfg.sampler, cfg.guidance, seed=cfg.seed)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as err:
        print_error(console, f"checkpoint={cfg.checkpoint!r}: {err}")
        sys.exit(2)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    with status_progress(console, bool(cfg.progress)) as bar:
        job = bar.add_task(f"{policy.cfg.kind} on {meta['task']}", total=cfg.episodes, status="")
        wins = [0]

        def on_episode(n: int, ok: bool) -> None:
            wins[0] += ok
            bar.update(job, completed=n, status=f"{wins[0]}/{n} successful")

        summary = rollout(env, controller, cfg.episodes, seed=cfg.seed, on_episode=on_episode)
    env.close()
    summary.update(
        {
            "checkpoint": cfg.checkpoint,
            "policy": policy.cfg.kind,
            "steps": cfg.steps or policy.cfg.sample_steps,
            "torch_threads": torch.get_num_threads(),
        }
    )
    atomic_write_json(run_dir / "metrics.json", summary, indent=2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

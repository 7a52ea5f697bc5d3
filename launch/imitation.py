"""``ember train policy=beso|bc task=...``: train a chunk policy from demonstrations (recording them first when no
dataset is given), then evaluate it; the run directory gets ``policy.pt`` (EMA weights, normalizer, config and what
it was trained on), ``checkpoints/last.pt``, TensorBoard scalars and ``metrics.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from ember.launch.status import print_error, status_progress
from ember.sims.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text


def policy_config(p: dict[str, Any]) -> Any:
    """The ``PolicyConfig`` part of a ``policy`` config group."""
    from dataclasses import fields

    from ember.skills.diffusion.policy import PolicyConfig

    return PolicyConfig(**{f.name: p[f.name] for f in fields(PolicyConfig)})


def save_policy(policy: Any, path: Path, meta: dict[str, Any]) -> None:
    import io

    buffer = io.BytesIO()
    torch.save({**policy.to_checkpoint(), "meta": meta}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def run(cfg: DictConfig, run_dir: Path, console: Console) -> None:
    from ember.launch.data import DEMONSTRATORS, record_demos
    from ember.sims import make_env
    from ember.sims.pybullet.assets import scene_hash
    from ember.skills.data.dataset import DatasetError, EpisodeDataset
    from ember.skills.diffusion.evaluate import rollout
    from ember.skills.diffusion.policy import ChunkController
    from ember.skills.diffusion.train import make_windows, train_policy

    task: dict[str, Any] = OmegaConf.to_container(cfg.task, resolve=True)  # type: ignore[assignment]
    p: dict[str, Any] = OmegaConf.to_container(cfg.policy, resolve=True)  # type: ignore[assignment]
    name = task.pop("name")
    num_envs = task.pop("num_envs", 1)
    for key in ("eval_envs", "eval_target"):
        task.pop(key, None)
    try:
        pcfg = policy_config(p)
        pcfg.check()
        for key in ("steps", "batch_size", "demos", "checkpoint_every"):
            if p[key] < 1:
                raise ValueError(f"policy.{key} must be >= 1; got {p[key]}")
        if p["dataset"] is None and name not in DEMONSTRATORS:
            raise ValueError(
                f"task={name!r} has no scripted demonstrator; give policy.dataset=PATH (tasks with one: "
                f"{sorted(DEMONSTRATORS)})"
            )
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        given = p["dataset"]
        paths = [str(run_dir / "demos.zarr")] if given is None else [given] if isinstance(given, str) else list(given)
        if given is None and not (run_dir / "demos.zarr" / "zarr.json").is_file():
            record_demos(
                name,
                p["demos"],
                paths[0],
                p["demo_seed"],
                num_envs,
                bool(cfg.progress),
                action_noise=p["demo_action_noise"],
                **task,
            )
        datasets = [EpisodeDataset(path) for path in paths]
        for path, dataset in zip(paths, datasets, strict=True):
            recorded = dataset.meta.get("task")
            if recorded not in (None, name):
                raise ValueError(f"policy.dataset={path!r} holds {recorded!r} episodes, but task.name={name!r}")
        env = make_env(name, num_envs=num_envs, seed=cfg.seed, **task)
        pcfg.goal_slice = [env.goal_slice.start, env.goal_slice.stop]
        windows = make_windows(datasets, pcfg.obs_history, pcfg.horizon, p["success_only"])
    except (DatasetError, ValueError, TypeError) as err:
        print_error(console, str(err))
        sys.exit(2)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tensorboard"))
    with status_progress(console, bool(cfg.progress)) as bar:
        job = bar.add_task(f"{pcfg.kind} on {name}", total=p["steps"], status="")

        def on_progress(s: dict[str, Any]) -> None:
            bar.update(job, completed=s["step"], status=f"loss {s['loss']:.4f}  {s['steps_per_s']:.0f} steps/s")

        policy, result = train_policy(
            pcfg,
            windows,
            run_dir,
            p["steps"],
            batch_size=p["batch_size"],
            lr=p["lr"],
            ema_decay=p["ema_decay"],
            checkpoint_every=p["checkpoint_every"],
            resume=bool(cfg.resume),
            seed=cfg.seed,
            on_progress=on_progress,
            on_log=writer.add_scalar,
        )
    meta = {
        "task": name,
        "env": task,
        "goal_slice": [env.goal_slice.start, env.goal_slice.stop],
        "scene_hash": scene_hash(),
        "dataset": {"paths": paths, "episodes_used": windows.episodes, "samples": len(windows.actions)},
        "train_command": "ember train " + " ".join(HydraConfig.get().overrides.task),
        "gradient_steps": result.steps,
    }
    save_policy(policy, run_dir / "policy.pt", meta)
    metrics: dict[str, Any] = {
        "task": name,
        "policy": pcfg.kind,
        "gradient_steps": result.steps,
        "train_wall_s": round(result.wall_s, 1),
        "first_loss": result.first_loss,
        "last_loss": result.last_loss,
        "torch_threads": torch.get_num_threads(),
    }
    if p["eval_episodes"] > 0:
        with status_progress(console, bool(cfg.progress)) as bar:
            job = bar.add_task("evaluating", total=p["eval_episodes"], status="")
            controller = ChunkController(policy, env.num_envs, seed=cfg.seed)
            metrics["eval"] = rollout(
                env,
                controller,
                p["eval_episodes"],
                seed=cfg.seed + 10_000,
                on_episode=lambda n, _: bar.update(job, completed=n),
            )
        writer.add_scalar("eval/success_rate", metrics["eval"]["success_rate"], result.steps)
    writer.close()
    env.close()
    atomic_write_json(run_dir / "metrics.json", metrics, indent=2)
    console.print(json.dumps(metrics), soft_wrap=True)

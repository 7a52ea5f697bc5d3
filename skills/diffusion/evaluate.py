"""Roll a chunk policy out on a vectorized env: success over seeded episodes, per-chunk latency, and for the
``push_obstacle`` task the side each episode passed the post on and whether anything touched it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ember.sims.env import VecEnv


def rollout(
    env: VecEnv,
    controller: Any,
    episodes: int,
    seed: int = 0,
    on_episode: Callable[[int, bool], None] | None = None,
) -> dict[str, Any]:
    """Run ``controller`` (``reset(ids, rows)``, ``act(rows)`` on ``policy`` rows) for ``episodes`` episodes."""
    from ember.sims.pybullet.tabletop_env import obstacle_side

    obs, _ = env.reset(seed=seed)
    controller.reset(list(range(env.num_envs)), obs["policy"])
    paths: list[list[np.ndarray]] = [[] for _ in range(env.num_envs)]
    touched = [False] * env.num_envs
    results: list[dict[str, Any]] = []
    obstacle = getattr(env, "task", None) == "push_obstacle"
    while len(results) < episodes:
        actions = controller.act(obs["policy"])
        for i in range(env.num_envs):
            paths[i].append(obs["policy"][i].numpy().copy())
        obs, reward, terminated, truncated, extras = env.step(actions)
        success = extras.get("success", terminated & (reward > 0))
        final = extras["final_obs"]
        done = (terminated | truncated).numpy()
        if obstacle:
            contact = final["critic"][:, -1].numpy() > 0.5
            for i in range(env.num_envs):
                touched[i] |= bool(contact[i])
        for i in (int(k) for k in np.nonzero(done)[0]):
            if len(results) < episodes:
                entry: dict[str, Any] = {"success": bool(success[i]), "steps": len(paths[i])}
                if obstacle:
                    entry["side"] = obstacle_side(np.stack(paths[i]))
                    entry["touched_post"] = touched[i]
                results.append(entry)
                if on_episode is not None:
                    on_episode(len(results), entry["success"])
            paths[i], touched[i] = [], False
        if done.any():
            controller.reset(list(np.nonzero(done)[0]), obs["policy"])
    summary: dict[str, Any] = {
        "episodes": len(results),
        "success_rate": float(np.mean([r["success"] for r in results])),
        "mean_steps": float(np.mean([r["steps"] for r in results])),
    }
    if obstacle:
        for side in ("left", "right", "none"):
            summary[f"side_{side}"] = float(np.mean([r["side"] == side for r in results]))
        summary["touched_post"] = float(np.mean([r["touched_post"] for r in results]))
    times = getattr(controller, "chunk_times", None)
    if times:
        ms = np.asarray(times) * 1e3
        summary["chunk_latency_ms"] = {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}
    return summary


def load_policy(path: str) -> tuple[Any, dict[str, Any]]:
    """A saved ``policy.pt`` (see ``ember train policy=...``): ``(ChunkPolicy, meta)``; refuses other files."""
    from ember.skills.diffusion.policy import ChunkPolicy

    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
        policy = ChunkPolicy.from_checkpoint(data)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(
            f"{path} is not a policy written by `ember train policy=beso|bc` ({type(err).__name__}: {err})"
        ) from err
    broken = [name for name, t in policy.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    broken += [n for n, t in policy.named_buffers() if n.endswith("_std") and bool((t <= 0).any())]  # fit: >= 1e-3
    if broken:  # a diverged run (or an edited file): every action it gives is NaN
        raise ValueError(
            f"{path}: {broken[:3]} hold NaN, inf or a std <= 0 (a diverged run?); evaluate an earlier checkpoint"
        )
    return policy, data.get("meta", {})

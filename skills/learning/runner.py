"""The training loop shared by PPO and SAC: collect, update, evaluate, log, checkpoint, resume.

Checkpoints (``checkpoints/last.pt``, ``best.pt``) hold the algorithm's whole state (networks, optimizers,
normalizers, replay buffer), the env's state and the torch RNG, and are written atomically, so a killed run resumes
from its last checkpoint and never reads half a file.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ember.sims.atomic import atomic_write_bytes
from ember.sims.env import VecEnv
from ember.skills.learning import distributed

log = logging.getLogger(__name__)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise RuntimeError(
            f"checkpoint {path} cannot be read ({type(err).__name__}: {err}); "
            "delete it, or give another run or checkpoint"
        ) from err


@dataclass
class TrainResult:
    env_steps: int
    wall_s: float
    best_eval: float
    last_eval: float
    solved_at_s: float | None
    """Wall time when ``eval_target`` was first reached (evaluation time included) [s]."""
    solved_at_steps: int | None


def evaluate(algo: Any, env: VecEnv, episodes_seed: int = 12345) -> float:
    """Mean undiscounted return of the deterministic policy over one episode of every env of ``env``."""
    obs, _ = env.reset(seed=episodes_seed)
    total = torch.zeros(env.num_envs)
    done = torch.zeros(env.num_envs, dtype=torch.bool)
    for _ in range(env.max_episode_length):
        obs, reward, terminated, truncated, _ = env.step(algo.act(obs, deterministic=True))
        total += reward * (~done).float()
        done |= terminated | truncated
        if done.all():
            break
    return float(total.mean())


def train(
    algo: Any,
    env: VecEnv,
    eval_env: VecEnv,
    total_steps: int,
    run_dir: Path | None = None,
    eval_every_steps: int = 5000,
    eval_target: float | None = None,
    stop_at_target: bool = True,
    resume: bool = False,
    seed: int = 0,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[str, float, int], None] | None = None,
    eval_fn: Callable[[Any], float] | None = None,
    runners: Any | None = None,
    max_wall_s: float = 0.0,
) -> TrainResult:
    """Train ``algo`` (PPO or SAC verbs) on ``env`` for ``total_steps`` env steps.

    ``on_log(tag, value, step)`` receives scalars (TensorBoard); ``on_progress`` a dict for live status;
    ``eval_fn(algo)`` replaces the mean evaluation return (a task's own success criterion, for instance).
    ``runners``: a :class:`~ember.skills.learning.runners.RunnerGroup` that samples instead of ``env`` (which is then
    unused and may be None); each iteration is one broadcast, one sample per runner and one update.
    Under ``torchrun`` every rank trains on its own ``env``; ``total_steps`` counts all ranks' steps, and rank 0 alone
    evaluates (its result is shared), logs and writes checkpoints.
    ``max_wall_s`` > 0: a wall-clock budget (a resumed run's earlier time counts) that the run ends inside: at the
    rollout boundary where one more iteration and evaluation (their last measured durations) would pass it, the run
    evaluates, checkpoints and stops, however far from ``total_steps``. Before its first evaluation has been timed the
    run cannot budget for it, so a run that never evaluated before may end that long past ``max_wall_s``.
    """
    ckpt_dir = run_dir / "checkpoints" if run_dir is not None else None
    lead, world = distributed.rank() == 0, distributed.world_size()
    best, last_eval, solved_s, solved_steps, wall_offset = -float("inf"), -float("inf"), None, None, 0.0
    torch.manual_seed(seed + 7919 * distributed.rank())
    obs = env.reset(seed=seed + 1000 * distributed.rank())[0] if runners is None else None
    if resume and ckpt_dir is not None and (ckpt_dir / "last.pt").is_file():
        state = load_checkpoint(ckpt_dir / "last.pt")
        algo.load_state_dict(state["algo"])
        env_state = state.get("env")
        if lead and runners is None:  # other ranks and env runners start fresh episodes
            torch.set_rng_state(state["torch_rng"])
            obs = state["obs"]
            if env_state is not None and hasattr(env, "load_state"):
                fresh = env.load_state(env_state)  # an env that restarts its episodes returns their observation
                obs = fresh if fresh is not None else obs
        best, last_eval = state["best"], state["last_eval"]
        solved_s, solved_steps, wall_offset = state["solved_s"], state["solved_steps"], state["wall_s"]
        log.info("resumed from %s at %d env steps", ckpt_dir / "last.pt", algo.env_steps)
    t0 = time.perf_counter() - wall_offset
    iter_s = eval_s = 0.0  # the last rollout-and-update and evaluation-and-checkpoint durations, for max_wall_s
    t_boundary = time.perf_counter()
    next_eval = (algo.env_steps * world // eval_every_steps + 1) * eval_every_steps
    is_ppo = hasattr(algo, "rollout_full")
    if not lead:
        on_log = on_progress = None
    while algo.env_steps * world < total_steps:
        logs: dict[str, float] = {}
        at_boundary = True  # PPO evaluates and checkpoints only between rollouts, so a resume is exact
        if runners is not None:
            extras = _runner_iteration(algo, runners, is_ppo, logs)
        else:
            actions = algo.act(obs)
            next_obs, reward, terminated, truncated, extras = env.step(actions)
            algo.process_env_step(next_obs, reward, terminated, truncated, extras)
            obs = next_obs
            if is_ppo:
                at_boundary = algo.rollout_full()
                if at_boundary:
                    algo.compute_returns(obs)
                    logs = algo.update()
            else:
                logs = algo.update()
        steps = algo.env_steps * world
        if on_log is not None:
            for key, value in {**logs, **extras.get("log", {})}.items():
                on_log(f"train/{key}", value, steps)
        out_of_time = False
        due = steps >= next_eval or steps >= total_steps
        if max_wall_s > 0 and at_boundary:  # rank 0's clock decides for all ranks
            now = time.perf_counter()
            iter_s = now - t_boundary
            # going on costs this evaluation (if due), one more iteration and the evaluation that ends the run
            projected = now - t0 + iter_s + eval_s * (2 if due else 1)
            out_of_time = distributed.broadcast_float(float(projected >= max_wall_s)) > 0
        if at_boundary and (due or out_of_time):
            t_eval = time.perf_counter()
            next_eval += eval_every_steps
            if lead:
                last_eval = eval_fn(algo) if eval_fn is not None else evaluate(algo, eval_env)
            last_eval = distributed.broadcast_float(last_eval)
            elapsed = time.perf_counter() - t0
            if on_log is not None:
                on_log("eval/return", last_eval, steps)
                on_log("perf/env_steps_per_s", steps / max(elapsed, 1e-9), steps)
            improved = last_eval >= best  # ties: the later checkpoint (an eval stuck at 0 exports the last)
            best = max(best, last_eval)
            if eval_target is not None and solved_s is None and last_eval >= eval_target:
                solved_s, solved_steps = elapsed, steps
            if ckpt_dir is not None and lead:
                state = {
                    "algo": algo.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "obs": obs,
                    "env": env.save_state() if runners is None and hasattr(env, "save_state") else None,
                    "best": best,
                    "last_eval": last_eval,
                    "solved_s": solved_s,
                    "solved_steps": solved_steps,
                    "wall_s": elapsed,
                }
                save_checkpoint(ckpt_dir / "last.pt", state)
                if improved:
                    save_checkpoint(ckpt_dir / "best.pt", state)
            if on_progress is not None:
                on_progress(
                    {
                        "env_steps": steps,
                        "eval": last_eval,
                        "best": best,
                        "wall_s": elapsed,
                        "steps_per_s": steps / max(elapsed, 1e-9),
                        **logs,
                    }
                )
            eval_s = time.perf_counter() - t_eval
            if solved_s is not None and stop_at_target:
                break
            if out_of_time:
                log.info("max_wall_s=%s: one more iteration would not fit, stopping at %d env steps", max_wall_s, steps)
                break
        if at_boundary:
            t_boundary = time.perf_counter()
    return TrainResult(algo.env_steps * world, time.perf_counter() - t0, best, last_eval, solved_s, solved_steps)


def _runner_iteration(algo: Any, runners: Any, is_ppo: bool, logs: dict[str, float]) -> dict[str, Any]:
    """One broadcast-sample-ingest-update round through env runners; fills ``logs`` and returns env-like extras."""
    num_steps = algo.storage.num_steps if is_ppo else runners.spec.rollout_steps
    batches = runners.sample(algo, num_steps)
    algo.ingest([b.data for b in batches])
    t0 = time.perf_counter()
    logs.update(algo.update())
    env_logs: dict[str, float] = {}
    for b in batches:
        for key, value in b.logs.items():
            env_logs[key] = env_logs.get(key, 0.0) + value / len(batches)
    returns = [r for b in batches for r in b.episode_returns]
    if returns:
        env_logs["episode_return"] = sum(returns) / len(returns)
    for key, value in runners.stats.items():
        env_logs[f"runners/{key}"] = float(value)
    env_logs["runners/update_s"] = time.perf_counter() - t0
    return {"log": env_logs}

"""Train a :class:`~ember.skills.diffusion.policy.ChunkPolicy` on an episode dataset: windows of (observation
history, goal, action chunk), AdamW with cosine decay, an EMA copy of the weights (what is evaluated and exported),
TensorBoard scalars, progress, and atomic checkpoints that a killed run resumes from exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ember.skills.data.dataset import DatasetError, EpisodeDataset
from ember.skills.diffusion.policy import ChunkPolicy, PolicyConfig
from ember.skills.learning.runner import load_checkpoint, save_checkpoint


@dataclass
class Windows:
    rows: torch.Tensor
    """(N, history, row_dim): ``policy`` rows, the current one last"""
    actions: torch.Tensor
    """(N, horizon, action_dim)"""
    episodes: int


def make_windows(
    datasets: EpisodeDataset | list[EpisodeDataset], obs_history: int, horizon: int, success_only: bool = True
) -> Windows:
    """Every step of every (successful) episode of one or more datasets as one training sample. Histories before the
    first step repeat it; chunks past the last step repeat the last action (as in Diffusion Policy)."""
    sources = datasets if isinstance(datasets, list) else [datasets]
    obs_rows, chunks, used = [], [], 0
    for arrays, attrs in (episode for dataset in sources for episode in dataset):
        if success_only and not attrs.get("success", False):
            continue
        policy, actions = arrays["policy"], arrays["action"]
        length = len(actions)
        t = np.arange(length)
        hist = np.clip(t[:, None] + np.arange(-obs_history + 1, 1)[None, :], 0, length - 1)
        fut = np.clip(t[:, None] + np.arange(horizon)[None, :], 0, length - 1)
        obs_rows.append(policy[hist])
        chunks.append(actions[fut])
        used += 1
    if not used:
        raise DatasetError(
            f"{[str(d.path) for d in sources]} hold no {'successful ' if success_only else ''}episodes to train on; "
            "record more (or train with policy.success_only=false)"
        )
    return Windows(
        torch.as_tensor(np.concatenate(obs_rows), dtype=torch.float32),
        torch.as_tensor(np.concatenate(chunks), dtype=torch.float32),
        used,
    )


@dataclass
class ImitationResult:
    steps: int
    wall_s: float
    first_loss: float
    last_loss: float


def train_policy(
    cfg: PolicyConfig,
    data: Windows,
    run_dir: Path,
    steps: int,
    batch_size: int = 256,
    lr: float = 3e-4,
    weight_decay: float = 1e-6,
    ema_decay: float = 0.999,
    checkpoint_every: int = 1000,
    resume: bool = False,
    seed: int = 0,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[str, float, int], None] | None = None,
) -> tuple[ChunkPolicy, ImitationResult]:
    """Train for ``steps`` gradient steps; returns the EMA policy. ``checkpoints/last.pt`` holds everything a resume
    needs (weights, EMA, optimizer, scheduler, RNG states, step, loss history)."""
    torch.manual_seed(seed)
    cfg.row_dim, cfg.action_dim = data.rows.shape[-1], data.actions.shape[-1]
    policy = ChunkPolicy(cfg)
    policy.set_normalizer(data.rows[:, -1])
    ema = AveragedModel(policy, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    optim = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min(1.0, (s + 1) / 500) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    generator = torch.Generator().manual_seed(seed)
    step, losses = 0, []
    ckpt = run_dir / "checkpoints" / "last.pt"
    if resume and ckpt.is_file():
        state = load_checkpoint(ckpt)
        policy.load_state_dict(state["policy"])
        ema.load_state_dict(state["ema"])
        optim.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        step, losses = state["step"], state["losses"]

    def checkpoint() -> None:
        save_checkpoint(
            ckpt,
            {
                "policy": policy.state_dict(),
                "ema": ema.state_dict(),
                "optim": optim.state_dict(),
                "sched": sched.state_dict(),
                "generator": generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "losses": losses,
                "config": dict(cfg.__dict__),
            },
        )

    n = len(data.actions)
    start = time.perf_counter()
    window: list[float] = []
    while step < steps:
        idx = torch.randint(0, n, (batch_size,), generator=generator)
        loss = policy.loss(data.rows[idx], data.actions[idx], generator)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optim.step()
        sched.step()
        ema.update_parameters(policy)
        step += 1
        window.append(float(loss.detach()))
        if step % 100 == 0 or step == steps:
            mean = float(np.mean(window))
            losses.append(mean)
            window = []
            if on_log is not None:
                on_log("loss", mean, step)
                on_log("lr", float(sched.get_last_lr()[0]), step)
            if on_progress is not None:
                on_progress({"step": step, "loss": mean, "steps_per_s": step / (time.perf_counter() - start)})
        if step % checkpoint_every == 0 or step == steps:
            checkpoint()
    trained = ChunkPolicy(cfg)
    trained.load_state_dict(ema.module.state_dict())
    return trained.eval(), ImitationResult(
        step, time.perf_counter() - start, losses[0] if losses else float("nan"), losses[-1] if losses else float("nan")
    )

"""Data-parallel learners with ``torch.distributed`` (``torchrun --nproc_per_node=K ember train ...``).

As in Isaac Lab's rsl_rl workflow: one process per rank, each with its own envs and rollout (or replay) data; the
ranks start from rank 0's parameters, average their gradients before every optimizer step, agree on the statistics
that steer the update (advantage moments, PPO's KL for the adaptive learning rate, observation normalizers), and so
stay identical. Rank 0 alone evaluates, writes checkpoints and logs. gloo on CPU, NCCL where the ranks have GPUs.

Every helper is a no-op in a single process, so the algorithms call them unconditionally.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist

from ember.skills.learning.normalizer import Moments, RunningNorm


def launched() -> bool:
    """True in a process started by ``torchrun`` with more than one rank."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init() -> bool:
    """Join the process group ``torchrun`` describes: gloo for CPU tensors, NCCL for CUDA tensors where CUDA is
    available (torch dispatches by device); False when not launched by ``torchrun`` (a single process)."""
    if not launched():
        return False
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return True


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(params: Iterable[torch.Tensor]) -> None:
    """Copy rank 0's values into every rank's ``params`` (networks at start, so all ranks begin alike)."""
    if not active():
        return
    with torch.no_grad():
        for p in params:
            dist.broadcast(p.data, src=0)


def average_gradients(params: Iterable[torch.Tensor]) -> None:
    """Replace each parameter's gradient by its mean over the ranks (one flat all-reduce)."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world_size()
    at = 0
    for g in grads:
        g.copy_(flat[at : at + g.numel()].view_as(g))
        at += g.numel()


def mean(value: torch.Tensor | float) -> torch.Tensor:
    """Mean of a scalar or tensor over the ranks."""
    t = torch.as_tensor(value, dtype=torch.float32).clone()
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= world_size()
    return t


def global_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (unbiased) std of ``x``'s elements over all ranks, as if the ranks' tensors were one."""
    if not active():
        return x.mean(), x.std()
    stats = torch.stack([x.sum(), x.pow(2).sum(), torch.tensor(float(x.numel()))]).double()
    dist.all_reduce(stats, op=dist.ReduceOp.SUM)
    total, squares, n = stats
    m = total / n
    var = (squares - n * m * m) / (n - 1)
    return m.float(), var.clamp_min(0).sqrt().float()


def broadcast_float(value: float) -> float:
    """Rank 0's ``value`` on every rank (an evaluation result, for instance)."""
    if not active():
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t.item())


def sync_norm(norm: RunningNorm, base: Moments) -> Moments:
    """Merge what every rank's copy of ``norm`` has seen since the last sync into all copies alike.

    ``base`` is the shared state at the last sync (identical on all ranks); each rank's pending moments are gathered
    and added to it in rank order, so every rank ends with the same statistics. Returns the new base."""
    if not active():
        return norm.mean.clone(), norm.var.clone(), norm.count.clone()
    pending = norm.take_pending()
    local = torch.cat([pending[0], pending[1], pending[2].reshape(1)])
    gathered = [torch.zeros_like(local) for _ in range(world_size())]
    dist.all_gather(gathered, local)
    dim = norm.mean.shape[0]
    norm.mean, norm.var, norm.count = (t.clone() for t in base)
    for g in gathered:
        norm.merge((g[:dim], g[dim : 2 * dim], g[2 * dim]))
    return norm.mean.clone(), norm.var.clone(), norm.count.clone()

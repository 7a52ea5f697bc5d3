"""Export a trained actor with its observation normalizer as one self-contained ``torch.export`` program (``.pt2``)
for deployment: ``torch.export.load(path).module()(obs)`` needs no Ember code. The batch size is dynamic."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import torch
from torch import nn

from ember.sims.atomic import atomic_write_bytes
from ember.skills.learning.normalizer import RunningNorm


class ExportedPolicy(nn.Module):
    """``policy observation (N, policy_dim) -> action (N, act_dim)``: normalize, then the deterministic actor."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, actor: nn.Module, norm: RunningNorm | None, policy_dim: int) -> None:
        super().__init__()
        self.actor = actor
        mean = norm.mean if norm is not None else torch.zeros(policy_dim)
        std = (norm.var + norm.eps).sqrt() if norm is not None else torch.ones(policy_dim)
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.clip = float(norm.clip) if norm is not None else float("inf")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(((obs - self.mean) / self.std).clamp(-self.clip, self.clip))


def export_policy(algo: object, policy_dim: int, path: str | Path) -> Path:
    """Write ``algo``'s actor and normalizer to ``path`` (atomically) and return the path."""
    actor = algo.policy_module()  # type: ignore[attr-defined]
    norm = getattr(algo, "policy_norm", None)
    module = ExportedPolicy(copy.deepcopy(actor), norm, policy_dim).eval()
    program = torch.export.export(
        module, (torch.zeros(2, policy_dim),), dynamic_shapes={"obs": {0: torch.export.Dim("batch", min=1)}}
    )
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_policy(path: str | Path) -> nn.Module:
    """The exported policy as a module: ``policy observation (N, policy_dim) -> action``."""
    return torch.export.load(str(path)).module()

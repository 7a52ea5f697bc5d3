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


class ExportedValue(nn.Module):
    """``(policy obs, critic obs) -> value (N,)``: PPO's V(critic) or SAC's min Q(critic, actor(policy))."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, algo: object) -> None:
        super().__init__()
        self.kind = "ppo" if hasattr(algo, "critic_norm") else "sac"
        if self.kind == "ppo":
            self.critic = copy.deepcopy(algo.critic)  # type: ignore[attr-defined]
            norm = algo.critic_norm  # type: ignore[attr-defined]
            self.policy_norm = copy.deepcopy(algo.policy_norm)  # type: ignore[attr-defined]
            dim = self.critic[0].in_features
            self.register_buffer("mean", norm.mean.clone() if norm else torch.zeros(dim))
            self.register_buffer("std", (norm.var + norm.eps).sqrt() if norm else torch.ones(dim))
            self.clip = float(norm.clip) if norm else float("inf")
        else:
            self.q = copy.deepcopy(algo.q)  # type: ignore[attr-defined]
            self.actor = copy.deepcopy(algo.actor)  # type: ignore[attr-defined]

    def forward(self, policy: torch.Tensor, critic: torch.Tensor) -> torch.Tensor:
        if self.kind == "ppo":
            return self.critic(((critic - self.mean) / self.std).clamp(-self.clip, self.clip)).squeeze(-1)
        q1, q2 = self.q(critic, self.actor(policy))
        return torch.min(q1, q2)


def export_value(algo: object, policy_dim: int, critic_dim: int, path: str | Path) -> Path:
    """Write the critic's value function (see :class:`ExportedValue`) to ``path`` atomically."""
    module = ExportedValue(algo).eval()
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(
        module,
        (torch.zeros(2, policy_dim), torch.zeros(2, critic_dim)),
        dynamic_shapes={"policy": {0: batch}, "critic": {0: batch}},
    )
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def save_skill_artifact(algo: object, policy_dim: int, critic_dim: int, folder: str | Path, meta: dict) -> Path:
    """A learned skill's artifact: ``policy.pt2``, ``value.pt2`` and ``meta.json`` (see ``ember.skills.learned``)."""
    from ember.sims.atomic import atomic_write_json

    folder = Path(folder)
    export_policy(algo, policy_dim, folder / "policy.pt2")
    export_value(algo, policy_dim, critic_dim, folder / "value.pt2")
    atomic_write_json(folder / "meta.json", {**meta, "policy_dim": policy_dim, "critic_dim": critic_dim}, indent=2)
    return folder

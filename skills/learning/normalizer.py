"""Running observation normalization, kept outside the networks (saved beside them in checkpoints and exports)."""

from __future__ import annotations

from typing import Any

import torch


class RunningNorm:
    """Mean and variance over everything seen (Chan et al. parallel update), applied as ``(x - mean) / std``, clipped.

    Args:
        dim: feature size.
        clip: bound on normalized values.
        eps: floor of the variance.
    """

    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-8) -> None:
        self.mean = torch.zeros(dim)
        self.var = torch.ones(dim)
        self.count = torch.tensor(eps)
        self.clip, self.eps = clip, eps

    def update(self, x: torch.Tensor) -> None:  # x: (N, dim)
        x = x.detach().reshape(-1, self.mean.shape[0]).float().cpu()
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total) / total
        self.count = total

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.device), (self.var + self.eps).sqrt().to(x.device)
        return ((x - mean) / std).clamp(-self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count.clone(), "clip": self.clip}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = state["mean"].clone(), state["var"].clone(), state["count"].clone()
        self.clip = float(state["clip"])

"""Running observation normalization, kept outside the networks (saved beside them in checkpoints and exports)."""

from __future__ import annotations

from typing import Any

import torch

Moments = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""``(mean, var, count)`` of a set of samples (population variance)."""


def combine(a: Moments, b: Moments) -> Moments:
    """Moments of the union of two sample sets (Chan et al.'s parallel update); exact when either is empty."""
    mean_a, var_a, n_a = a
    mean_b, var_b, n_b = b
    if float(n_b) == 0:
        return a
    if float(n_a) == 0:
        return b
    total = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / total
    var = (var_a * n_a + var_b * n_b + delta.pow(2) * n_a * n_b / total) / total
    return mean, var, total


class RunningNorm:
    """Mean and variance over everything seen (Chan et al. parallel update), applied as ``(x - mean) / std``, clipped.

    For distributed sampling the moments of what was seen since :meth:`start_pending` are also kept
    (:meth:`take_pending`), so copies of one normalizer in other processes can be merged without counting the shared
    history twice (:meth:`merge`).

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
        self.pending: Moments | None = None

    def update(self, x: torch.Tensor) -> None:  # x: (N, dim)
        x = x.detach().reshape(-1, self.mean.shape[0]).float().cpu()
        batch: Moments = (x.mean(0), x.var(0, unbiased=False), torch.tensor(float(x.shape[0])))
        self.merge(batch)
        if self.pending is not None:
            self.pending = combine(self.pending, batch)

    def merge(self, moments: Moments) -> None:
        """Add the moments of samples seen elsewhere (another runner's :meth:`take_pending`)."""
        self.mean, self.var, self.count = combine((self.mean, self.var, self.count), moments)

    def start_pending(self) -> None:
        """Begin keeping the moments of new samples apart (see :meth:`take_pending`)."""
        dim = self.mean.shape[0]
        self.pending = (torch.zeros(dim), torch.zeros(dim), torch.tensor(0.0))

    def take_pending(self) -> Moments:
        """The moments of the samples seen since :meth:`start_pending` (empty if none); starts a new pending set."""
        pending = self.pending
        self.start_pending()
        assert self.pending is not None
        return pending if pending is not None else self.pending

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.device), (self.var + self.eps).sqrt().to(x.device)
        return ((x - mean) / std).clamp(-self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count.clone(), "clip": self.clip}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.var, self.count = state["mean"].clone(), state["var"].clone(), state["count"].clone()
        self.clip = float(state["clip"])

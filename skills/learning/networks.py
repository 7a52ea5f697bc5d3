"""Networks shared by the algorithms: MLPs, a Gaussian and a categorical actor (PPO), a tanh-squashed Gaussian actor
(SAC), critics."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Categorical, Normal

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(in_dim: int, out_dim: int, hidden: tuple[int, ...], activation: str = "elu") -> nn.Sequential:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}. Got {activation!r}.")
    layers: list[nn.Module] = []
    last = in_dim
    for width in hidden:
        layers += [nn.Linear(last, width), ACTIVATIONS[activation]()]
        last = width
    layers.append(nn.Linear(last, out_dim))
    return nn.Sequential(*layers)


class GaussianActor(nn.Module):
    """Diagonal Gaussian with a state-independent log std (PPO). Actions are unbounded; the env clips.

    ``output_scale`` multiplies the output layer's initial weights and bias: 1 is PyTorch's default init, 0 a mean of
    exactly zero everywhere (a residual policy that starts as its base controller; its output layer still gets
    gradients, the layers below once that layer is nonzero), 0.01 CleanRL's small-gain output layer."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: tuple[int, ...],
        activation: str,
        init_std: float,
        output_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if not init_std > 0.0 or not output_scale >= 0.0:
            raise ValueError(f"init_std must be > 0 and init_output_scale >= 0. Got {init_std} and {output_scale}.")
        self.mean = mlp(obs_dim, act_dim, hidden, activation)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        if output_scale != 1.0:
            with torch.no_grad():
                last = self.mean[-1]
                assert isinstance(last, nn.Linear)
                last.weight.mul_(output_scale)
                last.bias.mul_(output_scale)

    def distribution(self, obs: torch.Tensor) -> Normal:  # obs: (N, obs_dim)
        return Normal(self.mean(obs), self.log_std.exp().expand(obs.shape[0], -1))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean)."""
        return self.mean(obs)


class CategoricalActor(nn.Module):
    """Categorical over ``n_actions`` discrete actions (PPO on Discrete action spaces: gridworlds, Overcooked)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.logits = mlp(obs_dim, n_actions, hidden, activation)
        with torch.no_grad():  # near-uniform initial policy, as CleanRL's 0.01-gain output layer
            last = self.logits[-1]
            assert isinstance(last, nn.Linear)
            last.weight.mul_(0.01)
            last.bias.zero_()

    def distribution(self, obs: torch.Tensor) -> Categorical:  # obs: (N, obs_dim)
        return Categorical(logits=self.logits(obs))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action: the most likely index ``(N,)``."""
        return self.logits(obs).argmax(-1)


class SquashedGaussianActor(nn.Module):
    """tanh-squashed Gaussian scaled to the action box (SAC, Haarnoja et al. 2018, appendix C)."""

    scale: torch.Tensor
    bias: torch.Tensor

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: tuple[int, ...],
        activation: str,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
    ) -> None:
        super().__init__()
        self.net = mlp(obs_dim, 2 * act_dim, hidden, activation)
        self.register_buffer("scale", (action_high - action_low) / 2)
        self.register_buffer("bias", (action_high + action_low) / 2)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterized action ``(N, act_dim)`` and its log-probability ``(N,)``."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(-5.0, 2.0)
        std = log_std.exp()
        pre = mean + std * torch.randn_like(mean)
        squashed = torch.tanh(pre)
        # log pi(a|s) = log N(u) - sum log(scale * (1 - tanh(u)^2))   (eq. 21)
        log_prob = Normal(mean, std).log_prob(pre) - torch.log(self.scale * (1 - squashed.pow(2)) + 1e-6)
        return squashed * self.scale + self.bias, log_prob.sum(-1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action: the squashed mean."""
        mean, _ = self.net(obs).chunk(2, dim=-1)
        return torch.tanh(mean) * self.scale + self.bias


class TwinQ(nn.Module):
    """Two Q networks (clipped double Q)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, 1, hidden, activation)
        self.q2 = mlp(obs_dim + act_dim, 1, hidden, activation)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, act], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)

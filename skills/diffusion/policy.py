"""Goal-conditioned action-chunk policies trained from demonstrations: a BESO-style score-based diffusion policy and a
plain behavior-cloning MLP baseline with the same inputs and outputs.

Inputs: the last ``obs_history`` rows of the env's ``policy`` observation with the goal taken out (``goal_slice``),
and the goal. Output: a chunk of ``horizon`` actions in the env's action space; a
:class:`ChunkController` executes the first ``action_steps`` of each chunk and then plans again (receding horizon).
Observations and goals are standardized with statistics of the training data, stored in the module's buffers, so a
checkpoint is self-contained.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ember.skills.diffusion.edm import EDM, SAMPLERS, sample


@dataclass
class PolicyConfig:
    kind: str = "beso"
    """beso (score-based diffusion) or bc (MLP regression)."""
    obs_dim: int = 0
    """Observation size without the goal (set from the data)."""
    goal_dim: int = 0
    """Goal size (set from the data)."""
    action_dim: int = 0
    """Action size (set from the data)."""
    obs_history: int = 2
    """Observation rows the policy sees (the current one last)."""
    horizon: int = 8
    """Actions per predicted chunk."""
    action_steps: int = 4
    """Actions of a chunk executed before planning again."""
    hidden: int = 256
    """Width of the residual MLP."""
    blocks: int = 3
    """Residual blocks."""
    goal_dropout: float = 0.1
    """Probability of training without the goal (classifier-free guidance)."""
    sigma_data: float = 0.5
    sigma_min: float = 0.001
    sigma_max: float = 1.0
    rho: float = 3.0
    steps: int = 3
    """Denoising steps at run time (any number works: the noise levels are continuous)."""
    sampler: str = "euler"
    guidance: float = 1.0
    """Classifier-free guidance scale: 1 uses the goal-conditioned model alone, 0 the goal-free one."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What the trainer records about the data (task, goal_slice, ...)."""


class ResidualMLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))
            for _ in range(blocks)
        )
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, out_dim))

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


class FourierEmbedding(nn.Module):
    """Random Fourier features of the scalar noise conditioning ``c_noise``."""

    def __init__(self, dim: int = 16, scale: float = 4.0) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.randn(dim // 2, generator=torch.Generator().manual_seed(0)) * scale)

    def forward(self, c: Tensor) -> Tensor:
        angle = 2 * math.pi * c.reshape(-1, 1) * self.freqs.reshape(1, -1)
        return torch.cat([angle.cos(), angle.sin()], dim=-1)


class ChunkPolicy(nn.Module):
    """Both policy kinds; ``cfg.kind`` chooses the head."""

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        if cfg.kind not in ("beso", "bc"):
            raise ValueError(f"policy kind must be 'beso' or 'bc'; got {cfg.kind!r}")
        if cfg.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}; got {cfg.sampler!r}")
        if not 1 <= cfg.action_steps <= cfg.horizon:
            raise ValueError(f"action_steps must be in 1..horizon={cfg.horizon}; got {cfg.action_steps}")
        self.cfg = cfg
        self.edm = EDM(cfg.sigma_data, cfg.sigma_min, cfg.sigma_max, cfg.rho)
        cond = cfg.obs_history * cfg.obs_dim + cfg.goal_dim + 1  # + goal-present flag
        chunk = cfg.horizon * cfg.action_dim
        self.register_buffer("obs_mean", torch.zeros(cfg.obs_dim))
        self.register_buffer("obs_std", torch.ones(cfg.obs_dim))
        self.register_buffer("goal_mean", torch.zeros(cfg.goal_dim))
        self.register_buffer("goal_std", torch.ones(cfg.goal_dim))
        if cfg.kind == "beso":
            self.embed = FourierEmbedding()
            self.net = ResidualMLP(chunk + cond + 16, chunk, cfg.hidden, cfg.blocks)
        else:
            self.net = ResidualMLP(cond, chunk, cfg.hidden, cfg.blocks)

    # ------------------------------------------------------------------ conditioning
    def set_normalizer(self, obs: Tensor, goal: Tensor) -> None:
        """Standardize with the statistics of training rows ``obs`` (N, obs_dim) and ``goal`` (N, goal_dim)."""
        self.obs_mean.copy_(obs.mean(0))
        self.obs_std.copy_(obs.std(0).clamp_min(1e-3))
        self.goal_mean.copy_(goal.mean(0))
        self.goal_std.copy_(goal.std(0).clamp_min(1e-3))

    def condition(self, obs: Tensor, goal: Tensor, goal_mask: Tensor) -> Tensor:
        """``obs`` (B, history, obs_dim), ``goal`` (B, goal_dim), ``goal_mask`` (B,) 1 = goal given."""
        o = ((obs - self.obs_mean) / self.obs_std).flatten(1)
        g = (goal - self.goal_mean) / self.goal_std * goal_mask.reshape(-1, 1)
        return torch.cat([o, g, goal_mask.reshape(-1, 1)], dim=-1)

    def denoise(self, x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        """EDM-preconditioned denoiser ``D(x; sigma, cond)`` on flattened chunks ``x`` (B, horizon * action_dim)."""
        c_skip, c_out, c_in, c_noise = (c.reshape(-1, 1) for c in self.edm.scalings(sigma))
        f = self.net(torch.cat([c_in * x, cond, self.embed(c_noise)], dim=-1))
        return c_skip * x + c_out * f

    # ------------------------------------------------------------------ training
    def loss(self, obs: Tensor, goal: Tensor, actions: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Training loss on a batch: obs (B, history, obs_dim), goal (B, goal_dim), actions (B, horizon, action_dim)."""
        batch = obs.shape[0]
        keep = (torch.rand(batch, generator=generator) >= self.cfg.goal_dropout).float()
        cond = self.condition(obs, goal, keep)
        x0 = actions.flatten(1)
        if self.cfg.kind == "bc":
            return ((self.net(cond) - x0) ** 2).mean()
        sigma = self.edm.train_sigmas(batch, generator)
        noisy = x0 + torch.randn(x0.shape, generator=generator) * sigma.reshape(-1, 1)
        weight = (sigma**2 + self.cfg.sigma_data**2) / (sigma * self.cfg.sigma_data) ** 2
        return (weight.reshape(-1, 1) * (self.denoise(noisy, sigma, cond) - x0) ** 2).mean()

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def predict(
        self,
        obs: Tensor,
        goal: Tensor,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """An action chunk (B, horizon, action_dim) for obs (B, history, obs_dim) and goal (B, goal_dim)."""
        cfg = self.cfg
        batch = obs.shape[0]
        ones = torch.ones(batch)
        cond = self.condition(obs, goal, ones)
        if cfg.kind == "bc":
            out = self.net(cond)
        else:
            scale = cfg.guidance if guidance is None else guidance
            free = self.condition(obs, goal, torch.zeros(batch)) if scale != 1.0 else None

            def denoise(x: Tensor, sigma: Tensor) -> Tensor:
                conditioned = self.denoise(x, sigma, cond)
                if free is None:
                    return conditioned
                unconditioned = self.denoise(x, sigma, free)
                return unconditioned + scale * (conditioned - unconditioned)

            shape = (batch, cfg.horizon * cfg.action_dim)
            out = sample(denoise, shape, self.edm, steps or cfg.steps, sampler or cfg.sampler, generator)
        return out.reshape(batch, cfg.horizon, cfg.action_dim).clamp(-1.0, 1.0)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"config": asdict(self.cfg), "state": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> ChunkPolicy:
        policy = cls(PolicyConfig(**data["config"]))
        policy.load_state_dict(data["state"])
        return policy.eval()


class ChunkController:
    """Run a :class:`ChunkPolicy` on a vectorized env's ``policy`` rows: keeps each env's observation history and
    action queue, plans a new chunk when a queue runs dry (receding horizon).

    Args:
        policy: the trained policy.
        num_envs: env rows.
        goal_slice: where the goal sits in a ``policy`` row.
        steps, sampler, guidance: sampling overrides (None: the policy's own).
        seed: seed of the sampling noise.
    """

    def __init__(
        self,
        policy: ChunkPolicy,
        num_envs: int,
        goal_slice: slice,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        seed: int = 0,
    ) -> None:
        self.policy, self.num_envs, self.goal_slice = policy, num_envs, goal_slice
        self.steps, self.sampler, self.guidance = steps, sampler, guidance
        self.generator = torch.Generator().manual_seed(seed)
        h = policy.cfg.obs_history
        self.history: list[deque[Tensor]] = [deque(maxlen=h) for _ in range(num_envs)]
        self.queue: list[deque[Tensor]] = [deque() for _ in range(num_envs)]
        self.chunk_times: list[float] = []
        """Wall time of each chunk prediction [s] (latency figures)."""

    def split(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """``(observation without the goal, goal)`` of ``policy`` rows."""
        idx = torch.arange(rows.shape[-1])
        goal_idx = idx[self.goal_slice]
        keep = torch.ones(rows.shape[-1], dtype=torch.bool)
        keep[goal_idx] = False
        return rows[..., keep], rows[..., goal_idx]

    def reset(self, env_ids: list[int] | Any, rows: Tensor) -> None:
        for i in env_ids:
            self.history[i].clear()
            self.queue[i].clear()

    def act(self, rows: Tensor) -> Tensor:
        import time

        rows = rows.detach().float().cpu()
        obs, goal = self.split(rows)
        for i in range(self.num_envs):
            hist = self.history[i]
            hist.append(obs[i])
            while len(hist) < hist.maxlen:  # type: ignore[operator]
                hist.appendleft(obs[i])
        need = [i for i in range(self.num_envs) if not self.queue[i]]
        if need:
            start = time.perf_counter()
            chunk = self.policy.predict(
                torch.stack([torch.stack(list(self.history[i])) for i in need]),
                goal[need],
                self.steps,
                self.sampler,
                self.guidance,
                self.generator,
            )
            self.chunk_times.append(time.perf_counter() - start)
            for j, i in enumerate(need):
                self.queue[i].extend(chunk[j, : self.policy.cfg.action_steps])
        return torch.stack([self.queue[i].popleft() for i in range(self.num_envs)])

"""Goal-conditioned action-chunk policies trained from demonstrations: a BESO-style score-based diffusion policy and a
plain behavior-cloning MLP baseline with the same inputs and outputs.

Inputs: the last ``obs_history`` rows of the env's ``policy`` observation, turned into (observation features, goal
features) by the function named in ``features`` (``raw``: the row without the goal, and the goal at ``goal_slice``;
a task may register a function that expresses positions relative to the object, which generalizes across layouts
from few demonstrations). Output: a chunk of ``horizon`` actions in the env's action space; a
:class:`ChunkController` executes the first ``action_steps`` of each chunk and then plans again (receding horizon).
Features are standardized with statistics of the training data, stored in the module's buffers, so a checkpoint is
self-contained.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from ember.skills.diffusion.edm import EDM, SAMPLERS, sample

FEATURES: dict[str, str] = {
    "push_obstacle": "ember.sims.pybullet.tabletop_env:push_obstacle_features",
}
"""Feature functions by name, beside ``raw``: ``f(rows) -> (obs, goal)``, or ``(obs, goal, frame)`` where ``frame``
(..., 2) is the (cos, sin) of a planar frame in which the first two action dimensions (x, y) are learned (the policy
turns them back into the world frame when it acts)."""


Features = tuple[Tensor, Tensor, Tensor | None]


def feature_function(name: str, goal_slice: slice) -> Callable[[Tensor], Features]:
    """The function mapping ``policy`` rows (..., row_dim) to ``(observation features, goal features, action frame
    or None)``; resolved once per policy (a registered function is imported here, not on every call)."""
    if name == "raw":

        def raw(rows: Tensor) -> Features:
            keep = torch.ones(rows.shape[-1], dtype=torch.bool)
            keep[goal_slice] = False
            return rows[..., keep], rows[..., goal_slice], None

        return raw
    if name not in FEATURES:
        raise ValueError(f"features must be 'raw' or one of {sorted(FEATURES)}; got {name!r}")
    from ember.sims import load_class

    registered = load_class(FEATURES[name])

    def task(rows: Tensor) -> Features:
        out = registered(rows)
        return out[0], out[1], out[2] if len(out) > 2 else None

    return task


def turn_xy(actions: Tensor, frame: Tensor | None, inverse: bool = False) -> Tensor:
    """Rotate the x y dimensions of action chunks (B, H, A) by ``frame`` (B, 2) = (cos, sin) (or back)."""
    if frame is None:
        return actions
    c, s = frame[:, 0:1], frame[:, 1:2]
    if inverse:
        s = -s
    x, y = actions[..., 0], actions[..., 1]
    return torch.cat([(c * x - s * y).unsqueeze(-1), (s * x + c * y).unsqueeze(-1), actions[..., 2:]], dim=-1)


@dataclass
class PolicyConfig:
    kind: str = "beso"
    """beso (score-based diffusion) or bc (MLP regression)."""
    row_dim: int = 0
    """Size of the env's ``policy`` row (set from the data)."""
    goal_slice: list[int] = field(default_factory=lambda: [0, 0])
    """Where the goal sits in a row, [start, stop) (set from the env)."""
    action_dim: int = 0
    """Action size (set from the data)."""
    features: str = "raw"
    """How rows become (observation, goal) features: ``raw`` or a name in ``FEATURES``."""
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
    sample_steps: int = 3
    """Denoising steps at run time (any number works: the noise levels are continuous)."""
    sampler: str = "euler"
    guidance: float = 1.0
    """Classifier-free guidance scale: 1 uses the goal-conditioned model alone, 0 the goal-free one."""
    extra: dict[str, Any] = field(default_factory=dict)
    """What the trainer records about the data (task, goal_slice, ...)."""

    def check(self) -> None:
        """Refuse settings no policy can be built from, naming the field, the value and what is allowed."""
        if self.kind not in ("beso", "bc"):
            raise ValueError(f"policy kind must be 'beso' or 'bc'; got {self.kind!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {list(SAMPLERS)}; got {self.sampler!r}")
        if self.features != "raw" and self.features not in FEATURES:
            raise ValueError(f"features must be 'raw' or one of {sorted(FEATURES)}; got {self.features!r}")
        if not 1 <= self.action_steps <= self.horizon:
            raise ValueError(f"action_steps must be in 1..horizon={self.horizon}; got {self.action_steps}")
        if self.obs_history < 1 or self.sample_steps < 1 or self.hidden < 1 or self.blocks < 0:
            raise ValueError(
                f"obs_history, sample_steps and hidden must be >= 1, blocks >= 0; got {self.obs_history}, "
                f"{self.sample_steps}, {self.hidden}, {self.blocks}"
            )
        if not 0.0 <= self.goal_dropout < 1.0 or not 0 < self.sigma_min < self.sigma_max:
            raise ValueError(
                f"goal_dropout must be in [0, 1) and 0 < sigma_min < sigma_max; got {self.goal_dropout}, "
                f"{self.sigma_min}, {self.sigma_max}"
            )


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

    freqs: Tensor

    def __init__(self, dim: int = 16, scale: float = 4.0) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.randn(dim // 2, generator=torch.Generator().manual_seed(0)) * scale)

    def forward(self, c: Tensor) -> Tensor:
        angle = 2 * math.pi * c.reshape(-1, 1) * self.freqs.reshape(1, -1)
        return torch.cat([angle.cos(), angle.sin()], dim=-1)


class ChunkPolicy(nn.Module):
    """Both policy kinds; ``cfg.kind`` chooses the head."""

    obs_mean: Tensor
    obs_std: Tensor
    goal_mean: Tensor
    goal_std: Tensor

    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        cfg.check()
        self.cfg = cfg
        self.goal_slice = slice(*cfg.goal_slice)
        self.features = feature_function(cfg.features, self.goal_slice)
        self.edm = EDM(cfg.sigma_data, cfg.sigma_min, cfg.sigma_max, cfg.rho)
        obs_f, goal_f, _ = self.features(torch.zeros(1, cfg.row_dim))
        self.obs_dim, self.goal_dim = obs_f.shape[-1], goal_f.shape[-1]
        cond = cfg.obs_history * self.obs_dim + self.goal_dim + 1  # + goal-present flag
        chunk = cfg.horizon * cfg.action_dim
        self.register_buffer("obs_mean", torch.zeros(self.obs_dim))
        self.register_buffer("obs_std", torch.ones(self.obs_dim))
        self.register_buffer("goal_mean", torch.zeros(self.goal_dim))
        self.register_buffer("goal_std", torch.ones(self.goal_dim))
        if cfg.kind == "beso":
            self.embed = FourierEmbedding()
            self.net = ResidualMLP(chunk + cond + 16, chunk, cfg.hidden, cfg.blocks)
        else:
            self.net = ResidualMLP(cond, chunk, cfg.hidden, cfg.blocks)

    # ------------------------------------------------------------------ conditioning
    def set_normalizer(self, rows: Tensor) -> None:
        """Standardize with the statistics of training ``policy`` rows (N, row_dim)."""
        obs, goal, _ = self.features(rows)
        self.obs_mean.copy_(obs.mean(0))
        self.obs_std.copy_(obs.std(0).clamp_min(1e-3))
        self.goal_mean.copy_(goal.mean(0))
        self.goal_std.copy_(goal.std(0).clamp_min(1e-3))

    def encode(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Features of windows ``rows`` (B, history, row_dim), current row last, computed once: the standardized
        observation history (flat), the standardized current goal, and the current row's action frame (or None)."""
        obs, goals, frames = self.features(rows)
        o = ((obs - self.obs_mean) / self.obs_std).flatten(1)
        g = (goals[:, -1] - self.goal_mean) / self.goal_std
        return o, g, None if frames is None else frames[:, -1]

    @staticmethod
    def condition(o: Tensor, g: Tensor, goal_mask: Tensor) -> Tensor:
        """The conditioning vector; ``goal_mask`` (B,) is 1 where the goal is given, 0 where it is dropped."""
        return torch.cat([o, g * goal_mask.reshape(-1, 1), goal_mask.reshape(-1, 1)], dim=-1)

    def denoise(self, x: Tensor, sigma: Tensor, cond: Tensor) -> Tensor:
        """EDM-preconditioned denoiser ``D(x; sigma, cond)`` on flattened chunks ``x`` (B, horizon * action_dim)."""
        c_skip, c_out, c_in, c_noise = (c.reshape(-1, 1) for c in self.edm.scalings(sigma))
        f = self.net(torch.cat([c_in * x, cond, self.embed(c_noise)], dim=-1))
        return c_skip * x + c_out * f

    # ------------------------------------------------------------------ training
    def loss(self, rows: Tensor, actions: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Training loss on a batch: rows (B, history, row_dim), actions (B, horizon, action_dim)."""
        batch = rows.shape[0]
        keep = (torch.rand(batch, generator=generator) >= self.cfg.goal_dropout).float()
        o, g, frame = self.encode(rows)
        cond = self.condition(o, g, keep)
        x0 = turn_xy(actions, frame, inverse=True).flatten(1)
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
        rows: Tensor,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """An action chunk (B, horizon, action_dim) for rows (B, history, row_dim)."""
        cfg = self.cfg
        batch = rows.shape[0]
        o, g, frame = self.encode(rows)
        cond = self.condition(o, g, torch.ones(batch))
        if cfg.kind == "bc":
            out = self.net(cond)
        else:
            scale = cfg.guidance if guidance is None else guidance
            free = self.condition(o, g, torch.zeros(batch)) if scale != 1.0 else None

            def denoise(x: Tensor, sigma: Tensor) -> Tensor:
                conditioned = self.denoise(x, sigma, cond)
                if free is None:
                    return conditioned
                unconditioned = self.denoise(x, sigma, free)
                return unconditioned + scale * (conditioned - unconditioned)

            shape = (batch, cfg.horizon * cfg.action_dim)
            out = sample(denoise, shape, self.edm, steps or cfg.sample_steps, sampler or cfg.sampler, generator)
        chunk = turn_xy(out.reshape(batch, cfg.horizon, cfg.action_dim), frame)
        return chunk.clamp(-1.0, 1.0)

    def to_checkpoint(self) -> dict[str, Any]:
        return {"config": asdict(self.cfg), "state": self.state_dict()}

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> ChunkPolicy:
        known = {f.name for f in fields(PolicyConfig)}
        unknown = sorted(set(data["config"]) - known)
        if unknown:
            raise ValueError(f"policy config has unknown fields {unknown}; it was written by another version")
        policy = cls(PolicyConfig(**data["config"]))
        policy.load_state_dict(data["state"])
        return policy.eval()


class ChunkController:
    """Run a :class:`ChunkPolicy` on a vectorized env's ``policy`` rows: keeps each env's observation history and
    action queue, plans a new chunk when a queue runs dry (receding horizon).

    Args:
        policy: the trained policy.
        num_envs: env rows.
        steps, sampler, guidance: sampling overrides (None: the policy's own).
        seed: seed of the sampling noise.
    """

    def __init__(
        self,
        policy: ChunkPolicy,
        num_envs: int,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        seed: int = 0,
    ) -> None:
        if sampler is not None and sampler not in SAMPLERS:
            raise ValueError(f"sampler={sampler!r} is unknown; choose one of {list(SAMPLERS)} (null: the policy's own)")
        self.policy, self.num_envs = policy, num_envs
        self.steps, self.sampler, self.guidance = steps, sampler, guidance
        self.generator = torch.Generator().manual_seed(seed)
        h = policy.cfg.obs_history
        self.history: list[deque[Tensor]] = [deque(maxlen=h) for _ in range(num_envs)]
        self.queue: list[deque[Tensor]] = [deque() for _ in range(num_envs)]
        self.chunk_times: list[float] = []
        """Wall time of each chunk prediction [s] (latency figures)."""

    def reset(self, env_ids: list[int] | Any, rows: Tensor) -> None:
        for i in env_ids:
            self.history[i].clear()
            self.queue[i].clear()

    def act(self, rows: Tensor) -> Tensor:
        rows = rows.detach().float().cpu()
        for i in range(self.num_envs):
            hist = self.history[i]
            hist.append(rows[i])
            while len(hist) < hist.maxlen:  # type: ignore[operator]
                hist.appendleft(rows[i])
        need = [i for i in range(self.num_envs) if not self.queue[i]]
        if need:
            start = time.perf_counter()
            chunk = self.policy.predict(
                torch.stack([torch.stack(list(self.history[i])) for i in need]),
                self.steps,
                self.sampler,
                self.guidance,
                self.generator,
            )
            self.chunk_times.append(time.perf_counter() - start)
            for j, i in enumerate(need):
                self.queue[i].extend(chunk[j, : self.policy.cfg.action_steps])
        return torch.stack([self.queue[i].popleft() for i in range(self.num_envs)])

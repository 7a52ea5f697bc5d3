"""Score-based diffusion in the EDM formulation (Karras et al. 2022), as BESO uses it for actions.

The denoiser ``D(x; sigma) = c_skip(sigma) x + c_out(sigma) F(c_in(sigma) x, c_noise(sigma), cond)`` is trained with
noise levels drawn continuously (log-normal), so the sampler is decoupled from training: any number of steps, any
schedule. Samplers: ``euler`` (the probability-flow ODE; for this variance-exploding form it is exactly DDIM),
``heun`` (EDM's second-order step) and ``ancestral`` (Euler with fresh noise, a stochastic sampler).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""``D(x, sigma)``: the denoised estimate of ``x`` at noise levels ``sigma`` (shape ``(B,)``)."""

SAMPLERS = ("euler", "ddim", "heun", "ancestral")


@dataclass(frozen=True)
class EDM:
    sigma_data: float = 0.5
    """Std of the (normalized) data."""
    sigma_min: float = 0.002
    """Smallest noise level of the sampling schedule."""
    sigma_max: float = 80.0
    """Largest noise level of the sampling schedule (the prior's std)."""
    rho: float = 7.0
    """Karras schedule curvature."""
    p_mean: float = -1.2
    """Mean of log sigma during training."""
    p_std: float = 1.2
    """Std of log sigma during training."""

    def scalings(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(c_skip, c_out, c_in, c_noise)`` for noise levels ``sigma``."""
        sd2 = self.sigma_data**2
        total = sigma**2 + sd2
        return sd2 / total, sigma * self.sigma_data / total.sqrt(), 1.0 / total.sqrt(), sigma.log() / 4.0

    def train_sigmas(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return (torch.randn(n, generator=generator) * self.p_std + self.p_mean).exp()

    def schedule(self, steps: int) -> Tensor:
        """Karras noise levels from ``sigma_max`` down to ``sigma_min``, then 0: ``steps + 1`` values."""
        if steps < 1:
            raise ValueError(f"denoising steps must be >= 1; got {steps}")
        if steps == 1:
            return torch.tensor([self.sigma_max, 0.0])
        ramp = torch.linspace(0, 1, steps)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        return torch.cat([(hi + ramp * (lo - hi)) ** self.rho, torch.zeros(1)])


def sample(
    denoise: Denoiser,
    shape: tuple[int, ...],
    edm: EDM,
    steps: int,
    sampler: str = "euler",
    generator: torch.Generator | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """Draw samples of ``shape`` by integrating from the prior ``N(0, sigma_max^2)`` down to noise level 0."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}; got {sampler!r}")
    sigmas = edm.schedule(steps)
    x = (torch.randn(shape, generator=generator) if noise is None else noise) * sigmas[0]
    batch = shape[0]
    for i in range(steps):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        denoised = denoise(x, torch.full((batch,), s))
        if sampler == "ancestral" and s_next > 0:
            # Euler-ancestral (k-diffusion): step to sigma_down, then add noise back up to sigma_next.
            up = min(s_next, math.sqrt(max(s_next**2 * (s**2 - s_next**2) / s**2, 0.0)))
            down = math.sqrt(s_next**2 - up**2)
            x = denoised + (x - denoised) * (down / s)
            x = x + torch.randn(shape, generator=generator) * up
            continue
        d = (x - denoised) / s
        x_next = x + (s_next - s) * d  # Euler on the probability-flow ODE == DDIM for this parameterization
        if sampler == "heun" and s_next > 0:
            d_next = (x_next - denoise(x_next, torch.full((batch,), s_next))) / s_next
            x_next = x + (s_next - s) * (d + d_next) / 2
        x = x_next
    return x


def mixture_denoiser(means: Tensor, stds: Tensor, weights: Tensor) -> Denoiser:
    """The exact denoiser ``E[x0 | x]`` of a 1-D Gaussian mixture under noise ``sigma`` (for testing samplers)."""

    def denoise(x: Tensor, sigma: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        s2 = sigma.reshape(-1, 1, 1) ** 2
        var = stds.reshape(1, 1, -1) ** 2 + s2
        log_p = -0.5 * (flat.unsqueeze(-1) - means.reshape(1, 1, -1)) ** 2 / var - 0.5 * var.log()
        resp = torch.softmax(log_p + weights.log().reshape(1, 1, -1), dim=-1)
        post = (means.reshape(1, 1, -1) * s2 + flat.unsqueeze(-1) * stds.reshape(1, 1, -1) ** 2) / var
        return (resp * post).sum(-1).reshape(x.shape)

    return denoise

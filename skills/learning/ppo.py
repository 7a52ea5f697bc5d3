"""Asymmetric PPO: clipped surrogate, GAE, adaptive-KL learning rate, observation normalization (Schulman et al.
2017; the adaptive schedule as in rsl_rl), on batched envs.

The actor (a diagonal Gaussian for Box actions ``(N, act_dim)``, a categorical for Discrete ones, actions ``(N,)``
int64 indices) reads the ``policy`` group, the value function the ``critic`` group (``policy`` when absent). Verbs
as in rsl_rl: ``act``, ``process_env_step``, ``compute_returns``, ``update``, ``state_dict``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ember.skills.learning import distributed
from ember.skills.learning.networks import CategoricalActor, GaussianActor, mlp
from ember.skills.learning.normalizer import Moments, RunningNorm
from ember.skills.learning.storage import RolloutStorage

Obs = dict[str, torch.Tensor]


class PPO:
    """Args:
    policy_dim, critic_dim, act_dim: sizes of the actor input, critic input and action (the number of actions when
        ``discrete``).
    discrete: categorical actor over ``act_dim`` actions instead of a Gaussian.
    num_envs: batch size of the env.
    num_steps: steps per env per rollout.
    hidden, activation: actor and critic MLPs.
    init_std: initial action std.
    init_output_scale: factor on the Gaussian actor's initial output layer (0: a zero mean action at first, for a
        residual policy that starts as its base controller; 1: PyTorch's default init).
    lr: initial Adam learning rate (then adapted to ``desired_kl``).
    critic_lr: the critic's own fixed learning rate (None: the critic shares the actor's, adapted with it). A policy
        that must move slowly (a residual on a good base) still gets a critic that learns at a normal pace.
    gamma, lam: discount and GAE lambda.
    clip: surrogate clip range (eq. 7).
    epochs, num_minibatches: passes and minibatches per update.
    value_coef, entropy_coef: loss weights.
    desired_kl: KL target of the adaptive learning rate (None: fixed lr).
    max_grad_norm: gradient clipping.
    normalize_obs: keep running normalizers of both groups.
    critic_warmup: updates at the start in which only the critic learns and the actor is held: a residual policy's
        burn-in (Silver et al. 2018), so an untrained critic's advantages do not move it away from its base.
    seed: torch seed.
    """

    def __init__(
        self,
        policy_dim: int,
        critic_dim: int,
        act_dim: int,
        num_envs: int,
        num_steps: int = 32,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "elu",
        init_std: float = 1.0,
        init_output_scale: float = 1.0,
        lr: float = 1e-3,
        critic_lr: float | None = None,
        gamma: float = 0.99,
        lam: float = 0.95,
        clip: float = 0.2,
        epochs: int = 5,
        num_minibatches: int = 4,
        value_coef: float = 1.0,
        entropy_coef: float = 0.0,
        desired_kl: float | None = 0.01,
        max_grad_norm: float = 1.0,
        normalize_obs: bool = True,
        critic_warmup: int = 0,
        seed: int = 0,
        discrete: bool = False,
    ) -> None:
        torch.manual_seed(seed)
        self.discrete = discrete
        self.actor: GaussianActor | CategoricalActor
        if discrete:
            self.actor = CategoricalActor(policy_dim, act_dim, tuple(hidden), activation)
        else:
            self.actor = GaussianActor(policy_dim, act_dim, tuple(hidden), activation, init_std, init_output_scale)
        self.critic = mlp(critic_dim, 1, tuple(hidden), activation)
        if critic_lr is None:
            self.optimizer = torch.optim.Adam([*self.actor.parameters(), *self.critic.parameters()], lr=lr)
        else:  # group 0 (the actor) follows the adaptive schedule, group 1 (the critic) keeps critic_lr
            groups: list[dict[str, Any]] = [
                {"params": list(self.actor.parameters())},
                {"params": list(self.critic.parameters()), "lr": critic_lr},
            ]
            self.optimizer = torch.optim.Adam(groups, lr=lr)
        # A discrete action is stored as one float column (its index); mu/sigma are unused for it.
        self.storage = RolloutStorage(num_steps, num_envs, policy_dim, critic_dim, 1 if discrete else act_dim)
        self.policy_norm = RunningNorm(policy_dim) if normalize_obs else None
        self.critic_norm = RunningNorm(critic_dim) if normalize_obs else None
        self.lr, self.gamma, self.lam, self.clip = lr, gamma, lam, clip
        self.epochs, self.num_minibatches = epochs, num_minibatches
        self.value_coef, self.entropy_coef = value_coef, entropy_coef
        self.desired_kl, self.max_grad_norm = desired_kl, max_grad_norm
        self.generator = torch.Generator().manual_seed(seed)
        self.env_steps = 0
        self.critic_warmup, self.updates = critic_warmup, 0
        self._pending: dict[str, torch.Tensor] = {}
        # Data-parallel ranks (torchrun) start from rank 0's networks and keep their normalizers in step.
        distributed.broadcast_parameters([*self.actor.parameters(), *self.critic.parameters()])
        self._norm_base: dict[str, Moments] = {}
        self._reset_norm_base()

    def _reset_norm_base(self) -> None:
        """torchrun: take the normalizers' current state as what all ranks share (the base each step's pending
        moments merge into); after construction and after loading a state."""
        self._norm_base = {}
        if distributed.active():
            for key, norm in self._norms().items():
                norm.start_pending()
                self._norm_base[key] = (norm.mean.clone(), norm.var.clone(), norm.count.clone())

    def _norms(self) -> dict[str, RunningNorm]:
        return {
            k: n for k, n in (("policy", self.policy_norm), ("critic", self.critic_norm)) if n is not None
        }  # fmt: skip

    def _norm(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor]:
        policy, critic = obs["policy"], obs.get("critic", obs["policy"])
        if self.policy_norm is not None and self.critic_norm is not None:
            return self.policy_norm(policy), self.critic_norm(critic)
        return policy, critic

    # ------------------------------------------------------------------ verbs
    @torch.no_grad()
    def act(self, obs: Obs, deterministic: bool = False) -> torch.Tensor:
        if deterministic:
            policy = self.policy_norm(obs["policy"]) if self.policy_norm is not None else obs["policy"]
            return self.actor(policy)
        policy, critic = self._norm(obs)
        dist = self.actor.distribution(policy)
        actions = dist.sample()
        if self.discrete:
            stored, log_probs = actions.unsqueeze(-1).float(), dist.log_prob(actions)
            mu = sigma = torch.zeros_like(stored)
        else:
            stored, log_probs = actions, dist.log_prob(actions).sum(-1)
            mu, sigma = dist.mean, dist.stddev
        self._pending = {
            "policy": policy,
            "critic": critic,
            "actions": stored,
            "log_probs": log_probs,
            "mu": mu,
            "sigma": sigma,
            "values": self.critic(critic).squeeze(-1),
        }
        return actions

    @torch.no_grad()
    def process_env_step(
        self,
        next_obs: Obs,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        extras: dict[str, Any],
    ) -> None:
        reward = reward.clone().float()
        if truncated.any():
            # Bootstrap time-outs (the episode did not really end) from the final observation's value, or, for envs
            # that give none (Isaac Lab), from the value of the last observation, as rsl_rl does.
            if "final_obs" in extras:
                _, final_critic = self._norm(extras["final_obs"])
                bootstrap = self.critic(final_critic).squeeze(-1)
            else:
                bootstrap = self._pending["values"]
            reward = reward + self.gamma * bootstrap * truncated.float()
        self.storage.add(**self._pending, rewards=reward, dones=(terminated | truncated).float())
        if self.policy_norm is not None and self.critic_norm is not None:
            self.policy_norm.update(next_obs["policy"])
            self.critic_norm.update(next_obs.get("critic", next_obs["policy"]))
            self._sync_norms()
        self.env_steps += reward.shape[0]

    def rollout_full(self) -> bool:
        return self.storage.step >= self.storage.num_steps

    @torch.no_grad()
    def compute_returns(self, last_obs: Obs) -> None:
        _, critic = self._norm(last_obs)
        self.storage.compute_returns(self.critic(critic).squeeze(-1), self.gamma, self.lam)

    def _sync_norms(self) -> None:
        """torchrun: merge what every rank's normalizers saw this step, so all ranks normalize alike (as one process
        seeing every rank's envs would)."""
        for key in self._norm_base:  # empty in a single process
            self._norm_base[key] = distributed.sync_norm(self._norms()[key], self._norm_base[key])

    def update(self) -> dict[str, float]:
        adv = self.storage.advantages
        adv_mean, adv_std = distributed.global_moments(adv)  # over all ranks' rollouts, as if they were one batch
        self.storage.advantages = (adv - adv_mean) / (adv_std + 1e-8)
        stats = {"loss/surrogate": 0.0, "loss/value": 0.0, "kl": 0.0, "entropy": 0.0}
        count = 0
        warmup = self.updates < self.critic_warmup  # the critic alone: the actor's parameters get no gradient
        for _ in range(self.epochs):
            for b in self.storage.minibatches(self.num_minibatches, self.generator):
                dist = self.actor.distribution(b["policy"])
                if self.discrete:
                    log_probs = dist.log_prob(b["actions"].squeeze(-1).long())
                    entropy = dist.entropy()
                    with torch.no_grad():  # KL(old || new) estimated from the sampled actions (Schulman's k3)
                        log_ratio = log_probs - b["log_probs"]
                        kl = (log_ratio.exp() - 1 - log_ratio).mean()
                else:
                    log_probs = dist.log_prob(b["actions"]).sum(-1)
                    entropy = dist.entropy().sum(-1)
                    assert isinstance(dist, torch.distributions.Normal)
                    kl = self._gaussian_kl(dist, b)
                kl = distributed.mean(kl)  # every rank adapts its learning rate alike
                if self.desired_kl is not None and not warmup:
                    if kl > 2 * self.desired_kl:
                        self.lr = max(1e-5, self.lr / 1.5)
                    elif 0 < kl < self.desired_kl / 2:
                        self.lr = min(1e-2, self.lr * 1.5)
                    self.optimizer.param_groups[0]["lr"] = self.lr  # all parameters, or the actor's with critic_lr
                ratio = torch.exp(log_probs - b["log_probs"])
                surrogate = -torch.min(
                    ratio * b["advantages"], ratio.clamp(1 - self.clip, 1 + self.clip) * b["advantages"]
                ).mean()
                values = self.critic(b["critic"]).squeeze(-1)
                value_loss = (b["returns"] - values).pow(2).mean()
                if warmup:
                    loss = self.value_coef * value_loss
                else:
                    loss = surrogate + self.value_coef * value_loss - self.entropy_coef * entropy.mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                distributed.average_gradients([*self.actor.parameters(), *self.critic.parameters()])
                nn.utils.clip_grad_norm_([*self.actor.parameters(), *self.critic.parameters()], self.max_grad_norm)
                self.optimizer.step()
                stats["loss/surrogate"] += surrogate.item()
                stats["loss/value"] += value_loss.item()
                stats["kl"] += float(kl)
                stats["entropy"] += entropy.detach().mean().item()
                count += 1
        self.storage.clear()
        self.updates += 1
        out = {**{k: v / count for k, v in stats.items()}, "lr": self.lr}
        if isinstance(self.actor, GaussianActor):
            out["std"] = self.actor.log_std.exp().mean().item()
        return out

    @staticmethod
    @torch.no_grad()
    def _gaussian_kl(dist: torch.distributions.Normal, b: dict[str, torch.Tensor]) -> torch.Tensor:
        """KL(old || new) of diagonal Gaussians, for the adaptive learning rate."""
        return (
            (
                torch.log(dist.stddev / b["sigma"])
                + (b["sigma"].pow(2) + (b["mu"] - dist.mean).pow(2)) / (2 * dist.stddev.pow(2))
                - 0.5
            )
            .sum(-1)
            .mean()
        )

    @torch.no_grad()
    def value(self, obs: Obs) -> torch.Tensor:
        """Critic's state value ``(N,)`` (reported in skill outcomes)."""
        _, critic = self._norm(obs)
        return self.critic(critic).squeeze(-1)

    # ------------------------------------------------------------------ env runners (ember.skills.learning.runners)
    def runner_weights(self) -> dict[str, Any]:
        """What an env runner's copy needs to act and to compute GAE: networks and normalizers."""
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "policy_norm": self.policy_norm.state_dict() if self.policy_norm else None,
            "critic_norm": self.critic_norm.state_dict() if self.critic_norm else None,
        }

    def load_runner_weights(self, weights: dict[str, Any]) -> None:
        self.actor.load_state_dict(weights["actor"])
        self.critic.load_state_dict(weights["critic"])
        for key, norm in self._norms().items():
            norm.load_state_dict(weights[f"{key}_norm"])
            norm.start_pending()

    def export_batch(self, last_obs: Obs) -> dict[str, Any]:
        """A runner's side: GAE on the collected rollout with this copy's critic, then the rollout and the moments of
        the observations its normalizers saw, for :meth:`ingest`; the storage is emptied."""
        self.compute_returns(last_obs)
        batch: dict[str, Any] = {"rollout": self.storage.export()}
        batch["obs_moments"] = {k: n.take_pending() for k, n in self._norms().items()}
        self.storage.clear()
        return batch

    def ingest(self, batches: list[dict[str, Any]]) -> None:
        """The learner's side: train the next :meth:`update` on these runners' rollouts (envs side by side) and add
        what their normalizers saw to this one's."""
        self.storage = RolloutStorage.concat([b["rollout"] for b in batches])
        self.env_steps += self.storage.num_steps * self.storage.num_envs
        for b in batches:
            for key, norm in self._norms().items():
                norm.merge(b["obs_moments"][key])

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "policy_norm": self.policy_norm.state_dict() if self.policy_norm else None,
            "critic_norm": self.critic_norm.state_dict() if self.critic_norm else None,
            "lr": self.lr,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.policy_norm is not None and state["policy_norm"] is not None:
            self.policy_norm.load_state_dict(state["policy_norm"])
        if self.critic_norm is not None and state["critic_norm"] is not None:
            self.critic_norm.load_state_dict(state["critic_norm"])
        self.lr, self.env_steps = state["lr"], state["env_steps"]
        self.updates = int(state.get("updates", self.critic_warmup))  # older checkpoints: past any warm-up
        self.generator.set_state(state["generator"])
        self._reset_norm_base()  # a resumed torchrun run merges into the loaded statistics, not the initial ones

    def policy_module(self) -> nn.Module:
        """The deterministic actor (mean), without the normalizer (export adds it)."""
        return self.actor

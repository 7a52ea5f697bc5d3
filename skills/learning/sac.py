"""Asymmetric SAC: twin Q, automatic entropy tuning ("Soft Actor-Critic Algorithms and Applications", Haarnoja et
al. 2018, algorithm 1), batched envs.

The actor sees the env's ``policy`` group, the twin Q critics the ``critic`` group (``policy`` when absent). Episodes
that end by time-out bootstrap from ``final_obs`` (only ``terminated`` cuts the return). Verbs as in rsl_rl:
``act``, ``process_env_step``, ``update``, ``state_dict``/``load_state_dict``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from ember.skills.learning import distributed
from ember.skills.learning.networks import SquashedGaussianActor, TwinQ
from ember.skills.learning.storage import ReplayBuffer

Obs = dict[str, torch.Tensor]


class SAC:
    """Args:
    policy_dim, critic_dim, act_dim: sizes of the actor input, critic input and action.
    action_low, action_high: the action box.
    hidden: hidden layer widths of actor and critics.
    activation: hidden activation.
    lr: Adam learning rate of actor, critics and temperature.
    gamma: discount.
    tau: target network Polyak rate (eq. 8's target smoothing).
    batch_size: transitions per gradient step.
    buffer_size: replay capacity [transitions].
    learning_starts: transitions collected with a uniform random policy before updates begin.
    utd_ratio: gradient steps per collected transition (update-to-data ratio).
    target_entropy: entropy target; None means ``-act_dim`` (section 5).
    init_alpha: initial temperature.
    seed: torch seed for exploration noise and sampling.
    """

    def __init__(
        self,
        policy_dim: int,
        critic_dim: int,
        act_dim: int,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
        hidden: tuple[int, ...] = (64, 64),
        activation: str = "relu",
        lr: float = 3e-3,
        gamma: float = 0.99,
        tau: float = 0.01,
        batch_size: int = 256,
        buffer_size: int = 200_000,
        learning_starts: int = 500,
        utd_ratio: float = 0.5,
        target_entropy: float | None = None,
        init_alpha: float = 0.5,
        seed: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.actor = SquashedGaussianActor(policy_dim, act_dim, tuple(hidden), activation, action_low, action_high)
        self.q = TwinQ(critic_dim, act_dim, tuple(hidden), activation)
        # Data-parallel ranks (torchrun) start from rank 0's networks and average every gradient.
        distributed.broadcast_parameters([*self.actor.parameters(), *self.q.parameters()])
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.log_alpha = torch.tensor(float(torch.log(torch.tensor(init_alpha))), requires_grad=True)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.q_opt = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=lr)
        self.target_entropy = float(-act_dim if target_entropy is None else target_entropy)
        self.gamma, self.tau, self.batch_size = gamma, tau, batch_size
        self.learning_starts, self.utd_ratio = learning_starts, utd_ratio
        self.low, self.high = action_low, action_high
        self.buffer = ReplayBuffer(buffer_size, policy_dim, critic_dim, act_dim)
        self.env_steps = 0
        self.grad_steps = 0
        self._debt = 0.0
        self._last: tuple[Obs, torch.Tensor] | None = None

    @staticmethod
    def critic_obs(obs: Obs) -> torch.Tensor:
        return obs.get("critic", obs["policy"])

    # ------------------------------------------------------------------ verbs
    @torch.no_grad()
    def act(self, obs: Obs, deterministic: bool = False) -> torch.Tensor:
        """Actions ``(N, act_dim)``; uniform random until ``learning_starts`` transitions are stored."""
        policy = obs["policy"]
        if deterministic:
            return self.actor(policy)  # evaluation: no transition to store
        if self.env_steps < self.learning_starts:
            actions = self.low + torch.rand(policy.shape[0], self.low.shape[0]) * (self.high - self.low)
        else:
            actions, _ = self.actor.sample(policy)
        self._last = (obs, actions)
        return actions

    def process_env_step(
        self,
        next_obs: Obs,
        reward: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
        extras: dict[str, Any],
    ) -> None:
        """Store the transitions of the last ``act``; finished envs store their ``final_obs`` as next state."""
        assert self._last is not None, "call act() before process_env_step()"
        obs, actions = self._last
        done = terminated | truncated
        final = extras.get("final_obs", next_obs)
        nxt_policy = torch.where(done[:, None], final["policy"], next_obs["policy"])
        nxt_critic = torch.where(done[:, None], self.critic_obs(final), self.critic_obs(next_obs))
        self.buffer.add(obs["policy"], self.critic_obs(obs), actions, reward, nxt_policy, nxt_critic, terminated)
        self.env_steps += reward.shape[0]
        self._debt += reward.shape[0] * self.utd_ratio

    def update(self) -> dict[str, float]:
        """The gradient steps owed by the collected transitions (``utd_ratio`` each)."""
        if self.env_steps < self.learning_starts or len(self.buffer) < self.batch_size:
            self._debt = 0.0
            return {}
        logs: dict[str, float] = {}
        while self._debt >= 1.0:
            logs = self._gradient_step()
            self._debt -= 1.0
        return logs

    def _gradient_step(self) -> dict[str, float]:
        b = self.buffer.sample(self.batch_size)
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_action, next_logp = self.actor.sample(b["next_policy"])
            q1_t, q2_t = self.q_target(b["next_critic"], next_action)
            # Soft Bellman target (eq. 3 with the clipped double-Q minimum).
            target = b["reward"] + self.gamma * (1 - b["terminated"]) * (torch.min(q1_t, q2_t) - alpha * next_logp)
        q1, q2 = self.q(b["critic"], b["action"])
        q_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.q_opt.zero_grad(set_to_none=True)
        q_loss.backward()
        distributed.average_gradients(self.q.parameters())
        self.q_opt.step()

        action, logp = self.actor.sample(b["policy"])
        q1_pi, q2_pi = self.q(b["critic"], action)
        actor_loss = (alpha * logp - torch.min(q1_pi, q2_pi)).mean()  # eq. 7
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        distributed.average_gradients(self.actor.parameters())
        self.actor_opt.step()

        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()  # eq. 18
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        distributed.average_gradients([self.log_alpha])
        self.alpha_opt.step()

        with torch.no_grad():
            for p, pt in zip(self.q.parameters(), self.q_target.parameters(), strict=True):
                pt.lerp_(p, self.tau)
        self.grad_steps += 1
        return {
            "loss/q": q_loss.item(),
            "loss/actor": actor_loss.item(),
            "alpha": alpha.item(),
            "entropy": -logp.detach().mean().item(),
        }

    @torch.no_grad()
    def value(self, obs: Obs, actions: torch.Tensor) -> torch.Tensor:
        """Critic's estimate ``min(Q1, Q2)`` for ``actions`` ``(N,)`` (reported in skill outcomes)."""
        q1, q2 = self.q(self.critic_obs(obs), actions)
        return torch.min(q1, q2)

    # ------------------------------------------------------------------ env runners (ember.skills.learning.runners)
    def runner_weights(self) -> dict[str, Any]:
        """What an env runner's copy needs to act: the actor, and the step count (random actions until
        ``learning_starts``)."""
        return {"actor": self.actor.state_dict(), "env_steps": self.env_steps}

    def load_runner_weights(self, weights: dict[str, Any]) -> None:
        self.actor.load_state_dict(weights["actor"])
        self.env_steps = int(weights["env_steps"])
        self.buffer.pos = self.buffer.size = 0

    def export_batch(self, last_obs: Obs) -> dict[str, Any]:
        """A runner's side: the transitions collected since the last :meth:`load_runner_weights` (its buffer must hold
        them all), for :meth:`ingest`."""
        batch = {k: v[: self.buffer.size].clone() for k, v in self.buffer.data.items()}
        self.buffer.pos = self.buffer.size = 0
        return {"transitions": batch}

    def ingest(self, batches: list[dict[str, Any]]) -> None:
        """The learner's side: store the runners' transitions; the next :meth:`update` owes ``utd_ratio`` gradient
        steps per transition."""
        for b in batches:
            t = b["transitions"]
            n = t["reward"].shape[0]
            self.buffer.add(
                t["policy"], t["critic"], t["action"], t["reward"], t["next_policy"], t["next_critic"], t["terminated"]
            )
            self.env_steps += n
            self._debt += n * self.utd_ratio

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "actor": self.actor.state_dict(),
            "q": self.q.state_dict(),
            "q_target": self.q_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_opt": self.actor_opt.state_dict(),
            "q_opt": self.q_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
            "buffer": self.buffer.state_dict(),
            "env_steps": self.env_steps,
            "grad_steps": self.grad_steps,
            "debt": self._debt,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actor.load_state_dict(state["actor"])
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.q_opt.load_state_dict(state["q_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.buffer.load_state_dict(state["buffer"])
        self.env_steps, self.grad_steps, self._debt = state["env_steps"], state["grad_steps"], state["debt"]

    def policy_module(self) -> torch.nn.Module:
        """The deterministic actor (for export)."""
        return self.actor

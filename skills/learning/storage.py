"""Storage written once for all algorithms: a replay buffer (off-policy) and rollout storage with GAE (on-policy)."""

from __future__ import annotations

from typing import Any

import torch


class ReplayBuffer:
    """Ring buffer of transitions with separate actor (``policy``) and critic observations."""

    def __init__(self, capacity: int, policy_dim: int, critic_dim: int, act_dim: int) -> None:
        self.capacity = capacity
        self.data = {
            "policy": torch.zeros(capacity, policy_dim),
            "critic": torch.zeros(capacity, critic_dim),
            "action": torch.zeros(capacity, act_dim),
            "reward": torch.zeros(capacity),
            "next_policy": torch.zeros(capacity, policy_dim),
            "next_critic": torch.zeros(capacity, critic_dim),
            "terminated": torch.zeros(capacity),
        }
        self.pos = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self,
        policy: torch.Tensor,
        critic: torch.Tensor,
        action: torch.Tensor,
        reward: torch.Tensor,
        next_policy: torch.Tensor,
        next_critic: torch.Tensor,
        terminated: torch.Tensor,
    ) -> None:
        n = reward.shape[0]
        idx = (self.pos + torch.arange(n)) % self.capacity
        for key, value in (
            ("policy", policy),
            ("critic", critic),
            ("action", action),
            ("reward", reward),
            ("next_policy", next_policy),
            ("next_critic", next_critic),
            ("terminated", terminated.float()),
        ):
            self.data[key][idx] = value.detach().float().cpu()
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        idx = torch.randint(0, self.size, (batch_size,))
        return {k: v[idx] for k, v in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"data": {k: v[: self.size].clone() for k, v in self.data.items()}, "pos": self.pos, "size": self.size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        size = state["size"]
        for k, v in state["data"].items():
            self.data[k][:size] = v
        self.pos, self.size = state["pos"], size


class RolloutStorage:
    """``num_steps x num_envs`` transitions for PPO, with GAE(lambda) returns (Schulman et al. 2016).

    Time-outs bootstrap: a truncated step's reward gets ``gamma * V(final_obs)`` added, as rsl_rl does.
    """

    def __init__(self, num_steps: int, num_envs: int, policy_dim: int, critic_dim: int, act_dim: int) -> None:
        self.num_steps, self.num_envs = num_steps, num_envs
        shape = (num_steps, num_envs)
        self.policy = torch.zeros(*shape, policy_dim)
        self.critic = torch.zeros(*shape, critic_dim)
        self.actions = torch.zeros(*shape, act_dim)
        self.log_probs = torch.zeros(shape)
        self.mu = torch.zeros(*shape, act_dim)
        self.sigma = torch.zeros(*shape, act_dim)
        self.rewards = torch.zeros(shape)
        self.dones = torch.zeros(shape)
        self.values = torch.zeros(shape)
        self.returns = torch.zeros(shape)
        self.advantages = torch.zeros(shape)
        self.step = 0

    FIELDS = ("policy", "critic", "actions", "log_probs", "mu", "sigma", "rewards", "dones", "values", "returns",
              "advantages")  # fmt: skip

    def export(self) -> dict[str, torch.Tensor]:
        """The stored rollout (``(num_steps, num_envs, ...)`` tensors), as an env runner ships it to the learner."""
        return {k: getattr(self, k)[: self.step].clone() for k in self.FIELDS}

    @classmethod
    def concat(cls, parts: list[dict[str, torch.Tensor]]) -> RolloutStorage:
        """One storage holding several runners' rollouts side by side (envs concatenated; equal ``num_steps``)."""
        steps = {p["rewards"].shape[0] for p in parts}
        if len(steps) != 1:
            raise ValueError(f"rollouts of different lengths {sorted(steps)} cannot be trained on together")
        first = parts[0]
        num_envs = sum(p["rewards"].shape[1] for p in parts)
        out = cls(
            steps.pop(), num_envs, first["policy"].shape[-1], first["critic"].shape[-1], first["actions"].shape[-1]
        )
        for key in cls.FIELDS:
            setattr(out, key, torch.cat([p[key] for p in parts], 1))
        out.step = out.num_steps
        return out

    def add(self, **fields: torch.Tensor) -> None:
        for key, value in fields.items():
            getattr(self, key)[self.step] = value.detach().float().cpu()
        self.step += 1

    def compute_returns(self, last_values: torch.Tensor, gamma: float, lam: float) -> None:
        gae = torch.zeros(self.num_envs)
        for t in reversed(range(self.num_steps)):
            next_values = last_values if t == self.num_steps - 1 else self.values[t + 1]
            not_done = 1.0 - self.dones[t]
            delta = self.rewards[t] + gamma * next_values * not_done - self.values[t]
            gae = delta + gamma * lam * not_done * gae
            self.advantages[t] = gae
        self.returns = self.advantages + self.values

    def minibatches(self, num_minibatches: int, generator: torch.Generator) -> list[dict[str, torch.Tensor]]:
        total = self.num_steps * self.num_envs
        order = torch.randperm(total, generator=generator)
        flat = {
            k: getattr(self, k).reshape(total, *getattr(self, k).shape[2:])
            for k in ("policy", "critic", "actions", "log_probs", "mu", "sigma", "values", "returns", "advantages")
        }
        size = total // num_minibatches
        return [{k: v[order[i * size : (i + 1) * size]] for k, v in flat.items()} for i in range(num_minibatches)]

    def clear(self) -> None:
        self.step = 0

"""One PPO update on a fixed batch of ``B`` envs, split over the ranks of ``torchrun`` (or all in one process).

Usage: ``torchrun --nproc_per_node=K tests/skills/dist_ppo_update.py OUT_DIR`` (or ``python ... OUT_DIR``): each
rank trains on envs ``[rank*B/K, (rank+1)*B/K)``; rank r writes ``OUT_DIR/params_r.pt`` (parameters after the
update and the first step's averaged gradient). Used by test_distributed.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ember.skills.learning import distributed
from ember.skills.learning.ppo import PPO

B, T, POLICY, CRITIC, ACT = 8, 16, 5, 7, 2


def fixed_batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    return {
        "policy": torch.randn(T, B, POLICY, generator=g),
        "critic": torch.randn(T, B, CRITIC, generator=g),
        "actions": torch.randn(T, B, ACT, generator=g),
        "rewards": torch.randn(T, B, generator=g),
        "dones": (torch.rand(T, B, generator=g) < 0.1).float(),
    }


def main(out: Path) -> None:
    distributed.init()
    rank, world = distributed.rank(), distributed.world_size()
    per = B // world
    envs = slice(rank * per, (rank + 1) * per)
    algo = PPO(POLICY, CRITIC, ACT, num_envs=per, num_steps=T, hidden=(16, 16), epochs=2, num_minibatches=1,
               desired_kl=0.01, normalize_obs=True, seed=0)  # fmt: skip
    batch = fixed_batch()
    for t in range(T):
        obs = {"policy": batch["policy"][t, envs], "critic": batch["critic"][t, envs]}
        with torch.no_grad():
            dist = algo.actor.distribution(obs["policy"])
            action = batch["actions"][t, envs]
            algo._pending = {
                "policy": obs["policy"],
                "critic": obs["critic"],
                "actions": action,
                "log_probs": dist.log_prob(action).sum(-1),
                "mu": dist.mean,
                "sigma": dist.stddev,
                "values": algo.critic(obs["critic"]).squeeze(-1),
            }
        done = batch["dones"][t, envs].bool()
        algo.process_env_step(obs, batch["rewards"][t, envs], done, torch.zeros_like(done), {})
    algo.compute_returns({"policy": batch["policy"][-1, envs], "critic": batch["critic"][-1, envs]})
    grads: list[torch.Tensor] = []
    average = distributed.average_gradients

    def record(params: list[torch.nn.Parameter]) -> None:  # the first step's averaged gradient, before Adam
        average(params)
        if not grads:
            grads.extend(p.grad.clone() for p in params if p.grad is not None)

    distributed.average_gradients = record  # type: ignore[assignment]
    algo.update()
    params = {k: v.clone() for k, v in algo.actor.state_dict().items()}
    params.update({f"critic.{k}": v.clone() for k, v in algo.critic.state_dict().items()})
    params["lr"] = torch.tensor(algo.lr)
    params["first_grad"] = torch.cat([g.reshape(-1) for g in grads])
    assert algo.policy_norm is not None
    params["norm_mean"], params["norm_count"] = algo.policy_norm.mean, algo.policy_norm.count
    torch.save(params, out / f"params_{rank}.pt")
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

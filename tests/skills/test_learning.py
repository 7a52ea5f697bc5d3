"""Asymmetric PPO and SAC on the batched torch pendulum: math checks, learning, checkpoint/resume, export."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution
from torch.distributions.transforms import AffineTransform

from ember.sims.torch_envs.pendulum import PendulumVecEnv
from ember.skills.learning.export import export_policy, load_policy
from ember.skills.learning.networks import SquashedGaussianActor
from ember.skills.learning.normalizer import RunningNorm
from ember.skills.learning.ppo import PPO
from ember.skills.learning.runner import evaluate, train
from ember.skills.learning.sac import SAC

NUM_ENVS = 8
MARGIN = 300.0
"""Mean return a trained policy must beat a random one by (pendulum returns span about -1500 to -120)."""


def _ember_train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ember.launch.cli", "train", "progress=false", *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _env(num_envs: int = NUM_ENVS, seed: int = 0) -> PendulumVecEnv:
    return PendulumVecEnv(num_envs=num_envs, seed=seed)


def _sac(seed: int = 0) -> SAC:
    return SAC(3, 4, 1, torch.tensor([-2.0]), torch.tensor([2.0]), seed=seed)


def _random_return() -> float:
    env = _env(32, seed=99)
    env.reset(seed=12345)
    total = torch.zeros(32)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        _, r, *_ = env.step(torch.rand(32, 1, generator=gen) * 4 - 2)
        total += r
    return float(total.mean())


def test_squashed_gaussian_log_prob_matches_change_of_variables() -> None:
    actor = SquashedGaussianActor(3, 1, (16,), "relu", torch.tensor([-2.0]), torch.tensor([2.0]))
    obs = torch.randn(64, 3)
    torch.manual_seed(1)
    action, logp = actor.sample(obs)
    mean, log_std = actor.net(obs).chunk(2, dim=-1)
    mean, log_std = mean[(action.abs() < 1.99).squeeze(-1)], log_std[(action.abs() < 1.99).squeeze(-1)]
    dist = TransformedDistribution(
        Normal(mean, log_std.clamp(-5, 2).exp()), [TanhTransform(), AffineTransform(0.0, 2.0)]
    )
    inside = action.abs().squeeze(-1) < 1.99  # away from saturation, where inverting tanh is ill-conditioned
    expected = dist.log_prob(action[inside]).sum(-1)
    assert inside.sum() > 40 and torch.allclose(logp[inside], expected, atol=1e-3)
    assert action.abs().max() <= 2.0


def test_running_norm_matches_batch_statistics() -> None:
    data = torch.randn(1000, 4) * torch.tensor([1.0, 2.0, 3.0, 4.0]) + 5
    norm = RunningNorm(4)
    for chunk in data.split(128):
        norm.update(chunk)
    assert torch.allclose(norm.mean, data.mean(0), atol=1e-4)
    assert torch.allclose(norm.var, data.var(0, unbiased=False), rtol=1e-3)


def test_gradients_reach_every_parameter() -> None:
    algo = _sac()
    env = _env()
    obs, _ = env.reset(seed=0)
    for _ in range(80):
        actions = algo.act(obs)
        nxt, r, te, tr, ex = env.step(actions)
        algo.process_env_step(nxt, r, te, tr, ex)
        obs = nxt
    before = [p.clone() for p in [*algo.actor.parameters(), *algo.q.parameters()]]
    algo.learning_starts = 0
    algo._debt = 1.0
    algo.update()
    after = [*algo.actor.parameters(), *algo.q.parameters()]
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_a_zero_output_scale_starts_at_a_zero_mean_action_and_still_learns() -> None:
    algo = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=8, init_std=0.1, init_output_scale=0.0)
    env = _env()
    obs, _ = env.reset(seed=0)
    assert torch.equal(algo.act(obs, deterministic=True), torch.zeros(NUM_ENVS, 1))  # a residual adds nothing yet
    for _ in range(8):
        nxt, r, te, tr, ex = env.step(algo.act(obs))
        algo.process_env_step(nxt, r, te, tr, ex)
        obs = nxt
    algo.compute_returns(obs)
    algo.update()
    assert algo.actor.log_std.exp().item() == pytest.approx(0.1, rel=0.2)
    assert algo.act(obs, deterministic=True).abs().max() > 0


def test_critic_warmup_holds_the_actor_and_critic_lr_stays_fixed() -> None:
    algo = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=8, critic_warmup=1, lr=1e-3, critic_lr=5e-4)
    env = _env()
    obs, _ = env.reset(seed=0)
    actor = [p.clone() for p in algo.actor.parameters()]
    critic = [p.clone() for p in algo.critic.parameters()]
    for update in range(2):
        for _ in range(8):
            nxt, r, te, tr, ex = env.step(algo.act(obs))
            algo.process_env_step(nxt, r, te, tr, ex)
            obs = nxt
        algo.compute_returns(obs)
        algo.update()
        held = all(torch.equal(a, b) for a, b in zip(actor, algo.actor.parameters(), strict=True))
        assert held == (update == 0)  # the first update trains the critic alone, the second both
        assert not any(torch.equal(a, b) for a, b in zip(critic, algo.critic.parameters(), strict=True))
        critic = [p.clone() for p in algo.critic.parameters()]
    assert algo.state_dict()["updates"] == 2
    actor_group, critic_group = algo.optimizer.param_groups
    assert critic_group["lr"] == 5e-4 and actor_group["lr"] == algo.lr != 1e-3  # only the actor's lr adapts


@pytest.mark.slow
def test_sac_learns_the_pendulum() -> None:
    algo, env, eval_env = _sac(), _env(), _env(32, seed=7)
    result = train(algo, env, eval_env, total_steps=6000, eval_every_steps=1000, eval_target=-250.0)
    assert result.best_eval > _random_return() + MARGIN, result


@pytest.mark.slow
def test_ppo_learns_the_pendulum() -> None:
    algo = PPO(3, 4, 1, num_envs=64, num_steps=64)
    result = train(algo, _env(64), _env(32, seed=7), total_steps=200_000, eval_every_steps=20_000, eval_target=-400.0)
    assert result.best_eval > _random_return() + MARGIN, result


@pytest.mark.parametrize("algo_name", ["sac", "ppo"])
def test_resume_continues_bit_for_bit(tmp_path: Path, algo_name: str) -> None:
    def make() -> SAC | PPO:
        return _sac(seed=3) if algo_name == "sac" else PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=16, seed=3)

    total, half = (3000, 1500) if algo_name == "sac" else (2048, 1024)
    every = 500 if algo_name == "sac" else 128
    straight = make()
    train(
        straight, _env(), _env(4, seed=7), total, run_dir=tmp_path / "a", eval_every_steps=every, stop_at_target=False
    )
    first = make()
    train(first, _env(), _env(4, seed=7), half, run_dir=tmp_path / "b", eval_every_steps=every, stop_at_target=False)
    resumed = make()  # a fresh process would build exactly this, then load the checkpoint
    train(
        resumed,
        _env(),
        _env(4, seed=7),
        total,
        run_dir=tmp_path / "b",
        eval_every_steps=every,
        resume=True,
        stop_at_target=False,
    )
    for a, b in zip(straight.actor.parameters(), resumed.actor.parameters(), strict=True):
        assert torch.equal(a, b)


def test_max_wall_s_stops_at_a_rollout_boundary_with_an_evaluated_checkpoint(tmp_path: Path) -> None:
    """A wall-clock budget ends the run far short of ``total_steps``: it evaluates and checkpoints where it stops, on
    a PPO rollout boundary (so a resume is exact), and a resumed run counts the time already spent."""
    algo = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=16, seed=3)
    result = train(algo, _env(), _env(4, seed=7), 10**9, run_dir=tmp_path, eval_every_steps=10**8, max_wall_s=0.5)
    assert 0.3 <= result.wall_s < 30 and 0 < result.env_steps < 10**9
    assert result.env_steps % (NUM_ENVS * 16) == 0
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["last_eval"] == result.last_eval > -float("inf") and state["wall_s"] >= 0.3
    again = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=16, seed=3)
    resumed = train(
        again, _env(), _env(4, seed=7), 10**9, run_dir=tmp_path, eval_every_steps=10**8, max_wall_s=0.5, resume=True
    )
    assert resumed.env_steps > result.env_steps and resumed.wall_s >= result.wall_s  # the earlier time counts
    assert (resumed.env_steps - result.env_steps) % (NUM_ENVS * 16) == 0


def test_max_wall_s_leaves_room_for_the_last_iteration_and_evaluation(tmp_path: Path) -> None:
    """The budget is one the run ends inside: with evaluations that take 0.3 s it stops where one more iteration and
    the evaluation ending the run would pass ``max_wall_s`` (stopping once the clock reads it would end ~0.3 s late)."""
    algo = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=16, seed=3)

    def slow_eval(algo: PPO) -> float:
        time.sleep(0.3)
        return 0.0

    every = NUM_ENVS * 16 * 2  # an evaluation every other rollout
    result = train(
        algo, _env(), None, 10**9, run_dir=tmp_path, eval_every_steps=every, max_wall_s=1.5, eval_fn=slow_eval
    )
    assert result.env_steps > every  # it evaluated (and so timed an evaluation) before it stopped
    assert result.wall_s <= 1.5 + 0.1, result.wall_s  # the old rule: >= 1.8 s
    assert torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)["wall_s"] <= 1.5


def test_resume_acts_on_the_observation_of_an_env_that_restarts_its_episodes(tmp_path: Path) -> None:
    class Restarting(PendulumVecEnv):  # like HOIVecEnv: its saved state does not hold the running episodes
        def save_state(self) -> dict[str, int]:
            return {"saved": 1}

        def load_state(self, state: dict[str, int]) -> dict[str, torch.Tensor]:
            self.fresh = self.reset(seed=123)[0]
            return self.fresh

    def make() -> PPO:
        return PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=16, seed=3)

    env = Restarting(num_envs=NUM_ENVS)
    train(make(), env, _env(4, seed=7), 256, run_dir=tmp_path, eval_every_steps=128, stop_at_target=False)
    resumed, env = make(), Restarting(num_envs=NUM_ENVS)
    seen: list[torch.Tensor] = []
    act = resumed.act
    resumed.act = lambda obs, deterministic=False: (seen.append(obs["policy"].clone()), act(obs, deterministic))[1]
    train(resumed, env, _env(4, seed=7), 384, run_dir=tmp_path, eval_every_steps=128, resume=True, stop_at_target=False)
    assert torch.equal(seen[0], env.fresh["policy"])


def test_training_processes_flush_denormal_floats() -> None:
    """``cpu_threads`` (ember train, eval, env runners) flushes values below 1e-38 to zero: trained networks fill
    their ELU backward and Adam moments with them, and x86 handles them far slower (bench/retarget_ppo_speed.py
    --init-from: the PPO loop ran at half speed)."""
    from ember.skills.learning.build import cpu_threads

    cpu_threads(torch.get_num_threads())
    tiny = torch.tensor([1e-30], dtype=torch.float32)
    assert float((tiny * 1e-10)[0]) == 0.0  # 1e-40 is a denormal float32: flushed


def test_best_checkpoint_is_the_latest_of_equal_evaluations(tmp_path: Path) -> None:
    """A success rate stuck at 0 (the second morphology's fine-tune) must not leave best.pt at the first evaluation:
    ties go to the later checkpoint; a lower evaluation does not replace the best."""

    def best_of(evals: list[float], run: Path) -> tuple[int, float]:  # one evaluation per 128-step rollout
        scores = iter(evals)
        algo = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=16, seed=3)
        steps = 128 * len(evals)
        train(algo, _env(), _env(4, seed=7), steps, run, 128, stop_at_target=False, eval_fn=lambda _: next(scores))
        best = torch.load(run / "checkpoints" / "best.pt", weights_only=False)
        return best["algo"]["env_steps"], best["last_eval"]

    assert best_of([0.0, 0.0, 0.0, 0.5, 0.25], tmp_path / "rises") == (512, 0.5)
    assert best_of([0.0, 0.0, 0.0], tmp_path / "tied") == (384, 0.0)


def test_export_agrees_with_the_policy(tmp_path: Path) -> None:
    algo = PPO(3, 4, 1, num_envs=NUM_ENVS, num_steps=8)
    env = _env()
    obs, _ = env.reset(seed=0)
    for _ in range(8):
        nxt, r, te, tr, ex = env.step(algo.act(obs))
        algo.process_env_step(nxt, r, te, tr, ex)
        obs = nxt
    path = export_policy(algo, 3, tmp_path / "policy.pt2")
    loaded = load_policy(path)
    probe = {"policy": torch.randn(32, 3) * 3}
    assert torch.allclose(loaded(probe["policy"]), algo.act(probe, deterministic=True), atol=1e-6)
    assert evaluate(algo, _env(4)) == pytest.approx(evaluate(algo, _env(4)))


@pytest.mark.slow
def test_ember_train_is_killed_and_resumed(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "ember.launch.cli",
        "train",
        "progress=false",
        "eval_every_steps=500",
        "stop_at_target=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    proc = subprocess.Popen(
        [*cmd, "total_steps=1000000"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not checkpoint.is_file():
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert checkpoint.is_file()
    state = torch.load(checkpoint, weights_only=False)  # the kill never leaves a half-written checkpoint
    done = state["algo"]["env_steps"]
    out = _ember_train(
        tmp_path,
        "eval_every_steps=500",
        "stop_at_target=false",
        f"total_steps={done + 1000}",
        f"resume={tmp_path / 'run'}",
    )
    assert out.returncode == 0, out.stderr
    metrics = (tmp_path / "run" / "metrics.json").read_text()
    assert f'"env_steps": {done + 1000}' in metrics
    assert (tmp_path / "run" / "policy.pt2").is_file() and any((tmp_path / "run" / "tensorboard").iterdir())


def test_train_cli_refuses_bad_input(tmp_path: Path) -> None:
    out = _ember_train(tmp_path, "resume=/nonexistent/run")
    assert out.returncode == 2 and "resume" in out.stderr
    out = _ember_train(tmp_path, "algo.lr=fast")
    assert out.returncode != 0 and "lr" in out.stderr
    out = _ember_train(tmp_path, "max_wall_s=-1")
    assert out.returncode == 2 and "max_wall_s" in out.stderr
    out = _ember_train(tmp_path, "task=retarget", "algo=dagger", "max_wall_s=60")
    assert out.returncode == 2 and "algo=dagger has no wall-clock budget; size it with total_steps" in out.stderr
    assert math.isfinite(_random_return())


def test_a_resume_that_does_not_fit_the_run_is_refused_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = _ember_train(tmp_path, "algo=sac", "total_steps=300", "eval_every_steps=150", f"hydra.run.dir={run}")
    assert out.returncode == 0, out.stderr
    config, last = (run / "config.yaml").read_text(), (run / "checkpoints" / "last.pt").read_bytes()

    def stderr(*args: str) -> tuple[int, str]:
        out = _ember_train(tmp_path, *args)
        return out.returncode, re.sub(r"\x1b\[[0-9;]*m", "", out.stderr)  # without colour codes, if forced on

    rc, other = stderr("algo=ppo", f"resume={run}")  # another algorithm: refused by name
    assert rc == 2 and "algo.name=sac" in other and "algo.name=ppo" in other, other
    rc, smaller = stderr("algo=sac", "algo.hidden=[32]", f"resume={run}")
    assert rc == 2 and "algo.hidden=[64, 64]" in smaller, smaller
    (run / "checkpoints" / "last.pt").write_bytes(last[:1000])  # a damaged checkpoint: named, no traceback
    rc, damaged = stderr("algo=sac", f"resume={run}")
    assert rc == 2 and "last.pt cannot be read" in damaged, damaged
    assert "Traceback" not in damaged + other + smaller
    assert (run / "config.yaml").read_text() == config  # nothing of the run was overwritten


def test_ember_train_uses_the_task_criterion_and_writes_a_skill_artifact(tmp_path: Path) -> None:
    out = _ember_train(
        tmp_path,
        "task=tabletop_push",
        "task.num_envs=2",
        "task.eval_envs=2",
        "task.max_episode_length=10",
        "algo.learning_starts=20",
        "algo.batch_size=16",
        "total_steps=40",
        "eval_every_steps=20",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert out.returncode == 0, out.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["best_eval_return"] <= 1.0  # the success rate, not a return
    meta = json.loads((tmp_path / "run" / "artifact" / "meta.json").read_text())
    assert meta["task"] == "push" and meta["scene_hash"] and "task=tabletop_push" in meta["train_command"]

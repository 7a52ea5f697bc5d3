"""Batched torch envs: pendulum matches gymnasium, quadrotor physics sanity, contract shapes, determinism."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from ember.sims.env import GymnasiumEnv
from ember.sims.torch_envs.pendulum import PendulumVecEnv
from ember.sims.torch_envs.quadrotor import HOVER_ACTION, MASS, QuadrotorVecEnv, hover_success


def test_pendulum_matches_gymnasium_step_for_step() -> None:
    env = PendulumVecEnv(num_envs=1)
    env.reset(seed=0)
    reference = gym.make("Pendulum-v1")
    reference.reset(seed=0)
    reference.unwrapped.state = np.array([env.theta[0].item(), env.theta_dot[0].item()])
    for t in range(150):
        action = np.array([2 * np.sin(t / 7)], dtype=np.float32)
        ref_obs, ref_reward, *_ = reference.step(action)
        obs, reward, *_ = env.step(torch.as_tensor(action)[None])
        assert np.allclose(ref_obs, obs["policy"][0].numpy(), atol=1e-4)
        assert abs(ref_reward - float(reward[0])) < 1e-4


@pytest.mark.parametrize("make", [lambda: PendulumVecEnv(num_envs=1), lambda: QuadrotorVecEnv(num_envs=1)])
def test_single_env_wrappers_pass_check_env(make) -> None:  # type: ignore[no-untyped-def]
    check_env(GymnasiumEnv(make()), skip_render_check=True)


def test_quadrotor_hovers_at_the_hover_action_without_disturbance() -> None:
    env = QuadrotorVecEnv(num_envs=4, init_pos=0, init_tilt=0, init_vel=0, init_rate=0, obs_noise=0, disturbance=0)
    env.reset(seed=0)
    for _ in range(300):
        env.step(torch.full((4, 4), HOVER_ACTION))
    assert env.pos.norm(dim=1).max() < 1e-4
    assert hover_success(env, lambda obs: torch.full((obs["policy"].shape[0], 4), HOVER_ACTION)) == 1.0


def test_quadrotor_falls_without_thrust_and_tilts_with_uneven_rotors() -> None:
    env = QuadrotorVecEnv(num_envs=2, init_pos=0, init_tilt=0, init_vel=0, init_rate=0, obs_noise=0, disturbance=0)
    env.reset(seed=0)
    for _ in range(40):
        env.step(
            torch.tensor([[-1.0] * 4, [HOVER_ACTION + 0.2, HOVER_ACTION - 0.2, HOVER_ACTION - 0.2, HOVER_ACTION + 0.2]])
        )
    assert env.vel[0, 2] < -1.0  # free fall once the rotors spin down (motor lag slows it at first)
    assert env.rate[1].abs().max() > 0.1 and env.quat[1, 0] < 0.9999
    assert MASS == pytest.approx(0.027)


def test_quadrotor_contract_and_determinism() -> None:
    a, b = QuadrotorVecEnv(num_envs=64, seed=3), QuadrotorVecEnv(num_envs=64, seed=3)
    oa, _ = a.reset(seed=3)
    _ = b.reset(seed=3)
    assert oa["policy"].shape == (64, 22) and oa["critic"].shape == (64, 29)
    actions = torch.rand(64, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for _ in range(50):
        ra, rb = a.step(actions), b.step(actions)
    assert torch.equal(ra[0]["critic"], rb[0]["critic"]) and torch.equal(ra[1], rb[1])
    assert set(ra[4]) >= {"log", "time_outs", "final_obs"}
    terminated = ra[2]
    assert terminated.dtype == torch.bool


def test_quadrotor_reward_is_positive_and_peaks_at_the_hover() -> None:
    env = QuadrotorVecEnv(num_envs=2, init_pos=0, init_tilt=0, init_vel=0, init_rate=0, obs_noise=0, disturbance=0)
    env.reset(seed=0)
    env.quat[:] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # the cost's orientation term counts yaw too
    _, reward, *_ = env.step(torch.full((2, 4), HOVER_ACTION))
    assert torch.allclose(reward, torch.full((2,), 2 * env.reward_scale))  # the paper's +2 at a perfect hover, scaled
    env.pos[1] = torch.tensor([1.4, 1.4, 1.4])  # far off: the paper's linear form would be negative here
    _, reward, *_ = env.step(torch.full((2, 4), HOVER_ACTION))
    assert 0 < reward[1] < reward[0]  # staying alive always pays better than ending the episode
    with pytest.raises(ValueError, match="weights"):
        QuadrotorVecEnv(num_envs=1, weights=(1.0, 2.0))

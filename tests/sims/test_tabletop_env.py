from __future__ import annotations

from typing import Any

import pytest
import torch
from gymnasium.utils.env_checker import check_env

from ember.sims import make_env
from ember.sims.env import GymnasiumEnv
from ember.sims.pybullet.tabletop_env import TabletopVecEnv

NUM_ENVS = 3


def _make_env(**overrides: Any) -> TabletopVecEnv:
    settings: dict[str, Any] = {"task": "push", "num_envs": NUM_ENVS, "max_episode_length": 5}
    settings.update(overrides)
    return TabletopVecEnv(**settings)


@pytest.mark.parametrize("task", ["reach", "push"])
@pytest.mark.parametrize("control", ["ee_delta", "joint_delta"])
def test_gymnasium_check_env_on_single_env_wrapper(task: str, control: str) -> None:
    env = GymnasiumEnv(make_env(f"tabletop_{task}", num_envs=1, control=control))
    check_env(env, skip_render_check=True)
    env.close()


def test_shapes_follow_the_contract() -> None:
    env = _make_env()
    obs, extras = env.reset(seed=0)
    assert set(obs) == {"policy", "critic"}
    assert obs["policy"].shape == (NUM_ENVS, env.single_observation_space["policy"].shape[0])
    assert obs["critic"].shape == (NUM_ENVS, env.single_observation_space["critic"].shape[0])
    obs, reward, terminated, truncated, extras = env.step(torch.zeros(NUM_ENVS, 4))
    assert reward.shape == terminated.shape == truncated.shape == (NUM_ENVS,)
    assert reward.dtype == torch.float32 and terminated.dtype == torch.bool
    assert set(extras) >= {"log", "time_outs", "final_obs"}
    assert extras["final_obs"]["critic"].shape == obs["critic"].shape
    env.close()


def test_truncation_resets_and_reports_final_obs() -> None:
    env = _make_env(max_episode_length=3)
    env.reset(seed=1)
    for _ in range(2):
        _, _, _, truncated, extras = env.step(torch.zeros(NUM_ENVS, 4))
        assert not truncated.any()
    obs, _, terminated, truncated, extras = env.step(torch.zeros(NUM_ENVS, 4))
    assert truncated.all() and not terminated.any()
    assert torch.equal(extras["time_outs"], truncated)
    assert (env.episode_length_buf == 0).all()
    # The final observation is the pre-reset one, the returned one is the fresh episode's.
    assert not torch.allclose(extras["final_obs"]["policy"], obs["policy"])
    env.close()


def test_reset_with_seed_is_deterministic() -> None:
    a, b = _make_env(), _make_env()
    actions = torch.linspace(-1, 1, NUM_ENVS * 4).reshape(NUM_ENVS, 4)
    oa, _ = a.reset(seed=5)
    ob, _ = b.reset(seed=5)
    assert torch.equal(oa["critic"], ob["critic"])
    for _ in range(3):
        ra = a.step(actions)
        rb = b.step(actions)
        assert torch.equal(ra[0]["critic"], rb[0]["critic"]) and torch.equal(ra[1], rb[1])
    a.close()
    b.close()


def test_asymmetric_groups_actor_sees_noisy_delayed_cube() -> None:
    env = _make_env(num_envs=1, obs_noise=0.01, obs_delay=2)
    obs, _ = env.reset(seed=0)
    seen, true = obs["policy"][0, 18:21], obs["critic"][0, env.policy_dim : env.policy_dim + 3]
    assert 0 < torch.norm(seen - true) < 0.06
    env.close()


def test_bad_arguments_and_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="task must be one of"):
        TabletopVecEnv(task="fly")
    env = _make_env(num_envs=2)
    env.reset()
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(3, 4))
    env.close()


def test_domain_randomization_draws_friction_and_mass_per_episode() -> None:
    env = _make_env(num_envs=2, domain_randomization=True)
    draws = set()
    for seed in range(3):
        env.reset(seed=seed)
        for scene in env.scenes:
            info = scene.bc.getDynamicsInfo(scene.cube_ids["red_cube"], -1)
            assert 0.07 <= info[0] <= 0.13 and 0.35 <= info[1] <= 0.65
            draws.add((round(info[0], 5), round(info[1], 5)))
    assert len(draws) == 6
    env.close()

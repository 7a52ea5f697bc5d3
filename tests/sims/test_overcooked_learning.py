"""Overcooked for learning: the batched env with the partner inside (contract 1), discrete PPO, the committed
self-play partner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SOUP_BY_CHEF0

from ember.sims.overcooked.kitchen import ACTION_NAMES, Kitchen
from ember.sims.overcooked.vec_env import KitchenFeatures, OvercookedVecEnv, soups_per_episode
from ember.skills.learning.ppo import PPO
from ember.skills.overcooked.partners import (
    CHECKPOINTS,
    GreedyPartner,
    PolicyPartner,
    StayPartner,
    make_partner,
    partner_factory,
    play,
)

STAY = ACTION_NAMES.index("stay")


def _indices(names: list[str]) -> list[int]:
    return [ACTION_NAMES.index(n) for n in names]


def test_self_play_rows_drive_both_chefs_and_the_soup_pays_one_at_its_tick() -> None:
    env = OvercookedVecEnv("cramped_room", num_envs=4)
    obs, _ = env.reset(seed=0)
    assert obs["policy"].shape == (4, env.features[0].size) and obs["critic"].shape == (4, env.features[0].size + 1)
    assert env.single_action_space.n == len(ACTION_NAMES)
    rewards = []
    for name in _indices(SOUP_BY_CHEF0):
        # Kitchen 0: its chef0 (row 0) cooks and delivers; kitchen 1: both chefs stay.
        _, reward, terminated, truncated, _ = env.step(torch.tensor([name, STAY, STAY, STAY]))
        rewards.append(reward.tolist())
        assert not terminated.any() and not truncated.any()
    assert [r[0] for r in rewards] == [0.0] * 39 + [1.0]  # one soup (20 points) = 1.0, on the delivery tick
    assert [r[1] for r in rewards] == [r[0] for r in rewards]  # the team reward: chef1 of kitchen 0 gets it too
    assert all(r[2] == r[3] == 0.0 for r in rewards)
    assert env.kitchens[0].delivered == 1 and env.kitchens[1].delivered == 0


def test_features_are_from_each_chefs_point_of_view() -> None:
    kitchen = Kitchen("cramped_room")
    features = KitchenFeatures(kitchen)
    a, b = features(0), features(1)
    chef = features.chef_size
    assert np.array_equal(a[:chef], b[chef : 2 * chef]) and np.array_equal(a[chef : 2 * chef], b[:chef])
    x, y = kitchen.state.players[0].position
    assert a[y * features.width + x] == 1.0 and a[: features.width * features.height].sum() == 1.0
    for name in SOUP_BY_CHEF0[:16]:  # three onions in: the pot cooks
        kitchen.step((name, "stay"))
    pot = features(0)[-(4 * len(kitchen.counters)) - 4 : -(4 * len(kitchen.counters))]
    assert pot[0] == 1.0 and pot[1] == pytest.approx(19 / 20) and pot[2] == 0.0 and pot[3] == 0.0


def test_shaping_anneals_and_episodes_truncate_at_the_horizon() -> None:
    env = OvercookedVecEnv("cramped_room", num_envs=2, shaping_steps=40, horizon=30)
    env.reset(seed=0)
    weights, shaped = [], []
    for name in _indices(SOUP_BY_CHEF0[:30]):
        _, reward, _, truncated, extras = env.step(torch.tensor([name, STAY]))
        weights.append(extras["log"]["shaping_weight"])
        shaped.append(float(reward[0]))
    assert weights[0] == 1.0 and weights[10] == pytest.approx(0.5) and weights[-1] == 0.0
    assert shaped[5] == pytest.approx(3 / 20 * weights[5])  # the first onion potted (tick 6), weighted
    assert truncated.all() and extras["log"]["soups"] == 0.0
    assert torch.equal(extras["final_obs"]["critic"][:, -1], torch.zeros(2))  # no time left at the end
    assert env.episode_length_buf.tolist() == [0, 0] and env.kitchens[0].tick == 0  # reset itself


def test_partner_inside_the_env_plays_the_other_seat() -> None:
    env = OvercookedVecEnv("cramped_room", num_envs=2, partner=partner_factory("greedy", "cramped_room"), seat="both")
    assert [seat for _, seat in env.rows] == [0, 1]
    soups = soups_per_episode(env, lambda obs: torch.full((2,), STAY))
    assert soups >= 3  # a greedy chef cooks alone while the learner's seat stays
    env = OvercookedVecEnv("cramped_room", num_envs=1, partner=lambda seed: StayPartner(seed), seat=1)
    env.reset(seed=0)
    start = env.kitchens[0].state.players[0].position
    env.step(torch.tensor([ACTION_NAMES.index("up")]))
    assert env.kitchens[0].state.players[0].position == start  # seat 0 is the stay partner


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"num_envs": 3}, "must be even"),
        ({"partner": "greedy"}, "partner='greedy'"),
        ({"seat": 2, "partner": lambda s: StayPartner(s)}, "seat=2"),
        ({"shaping_steps": -1}, "shaping_steps=-1"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        OvercookedVecEnv("cramped_room", **kwargs)


def test_bad_actions_are_refused() -> None:
    env = OvercookedVecEnv("cramped_room", num_envs=2)
    env.reset()
    with pytest.raises(ValueError, match=r"indices in 0\.\.5"):
        env.step(torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="2 entries"):
        env.step(torch.tensor([0]))


def test_env_state_round_trips_for_resume() -> None:
    env = OvercookedVecEnv("cramped_room", num_envs=2, shaping_steps=100)
    env.reset(seed=0)
    for name in _indices(SOUP_BY_CHEF0[:12]):
        env.step(torch.tensor([name, STAY]))
    saved = env.save_state()
    after = [env.step(torch.tensor([name, STAY]))[1] for name in _indices(SOUP_BY_CHEF0[12:20])]
    env.load_state(saved)
    again = [env.step(torch.tensor([name, STAY]))[1] for name in _indices(SOUP_BY_CHEF0[12:20])]
    assert all(torch.equal(a, b) for a, b in zip(after, again, strict=True))


def test_discrete_ppo_learns_a_contextual_bandit() -> None:
    """Categorical actor: four contexts, the right action is the context's index; the adaptive-KL learning rate and
    the k3 KL estimate keep updates stable."""
    torch.manual_seed(0)
    algo = PPO(4, 4, 4, num_envs=64, num_steps=8, hidden=(32,), lr=3e-3, seed=0, discrete=True, entropy_coef=0.0)
    gen = torch.Generator().manual_seed(1)

    def contexts() -> dict[str, torch.Tensor]:
        return {"policy": torch.nn.functional.one_hot(torch.randint(0, 4, (64,), generator=gen), 4).float()}

    obs = contexts()
    for _ in range(40 * 8):
        actions = algo.act(obs)
        assert actions.shape == (64,) and actions.dtype == torch.int64
        reward = (actions == obs["policy"].argmax(-1)).float()
        done = torch.ones(64, dtype=torch.bool)
        obs = contexts()
        algo.process_env_step(obs, reward, done, torch.zeros(64, dtype=torch.bool), {})
        if algo.rollout_full():
            algo.compute_returns(obs)
            stats = algo.update()
    probe = {"policy": torch.eye(4)}
    assert torch.equal(algo.act(probe, deterministic=True), torch.arange(4))
    assert stats["entropy"] < 0.5 and "std" not in stats


def test_committed_self_play_partner_cooks_with_itself_and_beside_others() -> None:
    path = CHECKPOINTS / "ppo_selfplay_cramped_room.pt"
    assert path.is_file()
    kitchen = Kitchen("cramped_room")
    pair = [
        play(kitchen, (make_partner("ppo", s, "cramped_room"), make_partner("ppo", s + 1, "cramped_room")))
        for s in range(2)
    ]
    assert np.mean(pair) >= 10  # measured 12-13 in self-play (bench/overcooked.py)
    assert play(kitchen, (PolicyPartner(path, 0), GreedyPartner(1))) >= 1  # an unseen teammate: still cooks
    with pytest.raises(ValueError, match="cannot play 'coordination_ring'"):
        PolicyPartner(path).act(Kitchen("coordination_ring"), 0)


def test_a_broken_partner_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "partner.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"not a partner\.pt of `ember train task=overcooked_selfplay`"):
        PolicyPartner(bad)
    with pytest.raises(ValueError, match="no committed self-play partner for layout 'forced_coordination'"):
        make_partner("ppo", 0, "forced_coordination")

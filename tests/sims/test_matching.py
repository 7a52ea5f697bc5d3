"""Motion matching: the full-body pose a residual tracking policy corrects, from head/hand reports alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco")

from ember.sims.humanoid.character import load_humanoid
from ember.sims.humanoid.matching import WINDOW, PoseMatcher
from ember.sims.humanoid.motion import load_clip, mirror, rotate_heading, tracker_poses
from ember.sims.humanoid.retarget_env import ACTION_SCALE, TRACKER_SITES, RetargetVecEnv


def windows(model: object, qpos: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos, quat = tracker_poses(model, qpos)
    return np.stack([pos[frames + k] for k in range(WINDOW)], 1), quat[frames + 1, 0]


def test_a_database_clip_is_matched_to_its_own_frames_wherever_it_is_played() -> None:
    model = load_humanoid()
    walk, punch = load_clip("walk"), load_clip("punch")
    matcher = PoseMatcher(model, [walk, mirror(walk), punch])
    frames = np.arange(0, punch.num_frames - WINDOW, 5)
    for clip in (punch, rotate_heading(punch, 1.2)):  # where the user faces does not matter
        shifted = clip.qpos.copy()
        shifted[:, :2] += [3.0, -2.0]  # nor where they stand
        window, quat = windows(model, shifted, frames)
        np.testing.assert_allclose(matcher.pose(window, quat), punch.qpos[frames + 1, 7:], atol=1e-6)
    # Left and right told apart: the mirrored walk's frames come back from the mirrored part of the database.
    mirrored = mirror(walk)
    frames = np.arange(0, walk.num_frames - WINDOW, 3)
    window, quat = windows(model, mirrored.qpos, frames)
    np.testing.assert_allclose(matcher.pose(window, quat), mirrored.qpos[frames + 1, 7:], atol=1e-6)


def test_an_unseen_motion_gets_the_nearest_stored_pose_and_bad_windows_are_refused() -> None:
    model = load_humanoid()
    matcher = PoseMatcher(model, [load_clip("walk"), load_clip("run")])
    dance = load_clip("dance_a")
    window, quat = windows(model, dance.qpos, np.arange(0, dance.num_frames - WINDOW, 8))
    index, dist = matcher.nearest(window, quat)
    assert np.all(dist > 0.01) and np.all((0 <= index) & (index < len(matcher)))
    with pytest.raises(ValueError, match=r"window must have shape \(N, 3, 3, 3\)"):
        matcher.pose(window[:, :2], quat)
    with pytest.raises(ValueError, match="at least one clip"):
        PoseMatcher(model, [])


def test_residual_env_appends_the_matched_pose_and_executes_base_plus_residual() -> None:
    env = RetargetVecEnv(num_envs=3, clips=["walk"], mirror=False, residual_scale=0.5, seed=1)
    plain = RetargetVecEnv(num_envs=3, clips=["walk"], mirror=False, seed=1)
    obs, _ = env.reset(seed=1)
    plain.reset(seed=1)
    assert obs["policy"].shape == (3, plain.single_observation_space["policy"].shape[0] + 28)
    t = env.tables
    # (a looping clip played past its first cycle falls between the stored frames: nearly, not exactly, equal)
    np.testing.assert_allclose(obs["policy"][:, -28:].numpy(), t.qpos[env.frame + 1, 7:] / ACTION_SCALE, atol=0.02)
    residual = np.random.default_rng(0).uniform(-1, 1, (3, 28))
    ref = env.base.copy()
    env.step(torch.as_tensor(residual))
    plain.step(torch.as_tensor(np.clip(ref + 0.5 * residual, -2, 2)))  # the same PD targets, given whole
    np.testing.assert_allclose(env.last_state["qpos"], plain.last_state["qpos"], atol=1e-9)
    # The matcher of an evaluation on held-out clips holds the training clips, not the clip it tracks.
    held = RetargetVecEnv(
        num_envs=2, clips=["dance_a"], mirror=False, residual_scale=0.5, match_clips=["walk"], match_mirror=True
    )
    assert held.matcher is not None and held.matcher.names == ["walk", "walk@mirror"]
    with pytest.raises(ValueError, match="match_clips"):
        RetargetVecEnv(num_envs=1, clips=["walk"], residual_scale=0.5, match_clips=["moonwalk"])
    with pytest.raises(ValueError, match="residual_scale must be >= 0"):
        RetargetVecEnv(num_envs=1, clips=["walk"], residual_scale=-1.0)
    assert TRACKER_SITES[0] == "head"

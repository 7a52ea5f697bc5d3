"""The sampling MPC teacher (skills/humanoid/mpc.py): its plan interpolation, and that it keeps the character up on
walk where the reference's own PD targets fall; DAgger's plumbing on a tiny budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco")

from ember.sims.humanoid.evaluation import evaluate_tracking
from ember.sims.humanoid.retarget_env import RetargetVecEnv
from ember.skills.humanoid.mpc import SamplingMPC, _interp_matrix, distill
from ember.skills.humanoid.tracking import TrackingPolicy
from ember.skills.learning.runner import load_checkpoint


def test_interpolation_and_plan_shift() -> None:
    knots = np.array([0.0, 2.0, 4.0])
    w = _interp_matrix(np.arange(5, dtype=float), knots)
    np.testing.assert_allclose(w @ np.array([0.0, 1.0, 0.0]), [0, 0.5, 1, 0.5, 0])
    np.testing.assert_allclose(w.sum(1), 1.0)
    np.testing.assert_allclose(_interp_matrix(np.array([9.0]), knots), [[0, 0, 1]])  # clamped past the end


def test_mpc_keeps_walk_up_where_the_reference_falls() -> None:
    env = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, seed=0)
    reference = evaluate_tracking(
        env, lambda obs: torch.as_tensor(env.tables.qpos[env.frame + 1, 7:] / (np.pi / 2)), "walk", [0, 12], 2.0
    )
    with SamplingMPC(env, samples=32, horizon=10, threads=1) as mpc:
        act = lambda obs: torch.as_tensor(np.stack([mpc.targets(i) for i in range(2)]), dtype=torch.float32)  # noqa: E731
        controlled = evaluate_tracking(env, act, "walk", [0, 12], 2.0)
    assert reference["mean_survival_s"] < 1.2
    assert controlled["mean_survival_s"] > reference["mean_survival_s"] + 0.5
    with pytest.raises(ValueError, match="samples, horizon and knots must be >= 2"):
        SamplingMPC(env, samples=1)
    with pytest.raises(ValueError, match="must be three factors >= 0"):
        SamplingMPC(env, weights=(10.0, 3.0))
    with pytest.raises(ValueError, match=r"clip_horizon=\{'run': 24\}: keys must be clips this env tracks"):
        SamplingMPC(env, clip_horizon={"run": 24})


def test_a_clip_can_have_its_own_horizon() -> None:
    env = RetargetVecEnv(num_envs=2, clips=["walk", "run"], mirror=False, seed=0)
    env.reset_to("run", [0, 10])
    with SamplingMPC(env, samples=4, horizon=3, threads=1, clip_horizon={"run": 6}) as mpc:
        calls = []
        real = mpc._pool.rollout
        mpc._pool.rollout = lambda *a, **k: calls.append(k["nstep"]) or real(*a, **k)  # type: ignore[method-assign]
        assert mpc.targets(0).shape == (28,)
        env.reset_to("walk", [0, 10])
        mpc.targets(0)
    assert calls == [6 * 8, 3 * 8]  # control steps x CONTROL_DECIMATION physics steps
    mirrored = RetargetVecEnv(num_envs=1, clips=["run"], mirror=True, seed=0)
    with SamplingMPC(mirrored, samples=4, horizon=3, threads=1, clip_horizon={"run": 6}) as mpc:
        assert list(mpc._horizons) == [6, 6]  # run and run@mirror


def test_a_prior_replaces_the_carried_plan() -> None:
    """Seeded with a prior (a student's PD targets), the MPC's answer depends on the state and that prior only."""
    env = RetargetVecEnv(num_envs=1, clips=["walk"], mirror=False, seed=0)
    env.reset(seed=0)
    prior = env.tables.qpos[env.frame[0] + 1, 7:] / (np.pi / 2) + 0.05
    answers = []
    for carried in (0.0, 0.7):  # two different plans left from earlier steps
        with SamplingMPC(env, samples=8, horizon=4, threads=1, seed=3) as mpc:
            mpc.plans[:] = carried
            answers.append(mpc.targets(0, prior))
            # the plan now starts from the prior's offset, shifted one step
            assert np.abs(mpc.plans[0]).max() < 0.5
    np.testing.assert_allclose(answers[0], answers[1])
    assert np.abs(answers[0] - prior).max() < 0.5  # a search around the prior, not a jump elsewhere


def test_dagger_writes_a_loadable_artifact(tmp_path: Path) -> None:
    figures = distill(str(tmp_path), iterations=2, envs=2, steps=3, samples=4, horizon=3, epochs=1, threads=1)
    assert figures["labels"] == 12 and figures["teacher_envs"] == 1  # half the envs, then a quarter (rounded)
    policy = TrackingPolicy(tmp_path)
    assert policy.residual_scale == 0.5 and policy.meta["clips"] == ["walk"]
    env = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, **policy.env_kwargs())
    obs, _ = env.reset(seed=0)
    assert policy.act(obs).shape == (2, 28)


def test_dagger_around_the_student(tmp_path: Path) -> None:
    small = dict(envs=2, steps=3, samples=4, horizon=3, epochs=1, threads=1)
    figures = distill(str(tmp_path), iterations=2, warm_start="student", window=1, **small)  # type: ignore[arg-type]
    meta = TrackingPolicy(tmp_path).meta
    assert figures["labels"] == 12 and meta["distill"]["warm_start"] == "student" and meta["distill"]["window"] == 1
    norm = load_checkpoint(tmp_path / "checkpoint.pt")["algo"]["policy_norm"]
    assert float(norm["count"]) == 6  # the refit saw the last iteration's labels only
    with pytest.raises(ValueError, match="window=-1 must be >= 0"):
        distill(str(tmp_path / "bad"), iterations=1, window=-1, **small)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="warm_start='teacher': choose 'plan'"):
        distill(str(tmp_path / "bad"), iterations=1, warm_start="teacher", **small)  # type: ignore[arg-type]


def test_dagger_resumes_from_its_labels_and_student(tmp_path: Path) -> None:
    small = dict(envs=2, steps=3, samples=4, horizon=3, epochs=1, threads=1)
    distill(str(tmp_path), iterations=1, command="first", **small)  # type: ignore[arg-type]
    figures = distill(str(tmp_path), iterations=1, resume=True, command="second", **small)  # type: ignore[arg-type]
    assert figures["iteration"] == 1 and figures["labels"] == 12 and figures["teacher_envs"] == 1
    assert TrackingPolicy(tmp_path).meta["train_command"] == "first && second"
    with pytest.raises(ValueError, match=r"residual_scale=0.3 but .* was distilled with 0.5"):
        distill(str(tmp_path), iterations=1, resume=True, residual_scale=0.3, **small)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="run without --resume"):
        distill(str(tmp_path / "none"), iterations=1, resume=True, **small)  # type: ignore[arg-type]

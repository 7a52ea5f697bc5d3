"""The retargeting env (contract 1 on MuJoCo), its reward terms on hand-built states, the actor's heading-frame
observation, and tracker-stream validation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

mujoco = pytest.importorskip("mujoco")

from ember.sims.humanoid.evaluation import evaluate_tracking, spread_phases  # noqa: E402
from ember.sims.humanoid.retarget_env import (  # noqa: E402
    ACTION_SCALE,
    LOOKAHEAD,
    RetargetVecEnv,
    _rot_z,
    actor_observation,
)
from ember.sims.humanoid.rotations import quat_mul, yaw_quat  # noqa: E402
from ember.sims.humanoid.sparse import TRACKERS, SparseConfig, hold_last, sparse_from_clip  # noqa: E402
from ember.sims.humanoid.stream import StreamError, read_tracker_file, write_tracker_jsonl  # noqa: E402


@pytest.fixture(scope="module")
def env() -> RetargetVecEnv:
    return RetargetVecEnv(num_envs=4, clips=["walk", "punch"], mirror=True, max_episode_length=40, seed=0)


def reference_actions(env: RetargetVecEnv) -> torch.Tensor:
    return torch.as_tensor(env.tables.qpos[env.frame + 1, 7:] / ACTION_SCALE, dtype=torch.float32)


def test_env_follows_the_contract(env: RetargetVecEnv) -> None:
    obs, _ = env.reset(seed=1)
    assert obs["policy"].shape == (4, 123) and obs["critic"].shape == (4, 202)
    assert env.single_action_space.shape == (28,)
    assert env.tables.names == ["walk", "punch", "walk@mirror", "punch@mirror"]
    ended = 0
    for _ in range(60):
        obs, reward, terminated, truncated, extras = env.step(reference_actions(env))
        assert reward.shape == (4,) and torch.all((reward >= 0) & (reward <= 1.2))
        assert torch.equal(extras["time_outs"], truncated) and not torch.any(terminated & truncated)
        assert set(extras["final_obs"]) == {"policy", "critic"} and torch.isfinite(obs["policy"]).all()
        ended += int((terminated | truncated).sum())
    assert ended > 0 and int(env.episode_length_buf.max()) <= 40


def test_the_virtual_assistant_holds_the_character_up_and_fades() -> None:
    """Reference PD targets alone fall on walk within ~1 s; the full-strength assistant keeps every env up for 3 s;
    it fades linearly over ``assist_steps``, the critic sees its strength, an evaluation env (start 0) is unaided."""
    falls = {}
    for steps in (0, 10**9):
        env = RetargetVecEnv(num_envs=8, clips=["walk"], mirror=False, max_episode_length=200, assist_steps=steps)
        obs, _ = env.reset(seed=3)
        falls[steps] = 0
        for _ in range(90):
            _, _, terminated, _, _ = env.step(reference_actions(env))
            falls[steps] += int(terminated.sum())
    assert falls[0] >= 8 and falls[10**9] == 0, falls
    env = RetargetVecEnv(num_envs=4, clips=["walk"], mirror=False, assist_steps=40)
    env.reset(seed=0)
    assert env.assist == 1.0 and env._assist_wrench().any()
    for _ in range(5):
        env.step(reference_actions(env))
    assert env.assist == pytest.approx(0.5)
    saved = env.save_state()
    for _ in range(5):
        env.step(reference_actions(env))
    assert env.assist == 0.0 and not env._assist_wrench().any()
    env.load_state(saved)
    assert env.assist == pytest.approx(0.5)  # a resumed run goes on fading where it was
    unaided = RetargetVecEnv(num_envs=4, clips=["walk"], mirror=False, assist_steps=40, assist_start=0.0)
    obs, _ = unaided.reset(seed=0)
    assert unaided.assist == 0.0 and not unaided._assist_wrench().any() and obs["critic"].shape[1] == 202
    paced, fixed = (
        RetargetVecEnv(num_envs=4, clips=["walk"], mirror=False, assist_steps=400, assist_max_fall=fall)
        for fall in (0.01, 1.0)
    )
    for run in (paced, fixed):
        run.reset(seed=0)
        for _ in range(60):  # every joint at its limit: the envs fail again and again, so the paced help stays
            run.step(torch.full((4, 28), 2.0))
    assert paced.fall_rate > 0.01 and fixed.assist == pytest.approx(0.4) and paced.assist > 0.7
    with pytest.raises(ValueError, match="assist_start"):
        RetargetVecEnv(num_envs=1, clips=["walk"], assist_steps=10, assist_start=2.0)


def test_a_looping_clip_starts_within_one_cycle_and_runs_a_whole_episode() -> None:
    """A looping clip's table is tiled past the episode length: every start (drawn, or fixed by an evaluation) lies in
    its first cycle, so no episode or evaluation is cut short by the table's end; a clip that does not loop starts
    where a second of it is left."""
    env = RetargetVecEnv(num_envs=6, clips=["walk", "punch"], mirror=False, max_episode_length=90, seed=0)
    t = env.tables
    walk, punch = t.names.index("walk"), t.names.index("punch")
    assert t.loops[walk] and t.start_room(walk) == t.period[walk] == 38  # walk: 1.27 s at 30 Hz
    assert not t.loops[punch] and t.start_room(punch) == t.length[punch] - LOOKAHEAD - 31
    for seed in range(5):
        env.reset(seed=seed)
        offset = env.frame - t.start[env.clip]
        assert np.all(offset < np.array([t.start_room(c) for c in env.clip]))
    assert spread_phases(t.start_room(walk), 5) == [0, 9, 18, 27, 37]
    env.reset_to("walk", [0, 37, 38, 40, 75, 500])  # later phases wrap to the same place in the cycle
    assert (env.frame - t.start[walk]).tolist() == [0, 37, 0, 2, 37, 500 % 38]
    # held up by the full-strength assistant, episodes from every phase of the cycle run to their time limit
    loop = RetargetVecEnv(num_envs=4, clips=["walk"], mirror=False, max_episode_length=90, assist_steps=10**9)
    loop.reset_to("walk", [0, 12, 25, 37])
    steps, ended = torch.zeros(4, dtype=torch.long), 0
    for _ in range(200):
        _, _, terminated, truncated, _ = loop.step(reference_actions(loop))
        steps += 1
        assert not terminated.any() and torch.all(steps[truncated] == 90)
        ended += int(truncated.sum())
        steps[truncated] = 0
    assert ended == 8
    phase = loop._observe()["critic"][:, -3:-1]  # cos, sin of the phase in the loop's cycle
    frame = (loop.frame - loop.tables.start[0]) % 38
    expected = torch.as_tensor(np.stack([np.cos(frame / 38 * 2 * np.pi), np.sin(frame / 38 * 2 * np.pi)], 1))
    assert torch.allclose(phase, expected.float(), atol=1e-5)


def test_clip_weights_set_how_often_episodes_start_on_each_clip() -> None:
    env = RetargetVecEnv(num_envs=400, clips=["walk", "punch"], mirror=True, clip_weights=[3, 1], seed=0)
    env.reset(seed=0)
    counts = np.bincount(env.clip, minlength=4)  # walk, punch, walk@mirror, punch@mirror
    assert env.tables.names == ["walk", "punch", "walk@mirror", "punch@mirror"]
    assert 2.2 < (counts[0] + counts[2]) / (counts[1] + counts[3]) < 4.0 and counts[2] > 0
    none = RetargetVecEnv(num_envs=50, clips=["walk", "punch"], mirror=False, clip_weights=[0, 1], seed=0)
    none.reset(seed=1)
    assert set(none.clip.tolist()) == {1}
    for bad in ([1.0], [-1.0, 1.0], [0.0, 0.0], [float("nan"), 1.0]):
        with pytest.raises(ValueError, match="one weight >= 0 per clip"):
            RetargetVecEnv(num_envs=2, clips=["walk", "punch"], clip_weights=bad)


def test_adaptive_starts_draw_where_episodes_fall_and_learn_it_from_outcomes() -> None:
    kw: dict = dict(num_envs=200, clips=["walk", "punch"], mirror=False, seed=0)
    plain, off = RetargetVecEnv(**kw), RetargetVecEnv(**kw, adaptive_starts=0.0)
    plain.reset(seed=3)
    off.reset(seed=3)
    assert np.array_equal(plain.frame, off.frame)  # off: the same random stream as an env without the option
    env = RetargetVecEnv(**kw, adaptive_starts=0.5)
    t, punch = env.tables, 1
    lo, hi = env._bin_lo[punch, 3], env._bin_lo[punch, 4]
    env.start_fall[:] = 0.0
    env.start_fall[punch, 3] = 1.0  # only this bin has been falling
    env.reset(seed=4)
    offset = env.frame - t.start[env.clip]
    hard = (env.clip == punch) & (offset >= lo) & (offset < hi) & (env.start_bin == 3)
    # half the starts go to the hard bin, the other half spread as before (a few of them in it by chance)
    assert 0.4 < hard.mean() < 0.7 and (env.clip == 0).mean() > 0.15
    assert np.all(env.start_bin[env.clip == punch][offset[env.clip == punch] < env._bin_lo[punch, 1]] == 0)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="adaptive_starts must be in"):
            RetargetVecEnv(num_envs=2, clips=["walk"], adaptive_starts=bad)
    # outcomes: limp episodes fall, so the bins they started in rise above the prior of 0.5; truncated ones (the
    # assistant holds the character up to the time limit) bring theirs down
    limp = RetargetVecEnv(num_envs=8, clips=["walk"], mirror=False, adaptive_starts=1.0, seed=1)
    limp.reset(seed=1)
    started = set(limp.start_bin.tolist())
    for _ in range(60):
        _, _, _, _, extras = limp.step(torch.zeros(8, 28))
    assert all(limp.start_fall[0, b] > 0.5 for b in started) and "start_fall/walk" in extras["log"]
    held = RetargetVecEnv(
        num_envs=4, clips=["walk"], mirror=False, max_episode_length=20, assist_steps=10**9, adaptive_starts=1.0
    )
    held.reset(seed=2)
    first = set(held.start_bin.tolist())
    for _ in range(20):
        held.step(reference_actions(held))
    assert all(held.start_fall[0, b] < 0.5 for b in first)
    state = limp.save_state()
    limp.start_fall[:] = 0.0
    limp.load_state(state)
    assert np.array_equal(limp.start_fall, state["start_fall"]) and limp.start_fall.max() > 0.5


def test_falling_terminates(env: RetargetVecEnv) -> None:
    env.reset(seed=2)
    fell = torch.zeros(4, dtype=torch.bool)
    for _ in range(60):  # limp: every PD target zero
        _, _, terminated, _, extras = env.step(torch.zeros(4, 28))
        fell |= terminated
    assert fell.all() and "fell" in extras["log"]


def test_reward_terms_on_hand_built_states(env: RetargetVecEnv) -> None:
    env.reset_to("walk", [10, 10, 10, 10])
    state = env._state()
    env.frame -= 0  # the state is exactly the reference at env.frame
    action = env.prev_action.copy()
    _, fell, info = env._reward(state, action)
    for term in ("r_pose", "r_vel", "r_keys", "r_body", "r_smooth"):
        np.testing.assert_allclose(info[term], 1.0, atol=1e-6, err_msg=term)
    assert info["body_err"].max() < 1e-9 and not fell.any()
    bent = {k: v.copy() for k, v in state.items()}
    bent["qpos"][:, 7] += 0.5  # one hinge off by 0.5 rad
    _, _, info = env._reward(bent, action)
    np.testing.assert_allclose(info["r_pose"], math.exp(-2 * 0.25), rtol=1e-6)
    moved = {k: v.copy() for k, v in state.items()}
    moved["bodies"] = moved["bodies"] + np.array([0.6, 0.0, 0.0])  # every body 0.6 m off: a fall by the rule
    _, fell, info = env._reward(moved, action)
    np.testing.assert_allclose(info["body_err"], 0.6)
    np.testing.assert_allclose(info["r_body"], math.exp(-10 * 0.36))
    assert fell.all()
    _, _, info = env._reward(state, action + 1.0)  # every action changed by 1: smoothness exp(-1)
    np.testing.assert_allclose(info["r_smooth"], math.exp(-1.0))


def test_root_reward_counts_the_root_orientation_and_velocity() -> None:
    env = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, root_reward=True, seed=0)
    env.reset_to("walk", [5, 20])
    state = env._state()
    action = env.prev_action.copy()
    _, _, info = env._reward(state, action)
    np.testing.assert_allclose(info["r_pose"], 1.0, atol=1e-6)
    np.testing.assert_allclose(info["r_root_vel"], 1.0, atol=1e-6)
    tilted = {k: v.copy() for k, v in state.items()}
    pitch = np.array([math.cos(0.15), 0.0, math.sin(0.15), 0.0])  # 0.3 rad about y
    tilted["qpos"][:, 3:7] = quat_mul(np.tile(pitch, (2, 1)), state["qpos"][:, 3:7])
    tilted["qvel"][:, 0] += 0.5  # root 0.5 m/s ahead of the reference
    _, _, info = env._reward(tilted, action)
    np.testing.assert_allclose(info["r_pose"], math.exp(-2 * 0.3**2), rtol=1e-5)
    np.testing.assert_allclose(info["r_root_vel"], math.exp(-10 * 0.25), rtol=1e-6)
    plain = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, seed=0)
    plain.reset_to("walk", [5, 20])
    _, _, info = plain._reward(tilted, action)  # without it the root's orientation is not scored
    assert "r_root_vel" not in info
    np.testing.assert_allclose(info["r_pose"], 1.0, atol=1e-6)


def test_actor_observation_is_heading_invariant(env: RetargetVecEnv) -> None:
    env.reset_to("walk", [0, 5, 9, 14])
    s = env._state()
    ids = env._tracker_ids
    targets = np.stack([np.stack([env.tables.sites[n][env.frame + k] for n in TRACKERS], 1) for k in (1, 2)], 1)
    quat = env.tables.tracker_quat[env.frame + 1]
    base = actor_observation(s["qpos"], s["qvel"], s["sites"][:, ids], targets, quat)
    yaw = np.full(4, 0.9)
    qpos = s["qpos"].copy()
    qpos[:, :3] = _rot_z(qpos[:, :3], yaw)
    qpos[:, 3:7] = quat_mul(yaw_quat(0.9), qpos[:, 3:7])
    qvel = s["qvel"].copy()
    qvel[:, :3] = _rot_z(qvel[:, :3], yaw)
    turned = actor_observation(
        qpos,
        qvel,
        _rot_z(s["sites"][:, ids], yaw),
        _rot_z(targets.reshape(4, -1, 3), yaw).reshape(targets.shape),
        quat_mul(yaw_quat(0.9), quat),
    )
    np.testing.assert_allclose(turned, base, atol=1e-9)


def test_save_and_load_state_continue_exactly() -> None:
    a = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, seed=3, tracker_noise=0.01)
    a.reset(seed=3)
    for _ in range(5):
        a.step(reference_actions(a))
    state = a.save_state()
    b = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, seed=99, tracker_noise=0.01)
    b.load_state(state)
    for _ in range(5):
        act = reference_actions(a)
        oa, ra, *_ = a.step(act)
        ob, rb, *_ = b.step(act)
        torch.testing.assert_close(oa["policy"], ob["policy"])
        torch.testing.assert_close(ra, rb)


def test_mujoco_rollout_steps_the_batch_like_the_python_loop() -> None:
    """physics_threads=N: the batch goes through mujoco.rollout (N threads); observations, rewards, falls and resets
    agree with stepping each MjData from Python, and across thread counts exactly."""
    runs = {}
    for threads in (0, 1, 2):
        env = RetargetVecEnv(num_envs=6, clips=["walk", "kick"], residual_scale=0.5, seed=3, physics_threads=threads)
        env.reset(seed=3)
        noise = torch.Generator().manual_seed(0)
        rows = []
        for _ in range(45):  # long enough for falls and resets
            obs, reward, terminated, *_ = env.step(0.2 * torch.randn(6, 28, generator=noise))
            rows.append((obs["critic"], reward, terminated))
        env.close()
        runs[threads] = rows
    assert any(bool(t.any()) for _, _, t in runs[0])
    for (c0, r0, t0), (c1, r1, t1), (c2, r2, t2) in zip(runs[0], runs[1], runs[2], strict=True):
        torch.testing.assert_close(c1, c0, atol=1e-5, rtol=0)
        torch.testing.assert_close(r1, r0, atol=1e-5, rtol=0)
        assert torch.equal(t1, t0) and torch.equal(c2, c1) and torch.equal(r2, r1) and torch.equal(t2, t1)
    for threads in (0, 1):  # a blow-up (MuJoCo resets that env) ends the episode and is logged as unstable
        env = RetargetVecEnv(num_envs=3, clips=["walk"], seed=3, physics_threads=threads)
        env.reset(seed=3)
        env.datas[1].qvel[10] = 1e12
        _, _, terminated, _, extras = env.step(torch.zeros(3, 28))
        assert terminated.tolist() == [False, True, False] and extras["log"]["unstable"] == pytest.approx(1 / 3)
        env.close()
    with pytest.raises(ValueError, match="physics_threads must be >= 0"):
        RetargetVecEnv(num_envs=1, physics_threads=-1)


def test_open_loop_reference_falls_quickly() -> None:
    """The honest baseline: PD to the clip's own angles, no policy, falls within ~1 s (notes: ~0.7 s)."""
    env = RetargetVecEnv(num_envs=5, clips=["walk"], mirror=False)
    result = evaluate_tracking(env, lambda obs: reference_actions(env), "walk", [0, 6, 12, 18, 24], 3.0)
    assert result["success_rate"] == 0.0 and result["mean_survival_s"] < 2.0
    assert result["mpjpe_world_mm"] > 50
    assert result["fell_rate"] + result["drift_rate"] == 1.0 and result["fell_rate"] > 0  # each stop counted once


def test_evaluation_tells_a_drift_from_a_fall() -> None:
    """An upright character 0.6 m beside its reference stops on the body error, not the head: a drift."""
    import mujoco

    env = RetargetVecEnv(num_envs=3, clips=["walk"], mirror=False)
    moved = []

    def shifted(obs: dict) -> torch.Tensor:
        if not moved:  # once, right after the evaluation's reset: every character 0.6 m to the side
            for data in env.datas:
                data.qpos[1] += 0.6
                mujoco.mj_forward(env.model, data)
            moved.append(True)
        return reference_actions(env)

    result = evaluate_tracking(env, shifted, "walk", [0, 12, 24], 3.0)
    assert result["drift_rate"] == 1.0 and result["fell_rate"] == 0.0 and result["mean_survival_s"] < 0.1


def write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


POSE = {"pos": [0.0, 0.0, 1.5], "quat": [1.0, 0.0, 0.0, 0.0]}


def sample(t: float, **overrides: object) -> dict[str, object]:
    return {"t": t, **{k: POSE for k in TRACKERS}, **overrides}


def test_stream_round_trip_from_a_clip(tmp_path: Path) -> None:
    from ember.sims.humanoid.character import load_humanoid
    from ember.sims.humanoid.motion import load_clip

    signals = sparse_from_clip(load_clip("walk"), load_humanoid(), SparseConfig(dropout=0.2, seed=1))
    back = read_tracker_file(write_tracker_jsonl(signals, tmp_path / "walk.jsonl"))
    assert back.pos.shape == signals.pos.shape
    np.testing.assert_array_equal(back.valid, signals.valid)
    np.testing.assert_allclose(back.pos[back.valid], signals.pos[signals.valid], atol=1e-5)
    held = hold_last(back)
    assert np.isfinite(held.pos[1:]).all()


def test_stream_errors_name_the_line(tmp_path: Path) -> None:
    bad_time = write(tmp_path / "a.jsonl", [sample(0.0), sample(0.1), sample(0.05)])
    with pytest.raises(StreamError, match=r"a.jsonl:3: t=0.05 is not after .* t=0.1"):
        read_tracker_file(bad_time)
    with pytest.raises(StreamError, match=r"b.jsonl:2: t='soon' is not a number"):
        read_tracker_file(write(tmp_path / "b.jsonl", [sample(0.0), sample("soon")]))  # type: ignore[arg-type]
    (tmp_path / "c.jsonl").write_text(json.dumps(sample(0.0)) + "\n{oops\n")
    with pytest.raises(StreamError, match=r"c.jsonl:2: not JSON"):
        read_tracker_file(tmp_path / "c.jsonl")
    never = write(tmp_path / "d.jsonl", [sample(0.0, right_hand=None), sample(0.1, right_hand=None)])
    with pytest.raises(StreamError, match=r"\['right_hand'\] never report"):
        read_tracker_file(never)
    (tmp_path / "e.csv").write_text("t,head_x\n0,1\n")
    with pytest.raises(StreamError, match="CSV header lacks columns"):
        read_tracker_file(tmp_path / "e.csv")
    with pytest.raises(StreamError, match="no such file"):
        read_tracker_file(tmp_path / "missing.jsonl")


def test_streams_in_the_wrong_units_frames_or_shapes_are_refused(tmp_path: Path) -> None:
    """A stream that cannot be a person in meters, Z up, with timestamps in seconds is refused with the likely cause
    (it would otherwise drive the character, and even "stay up" against its own head height)."""
    steps = [0.0, 1 / 30, 2 / 30, 3 / 30]

    def scaled(name: str, k: float, **extra: object) -> Path:
        pose = {"pos": [0.0, 0.0, 1.5 * k], "quat": [1.0, 0.0, 0.0, 0.0]}
        return write(tmp_path / name, [{"t": t, **{tr: pose for tr in TRACKERS}, **extra} for t in steps])

    with pytest.raises(StreamError, match=r"median height is 150 m.*centimeters"):
        read_tracker_file(scaled("cm.jsonl", 100.0))
    yup = {"pos": [0.0, 1.5, 0.0], "quat": [1.0, 0.0, 0.0, 0.0]}
    with pytest.raises(StreamError, match=r"median height is 0 m.*Y-up"):
        read_tracker_file(write(tmp_path / "yup.jsonl", [{"t": t, **{k: yup for k in TRACKERS}} for t in steps]))
    far = {"pos": [5.0, 0.0, 1.5], "quat": [1.0, 0.0, 0.0, 0.0]}
    with pytest.raises(StreamError, match=r"left_hand is 5 m from the head"):
        read_tracker_file(scaled("far.jsonl", 1.0, left_hand=far))
    ms = write(tmp_path / "ms.jsonl", [sample(1.7e12 + 33.3 * i) for i in range(30)])
    with pytest.raises(StreamError, match=r"timestamps must be seconds \(milliseconds\? divide by 1000\)"):
        read_tracker_file(ms)  # a grid of 30,000 frames for 30 samples
    gap = write(tmp_path / "gap.jsonl", [*(sample(i / 30) for i in range(30)), sample(1e9)])
    with pytest.raises(StreamError, match=r"largest gap"):
        read_tracker_file(gap)  # never allocates the grid
    with pytest.raises(StreamError, match=r"1 sample\(s\); it needs at least two"):
        read_tracker_file(write(tmp_path / "one.jsonl", [sample(0.0)]))
    with pytest.raises(StreamError, match=r"noquat.jsonl:2: head: a pose needs both pos .* only pos"):
        read_tracker_file(write(tmp_path / "noquat.jsonl", [sample(0.0), sample(0.1, head={"pos": [0, 0, 1.5]})]))
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(StreamError, match="not a UTF-8 text file"):
        read_tracker_file(tmp_path / "bin.csv")


def test_csv_rows_must_keep_the_header_width_and_the_header_may_have_spaces_or_a_bom(tmp_path: Path) -> None:
    cols = ["t"] + [f"{k}_{c}" for k in TRACKERS for c in ("x", "y", "z", "qw", "qx", "qy", "qz")]
    row = lambda t: [str(t)] + ["0", "0", "1.5", "1", "0", "0", "0"] * len(TRACKERS)  # noqa: E731
    body = "\n".join(", ".join(row(i / 30)) for i in range(3))
    (tmp_path / "ok.csv").write_text("\ufeff" + ", ".join(cols) + "\n" + body + "\n", encoding="utf-8")
    assert read_tracker_file(tmp_path / "ok.csv").pos.shape == (3, 3, 3)
    short = "\n".join([",".join(cols), ",".join(row(0)), ",".join(row(0.1)[:-1])])
    (tmp_path / "short.csv").write_text(short + "\n")
    with pytest.raises(StreamError, match=r"short.csv:3: 21 cells where the header has 22"):
        read_tracker_file(tmp_path / "short.csv")


def test_nan_and_missing_samples_hold_the_last_pose(tmp_path: Path) -> None:
    moved = {"pos": [0.1, 0.0, 1.5], "quat": [1.0, 0.0, 0.0, 0.0]}
    lines = [
        sample(0.0),
        sample(1 / 30, head=moved),
        sample(2 / 30, head={"pos": [math.nan, 0, 0], "quat": [1, 0, 0, 0]}),  # NaN: a dropout
        sample(3 / 30, head={"pos": [0, 0, 1.5], "quat": [0, 0, 0, 0]}),  # not a rotation: a dropout
        sample(4 / 30, left_hand=None),
    ]
    signals = read_tracker_file(write(tmp_path / "s.jsonl", lines))
    assert signals.valid[:, 0].tolist() == [True, True, False, False, True]
    assert not signals.valid[4, 1]
    held = hold_last(signals)
    np.testing.assert_allclose(held.pos[2:4, 0], [[0.1, 0.0, 1.5]] * 2)
    np.testing.assert_allclose(held.pos[4, 1], [0.0, 0.0, 1.5])


def test_stale_reports_count_as_missing(tmp_path: Path) -> None:
    lines = [sample(0.0), sample(0.5)]  # nothing for half a second
    signals = read_tracker_file(write(tmp_path / "gap.jsonl", lines), stale_s=0.2)
    assert signals.pos.shape[0] == 16 and signals.valid[:7].all() and not signals.valid[7:15].any()


def test_timestamps_too_large_for_a_float_or_quoted_are_refused_naming_the_line(tmp_path: Path) -> None:
    def raw(name: str, first: str) -> Path:
        rest = [json.dumps(sample(i / 30)) for i in range(1, 10)]
        (tmp_path / name).write_text("\n".join([first, *rest]) + "\n")
        return tmp_path / name

    poses = json.dumps(sample(0.0))[len('{"t": 0.0') :]
    for name, t in [("i400.jsonl", "1" + "0" * 400), ("i5000.jsonl", "1" + "0" * 5000), ("f.jsonl", "1e400")]:
        with pytest.raises(StreamError, match=rf"{name}:1: t=1.* is too large for seconds"):
            read_tracker_file(raw(name, '{"t": ' + t + poses))  # an OverflowError / int() digit limit before
    span = [sample(-1e308), *(sample(i / 30) for i in range(1, 10)), sample(1e308)]
    with pytest.raises(StreamError, match=r"span.jsonl:1 \(t=-1e\+308\): no tracker reports for 1e\+308 s"):
        read_tracker_file(write(tmp_path / "span.jsonl", span))  # the span overflowed to inf before
    with pytest.raises(StreamError, match=r"qt.jsonl:1: t='0' is not a number; .* without quotes"):
        quoted_t = [sample("0"), sample(0.1), sample(0.2)]  # type: ignore[arg-type]
        read_tracker_file(write(tmp_path / "qt.jsonl", quoted_t))
    quoted = {"pos": ["1", "2", "1.5"], "quat": [1, 0, 0, 0]}
    with pytest.raises(StreamError, match=r"qp.jsonl:2: head: pos\[0\]='1' is not a number; .* without quotes"):
        read_tracker_file(write(tmp_path / "qp.jsonl", [sample(0.0), sample(0.1, head=quoted), sample(0.2)]))
    huge = {"pos": [0, 0, 10**400], "quat": [1, 0, 0, 0]}  # too large for a float: a dropout, as inf is
    signals = read_tracker_file(
        write(tmp_path / "hp.jsonl", [sample(i / 30) for i in range(3)] + [sample(0.1, head=huge)])
    )
    assert signals.valid[:, 0].tolist() == [True, True, True, False]
    with pytest.raises(StreamError, match=r"input='' is empty"):
        read_tracker_file("")


def test_streams_too_short_too_sparse_or_with_long_gaps_are_refused(tmp_path: Path) -> None:
    from ember.sims.humanoid.stream import MAX_GAP_S

    with pytest.raises(StreamError, match=r"spans 0.001 s \(1 frame\(s\).*at least two samples spanning 0.0667 s"):
        read_tracker_file(write(tmp_path / "close.jsonl", [sample(0.0), sample(0.001)]))  # ran as "frames: 1" before
    gap = [sample(i / 30) for i in range(156)] + [sample(100 + i / 30) for i in range(156, 312)]
    with pytest.raises(StreamError, match=r"gap.jsonl:156 \(t=5.16667\): no tracker reports for 100 s .*split"):
        read_tracker_file(write(tmp_path / "gap.jsonl", gap))  # 3312 frames, 9 % measured, before
    none = {k: None for k in TRACKERS}  # samples keep coming, but no tracker is in them
    silent = [sample(i / 30, **(none if 30 <= i < 150 else {})) for i in range(180)]
    with pytest.raises(StreamError, match=r"silent.jsonl:30 \(t=0.966667\): no tracker reports for 4.033 s"):
        read_tracker_file(write(tmp_path / "silent.jsonl", silent))
    slow = [sample(i / 10) for i in range(50)]  # 10 Hz: two frames in three without a report
    with pytest.raises(StreamError, match=r"only 34% of the stream's 148 frames .* 0.1 s apart \(10 Hz\)"):
        read_tracker_file(write(tmp_path / "slow.jsonl", slow))
    # a VR runtime at 72 Hz with jitter, a dropout of all trackers shorter than MAX_GAP_S: on the grid, held
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.8, 1.2, 700) / 72)
    t = np.concatenate([t[:300], t[300:] + 0.5 * MAX_GAP_S])
    signals = read_tracker_file(write(tmp_path / "vr.jsonl", [sample(float(x)) for x in t]))
    run = np.flatnonzero(~signals.valid[:, 0])
    assert signals.valid.mean() > 0.9 and 0 < len(run) < MAX_GAP_S * 30 and np.all(np.diff(run) == 1)

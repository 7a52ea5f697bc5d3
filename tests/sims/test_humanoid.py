"""DeepMimic humanoid in MuJoCo: clips load, MuJoCo FK matches PyBullet on the clip's own frames, the scale puts the
feet on the floor, augmentations, sparse tracker signals, the second morphology, and a stable PD rollout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

mujoco = pytest.importorskip("mujoco")

from ember.sims.humanoid.character import (  # noqa: E402
    CONTROL_DECIMATION,
    JOINTS,
    URDF_PATH,
    URDF_SCALE,
    humanoid_mjcf,
    load_humanoid,
    model_hash,
)
from ember.sims.humanoid.motion import (  # noqa: E402
    CLIP_NAMES,
    SPLITS,
    ClipError,
    forward_kinematics,
    frames_to_qpos,
    ground,
    held_out_variants,
    load_clip,
    load_clip_file,
    lowest_points,
    mirror,
    motions_dir,
    read_frames,
    rotate_heading,
    time_warp,
)
from ember.sims.humanoid.rotations import y_up_to_z_up  # noqa: E402
from ember.sims.humanoid.sparse import SparseConfig, hold_last, sparse_from_clip, sparse_from_poses  # noqa: E402

FK_FRAME_STRIDE = 4  # compare every 4th keyframe
FK_TOLERANCE = 0.01  # [m]


@cache
def _model(leg_scale: float = 1.0, arm_scale: float = 1.0) -> mujoco.MjModel:
    return load_humanoid(leg_scale, arm_scale)


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_every_clip_loads_on_the_30hz_grid(name: str) -> None:
    clip = load_clip(name)
    assert clip.qpos.shape == (clip.num_frames, 35) and clip.qvel.shape == (clip.num_frames, 34)
    assert np.isfinite(clip.qpos).all() and np.isfinite(clip.qvel).all()
    assert clip.times[-1] >= clip.duration - 1e-6 and clip.times[-2] < clip.duration
    assert np.allclose(np.linalg.norm(clip.qpos[:, 3:7], axis=1), 1.0)


@pytest.mark.parametrize("name", CLIP_NAMES)
def test_mujoco_fk_matches_pybullet_on_the_clips_own_frames(name: str) -> None:
    import pybullet as p
    import pybullet_data

    frames, _ = read_frames(motions_dir() / f"humanoid3d_{name}.txt")
    frames = frames[::FK_FRAME_STRIDE]
    qpos = frames_to_qpos(frames)
    mj = forward_kinematics(_model(), qpos)
    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(
            str(Path(pybullet_data.getDataPath()) / URDF_PATH),
            globalScaling=URDF_SCALE,
            useFixedBase=False,
            flags=p.URDF_MAINTAIN_LINK_ORDER,
            physicsClientId=client,
        )
        links = {p.getJointInfo(body, j, client)[12].decode(): j for j in range(p.getNumJoints(body, client))}
        assert len(links) == 15
        worst = 0.0
        for row, frame in enumerate(frames):
            w, x, y, z = frame[4:8] / np.linalg.norm(frame[4:8])
            p.resetBasePositionAndOrientation(body, frame[1:4], (x, y, z, w), client)
            for slot in JOINTS[1:]:
                value = frame[slice(*slot.clip_columns)]
                # PyBullet uses a quaternion as given; backflip's and roll's are up to 19 % off unit length
                value = value / np.linalg.norm(value) if slot.kind == "ball" else value
                target = [*value[1:], value[0]] if slot.kind == "ball" else [value[0]]  # PyBullet: (x, y, z, w)
                p.resetJointStateMultiDof(body, links[slot.name], target, physicsClientId=client)
            for link, j in links.items():
                world = np.array(p.getLinkState(body, j, computeForwardKinematics=True, physicsClientId=client)[4])
                worst = max(worst, float(np.linalg.norm(y_up_to_z_up(world)[0] - mj[link][row])))
    finally:
        p.disconnect(client)
    assert worst < FK_TOLERANCE, f"{name}: max link position error {worst * 1000:.2f} mm"


def test_scale_puts_the_walking_feet_on_the_floor() -> None:
    model, clip = _model(), load_clip("walk")
    data = mujoco.MjData(model)
    feet = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, g) for g in ("right_ankle", "left_ankle")]
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    lowest = np.inf
    for qpos in clip.qpos:
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        for g in feet:
            corners = data.geom_xpos[g] + (signs * model.geom_size[g]) @ data.geom_xmat[g].reshape(3, 3).T
            lowest = min(lowest, corners[:, 2].min())
    assert 0.8 < clip.qpos[0, 2] < 0.9  # pelvis height [m]
    assert abs(lowest) < 0.015, f"lowest foot corner at {lowest:.3f} m: the scale does not match the clips"


def test_grounding_lifts_frames_in_the_floor_and_only_those() -> None:
    model = _model()
    punch = load_clip("punch").qpos
    raw = lowest_points(model, punch)
    assert raw.min() < -0.02  # the clip as shipped stands 2+ cm in the floor somewhere
    fixed = ground(model, punch)
    np.testing.assert_allclose(np.minimum(lowest_points(model, fixed), 0.0), 0.0, atol=1e-9)
    lifted = raw < 0
    np.testing.assert_allclose(fixed[:, 2] - punch[:, 2], np.where(lifted, -raw, 0.0), atol=1e-12)
    np.testing.assert_array_equal(fixed[:, 3:], punch[:, 3:])  # only the root's height changes
    standing = np.r_[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, np.zeros(model.nu)]
    height = lowest_points(model, standing)[0]  # a straight-legged pose: its feet's soles are lowest
    data = mujoco.MjData(model)
    data.qpos[:] = standing
    mujoco.mj_kinematics(model, data)
    foot = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "right_ankle")
    assert abs(height - (data.geom_xpos[foot][2] - model.geom_size[foot][2])) < 1e-3


def test_sample_interpolates_and_wraps_with_the_root_advancing() -> None:
    clip = load_clip("walk")
    qpos, qvel = clip.sample(clip.times[5])
    assert np.allclose(qpos, clip.qpos[5]) and np.allclose(qvel, clip.qvel[5])
    later, _ = clip.sample(clip.times[5] + 2 * clip.duration)
    assert np.allclose(later[:3], clip.qpos[5, :3] + 2 * clip.cycle_offset, atol=1e-6)
    assert np.allclose(later[7:], clip.qpos[5, 7:], atol=1e-6)
    batch, _ = clip.sample(np.array([[0.0, 0.5], [1.0, 3.0]]))
    assert batch.shape == (2, 2, 35)
    model, data_velocity = _model(), np.zeros(34)
    mujoco.mj_differentiatePos(model, data_velocity, 2 / clip.fps, clip.qpos[9], clip.qpos[11])
    assert np.allclose(data_velocity[:3], clip.qvel[10, :3]) and np.allclose(data_velocity[6:], clip.qvel[10, 6:])


def test_mirroring_twice_is_the_identity_and_swaps_sides() -> None:
    clip = load_clip("kick")
    once, twice = mirror(clip), mirror(mirror(clip))
    assert np.allclose(twice.qpos, clip.qpos) and np.allclose(twice.qvel, clip.qvel)
    original, mirrored = forward_kinematics(_model(), clip.qpos), forward_kinematics(_model(), once.qpos)
    reflect = np.array([1.0, -1.0, 1.0])
    for side, other in (("right_hand", "left_hand"), ("left_foot", "right_foot"), ("head", "head")):
        assert np.allclose(mirrored[side], original[other] * reflect, atol=1e-9)


def test_heading_rotation_keeps_height_and_rotates_the_path() -> None:
    clip = load_clip("walk")
    turned = rotate_heading(clip, np.pi / 2)
    assert np.allclose(turned.qpos[:, 2], clip.qpos[:, 2])
    assert np.allclose(turned.qpos[:, 0], -clip.qpos[:, 1]) and np.allclose(turned.qpos[:, 1], clip.qpos[:, 0])
    head, turned_head = (forward_kinematics(_model(), c.qpos)["head"] for c in (clip, turned))
    assert np.allclose(turned_head[:, 2], head[:, 2])
    assert np.allclose(turned.cycle_offset, [0.0, clip.cycle_offset[0], 0.0])


def test_time_warp_shortens_the_clip_and_scales_velocities() -> None:
    clip = load_clip("run")
    fast = time_warp(clip, 1.2)
    assert fast.duration == pytest.approx(clip.duration / 1.2)
    assert fast.num_frames == pytest.approx(clip.num_frames / 1.2, abs=1)
    assert np.allclose(fast.sample(0.5)[0], clip.sample(0.6)[0], atol=0.05)
    speed = np.linalg.norm(fast.qvel[:, :2], axis=1).mean() / np.linalg.norm(clip.qvel[:, :2], axis=1).mean()
    assert speed == pytest.approx(1.2, rel=0.02)


def test_splits_and_held_out_variants() -> None:
    assert set(SPLITS["train"]).isdisjoint(SPLITS["held_out"])
    variants = held_out_variants()
    assert len(variants) == 3 * len(SPLITS["train"])
    assert {"walk@yaw+90", "walk@x0.8", "walk@x1.2"} <= set(variants)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["Frames"][3].pop(), "frame 3 has 43 numbers"),
        (lambda d: d["Frames"][5].__setitem__(21, "x"), "frame 5, field 'right_ankle'"),
        (lambda d: d["Frames"][2].__setitem__(16, float("nan")), "frame 2, field 'right_hip'"),
        (lambda d: d.__setitem__("Loop", "forever"), "field 'Loop' must be one of"),
    ],
)
def test_corrupt_clip_files_name_file_frame_and_field(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((motions_dir() / "humanoid3d_walk.txt").read_text())
    mutate(data)
    path = tmp_path / "humanoid3d_broken.txt"
    path.write_text(json.dumps(data))
    with pytest.raises(ClipError, match=expected) as info:
        load_clip_file(path)
    assert str(path) in str(info.value)
    with pytest.raises(ClipError, match="no such clip file"):
        load_clip_file(tmp_path / "missing.txt")


def test_sparse_signals_shapes_latency_dropout_and_hold_last() -> None:
    clip = load_clip("walk")
    clean = sparse_from_clip(clip, _model())
    assert clean.pos.shape == (clip.num_frames, 3, 3) and clean.quat.shape == (clip.num_frames, 3, 4)
    assert clean.valid.all() and np.allclose(clean.pos[:, 0], forward_kinematics(_model(), clip.qpos)["head"])
    late = sparse_from_clip(clip, _model(), SparseConfig(latency_s=0.1))  # 3 frames at 30 Hz
    assert np.allclose(late.pos[3:], clean.pos[:-3]) and np.allclose(late.pos[:3], clean.pos[0])
    noisy = sparse_from_clip(clip, _model(), SparseConfig(noise_pos_m=0.01, noise_rot_rad=0.05, seed=3))
    assert 0.005 < np.std(noisy.pos - clean.pos) < 0.015
    assert np.allclose(np.linalg.norm(noisy.quat, axis=-1), 1.0)
    # dropout over many frames: the share of missing samples matches the setting
    pos = np.repeat(clean.pos, 100, axis=0)
    quat = np.repeat(clean.quat, 100, axis=0)
    dropped = sparse_from_poses(pos, quat, SparseConfig(dropout=0.2, seed=1))
    assert 1 - dropped.valid.mean() == pytest.approx(0.2, abs=0.02)
    assert np.isnan(dropped.pos[~dropped.valid]).all() and not np.isnan(dropped.pos[dropped.valid]).any()
    filled = hold_last(dropped)
    assert not np.isnan(filled.pos).any() and not np.isnan(filled.quat).any()
    for t, k in np.argwhere(~dropped.valid)[:50]:
        earlier = np.flatnonzero(dropped.valid[:t, k])
        source = earlier[-1] if earlier.size else np.flatnonzero(dropped.valid[:, k])[0]
        assert np.allclose(filled.pos[t, k], dropped.pos[source, k])
        assert np.allclose(filled.quat[t, k], dropped.quat[source, k])


def test_second_morphology_has_shorter_legs_and_longer_arms() -> None:
    assert model_hash(humanoid_mjcf()) != model_hash(humanoid_mjcf(0.7, 1.3))
    qpos = load_clip("walk").qpos[:1]
    base, other = forward_kinematics(_model(), qpos), forward_kinematics(_model(0.7, 1.3), qpos)

    def length(fk: dict[str, np.ndarray], a: str, b: str) -> float:
        return float(np.linalg.norm(fk[a][0] - fk[b][0]))

    assert length(other, "right_hip", "right_ankle") / length(base, "right_hip", "right_ankle") == pytest.approx(0.7)
    assert length(other, "left_shoulder", "left_wrist") / length(base, "left_shoulder", "left_wrist") == pytest.approx(
        1.3
    )


def test_pd_to_the_walk_clip_steps_stably() -> None:
    model, clip = _model(), load_clip("walk")
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = clip.qpos[0], clip.qvel[0]
    head = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, "head")
    for k in range(9):  # 0.3 s at 30 Hz
        data.ctrl[:] = clip.sample((k + 1) / clip.fps)[0][7:]
        mujoco.mj_step(model, data, nstep=CONTROL_DECIMATION)
        assert data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number == 0
        assert np.isfinite(data.qpos).all() and data.site_xpos[head, 2] > 0.5


def test_the_drive_sets_damping_and_armature_and_the_default_keeps_the_trained_model() -> None:
    """The default drive is the MJCF every earlier policy was trained on (its hash is in their meta.json); a lighter
    one lowers each hinge's passive damping (a multiple of its kp) and adds armature; nonsense is refused by name."""
    trained = (
        "01fc6e9f7e03d6bd"  # the model hash in the meta.json of every policy trained before the drive was a setting
    )
    assert model_hash(humanoid_mjcf()) == trained
    default, light = _model(), load_humanoid(joint_damping=0.025, armature=0.01)
    assert light.dof_damping[6:] == pytest.approx(default.dof_damping[6:] / 4)
    assert default.dof_armature[6:] == pytest.approx(0.0) and light.dof_armature[6:] == pytest.approx(0.01)
    assert model_hash(humanoid_mjcf(joint_damping=0.025, armature=0.01)) != trained
    for field, value in (("joint_damping", -0.1), ("joint_damping", float("nan")), ("armature", 2.0)):
        with pytest.raises(ValueError, match=f"{field} must be in"):
            humanoid_mjcf(**{field: value})


def test_a_light_drive_stays_stable_under_wild_pd_targets() -> None:
    """Less passive damping lets the joints move as fast as the clips do; with armature the light DoFs (upper-arm
    twist) stay stable under uniform +-3 rad PD targets, as the default drive does."""
    from ember.sims.humanoid.retarget_env import ACTION_SCALE, RetargetVecEnv

    env = RetargetVecEnv(num_envs=12, clips=["run"], mirror=False, joint_damping=0.025, armature=0.01, seed=1)
    env.reset_to("run", list(range(12)))
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, _, _, _, extras = env.step(__import__("torch").as_tensor(rng.uniform(-3, 3, (12, 28)) / ACTION_SCALE))
        assert extras["log"]["unstable"] == 0.0
        assert all(np.isfinite(d.qpos).all() for d in env.datas)

"""DeepMimic motion clips for the MuJoCo humanoid: loading, 30 Hz resampling, augmentation, splits, kinematics.

The 15 clips ship in pybullet_data as ``data/motions/humanoid3d_<name>.txt``: JSON with ``Loop`` ("wrap" or "none")
and ``Frames``, each frame 44 numbers: duration [s], root position (3) [m] and root quaternion (w, x, y, z) in a Y-up
world, then chest, neck, right hip (quaternions), right knee (angle [rad]), right ankle, right shoulder (quaternions),
right elbow (angle), then the left side in the same order. Joint quaternions are relative to the parent link.

A :class:`Clip` holds MuJoCo states (``character.py``: Z-up world, 35 qpos, 34 qvel) on a fixed 30 Hz grid. Keyframes
are resampled with slerp (DeepMimic's interpolation) and converted: root pose rotated into the Z-up world, each
spherical joint to three intrinsic-XYZ hinge angles (unwrapped over time, so they may leave (-π, π]), knees and elbows
as they are. Velocities are central finite differences: root linear velocity in the world frame, root angular velocity
in the root frame (MuJoCo's free-joint convention), hinge rates. For a "wrap" clip, time runs on past ``duration`` and
every cycle adds the clip's horizontal root displacement (``cycle_offset``), as DeepMimic does; a "none" clip holds its
last pose.

Augmentations (:func:`mirror`, :func:`rotate_heading`, :func:`time_warp`) are pure functions returning new clips.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ember.sims.humanoid.character import CLIP_FRAME_SIZE, JOINT_BY_NAME, JOINTS, TRACKED_SITES
from ember.sims.humanoid.rotations import (
    euler_xyz_to_quat,
    quat_conj,
    quat_mul,
    quat_normalize,
    quat_to_axis_angle,
    quat_to_euler_xyz,
    quat_to_mat,
    slerp,
    y_up_to_z_up,
    yaw_quat,
)

if TYPE_CHECKING:
    import mujoco

FPS = 30.0  # [Hz] the grid every clip is resampled to (the control rate)
CLIP_NAMES = (
    *("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump", "kick"),
    *("punch", "roll", "run", "spin", "spinkick", "walk"),
)
SPLITS: dict[str, list[str]] = {"train": ["walk", "run", "punch", "kick"], "held_out": ["dance_a", "dance_b"]}
"""Fixed split by clip; :func:`held_out_variants` adds perturbed copies of the training clips to the held-out set."""
HELD_OUT_YAW = math.pi / 2  # [rad] heading of the held-out variants
HELD_OUT_SPEEDS = (0.8, 1.2)  # time-warp factors of the held-out variants

_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("duration", 0, 1),
    ("root_position", 1, 4),
    ("root_quaternion", 4, 8),
    *((slot.name, *slot.clip_columns) for slot in JOINTS[1:]),
)
"""Named column ranges ``[start, stop)`` of a clip frame, for error messages."""
_BALLS = tuple(slot for slot in JOINTS if slot.kind == "ball")
_HINGES = tuple(slot for slot in JOINTS if slot.kind == "hinge")


class ClipError(ValueError):
    """A clip file that cannot be used; the message names the file, the frame and the field."""


@dataclass(frozen=True, eq=False)
class Clip:
    """A motion as MuJoCo states of the humanoid on a uniform grid; frame ``k`` is at ``k / fps`` seconds."""

    name: str
    qpos: np.ndarray
    """(T, 35): root position [m], root quaternion (w, x, y, z), 28 hinge angles [rad] in ``character.HINGE_NAMES``
    order."""
    qvel: np.ndarray
    """(T, 34): root linear velocity (world) [m/s], root angular velocity (root frame) [rad/s], hinge rates [rad/s]."""
    duration: float
    """Length of one cycle [s]; the grid's last frame is at or just past it."""
    loop: bool
    """True for "wrap" clips: time continues past ``duration`` with the root advancing by ``cycle_offset`` a cycle."""
    cycle_offset: np.ndarray
    """(3,) horizontal root displacement per cycle [m] (zero for clips that do not loop)."""
    fps: float = FPS

    @property
    def num_frames(self) -> int:
        return int(self.qpos.shape[0])

    @property
    def times(self) -> np.ndarray:
        """(T,) frame times [s]."""
        return np.arange(self.num_frames) / self.fps

    def sample(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State at time(s) ``t`` [s]: ``(qpos, qvel)`` of shape ``(..., 35)`` and ``(..., 34)``. Root rotation by
        slerp, everything else linearly; wrapped clips repeat with the root displaced, others hold their ends."""
        t = np.asarray(t, dtype=float)
        flat = t.reshape(-1)
        if self.loop:
            cycles = np.floor(flat / self.duration)
            phase = flat - cycles * self.duration
        else:
            cycles = np.zeros_like(flat)
            phase = np.clip(flat, 0.0, self.duration)
        x = phase * self.fps
        i = np.clip(np.floor(x).astype(int), 0, self.num_frames - 2)
        alpha = np.clip(x - i, 0.0, 1.0)[:, None]
        q0, q1 = self.qpos[i], self.qpos[i + 1]
        qpos = q0 + alpha * (q1 - q0)
        qpos[:, 3:7] = slerp(q0[:, 3:7], q1[:, 3:7], alpha[:, 0])
        qpos[:, :3] += cycles[:, None] * self.cycle_offset
        qvel = self.qvel[i] + alpha * (self.qvel[i + 1] - self.qvel[i])
        return qpos.reshape(*t.shape, -1), qvel.reshape(*t.shape, -1)


def motions_dir() -> Path:
    """Folder of the DeepMimic clips in pybullet_data."""
    import pybullet_data

    return Path(pybullet_data.getDataPath()) / "data" / "motions"


def load_clip(name: str) -> Clip:
    """Clip ``humanoid3d_<name>.txt`` from pybullet_data (``name`` one of :data:`CLIP_NAMES`)."""
    if name not in CLIP_NAMES:
        raise ClipError(f"clip name must be one of {list(CLIP_NAMES)}. Got {name!r}.")
    return load_clip_file(motions_dir() / f"humanoid3d_{name}.txt", name)


def load_clip_file(path: str | Path, name: str | None = None) -> Clip:
    """Clip from a DeepMimic motion file; raises :class:`ClipError` naming the file, frame and field on bad data."""
    path = Path(path)
    frames, loop = read_frames(path)
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    pos, quat = y_up_to_z_up(frames[:, 1:4], quat_normalize(frames[:, 4:8]))
    balls = np.stack([quat_normalize(frames[:, slice(*s.clip_columns)]) for s in _BALLS], 1)  # (n, 8, 4)
    hinges = np.stack([frames[:, s.clip_columns[0]] for s in _HINGES], 1)  # (n, 4)
    offset = np.array([pos[-1, 0] - pos[0, 0], pos[-1, 1] - pos[0, 1], 0.0]) if loop else np.zeros(3)
    duration = float(times[-1])

    def sampler(t: np.ndarray) -> np.ndarray:  # slerp between keyframes, then convert
        cycles = np.floor(t / duration) if loop else np.zeros_like(t)
        phase = t - cycles * duration if loop else np.clip(t, 0.0, duration)
        i = np.clip(np.searchsorted(times, phase, side="right") - 1, 0, len(times) - 2)
        alpha = np.clip((phase - times[i]) / np.maximum(times[i + 1] - times[i], 1e-9), 0.0, 1.0)
        return _to_qpos(
            pos[i] + alpha[:, None] * (pos[i + 1] - pos[i]) + cycles[:, None] * offset,
            slerp(quat[i], quat[i + 1], alpha),
            slerp(balls[i], balls[i + 1], alpha[:, None]),
            hinges[i] + alpha[:, None] * (hinges[i + 1] - hinges[i]),
        )

    return _resample(name or path.stem.removeprefix("humanoid3d_"), sampler, duration, loop, offset, FPS)


def frames_to_qpos(frames: np.ndarray) -> np.ndarray:
    """MuJoCo states ``(n, 35)`` of raw clip frames ``(n, 44)`` (as :func:`read_frames` returns them), one for one,
    without resampling or unwrapping."""
    pos, quat = y_up_to_z_up(frames[:, 1:4], quat_normalize(frames[:, 4:8]))
    balls = np.stack([quat_normalize(frames[:, slice(*s.clip_columns)]) for s in _BALLS], 1)
    return _to_qpos(pos, quat, balls, np.stack([frames[:, s.clip_columns[0]] for s in _HINGES], 1))


def _to_qpos(root_pos: np.ndarray, root_quat: np.ndarray, balls: np.ndarray, hinges: np.ndarray) -> np.ndarray:
    """Assemble qpos ``(n, 35)`` from Z-up root pose, ball-joint quaternions ``(n, 8, 4)`` (URDF joint frames) and
    knee/elbow angles ``(n, 4)``, in the clip's joint order."""
    qpos = np.zeros((root_pos.shape[0], 35))
    qpos[:, :3], qpos[:, 3:7] = root_pos, root_quat
    euler = quat_to_euler_xyz(balls)
    for k, slot in enumerate(_BALLS):
        qpos[:, list(slot.qpos)] = euler[:, k]
    for k, slot in enumerate(_HINGES):
        qpos[:, slot.qpos[0]] = hinges[:, k]
    return qpos


def read_frames(path: Path) -> tuple[np.ndarray, bool]:
    """Validated raw frames ``(n, 44)`` of a DeepMimic motion file and whether it loops ("wrap")."""
    if not path.is_file():
        raise ClipError(f"{path}: no such clip file. The DeepMimic clips are {list(CLIP_NAMES)} in {motions_dir()}.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClipError(f"{path}: not a JSON motion file ({exc}); expected {{'Loop': ..., 'Frames': [...]}}") from exc
    if not isinstance(data, dict) or data.get("Loop") not in ("wrap", "none"):
        got = data.get("Loop") if isinstance(data, dict) else type(data).__name__
        raise ClipError(f"{path}: field 'Loop' must be one of ['wrap', 'none']. Got {got!r}.")
    raw = data.get("Frames")
    if not isinstance(raw, list) or len(raw) < 2:
        raise ClipError(f"{path}: field 'Frames' must be a list of at least 2 frames of {CLIP_FRAME_SIZE} numbers.")
    frames = np.zeros((len(raw), CLIP_FRAME_SIZE))
    for i, frame in enumerate(raw):
        if not isinstance(frame, list) or len(frame) != CLIP_FRAME_SIZE:
            size = len(frame) if isinstance(frame, list) else type(frame).__name__
            raise ClipError(
                f"{path}: frame {i} has {size} numbers; expected {CLIP_FRAME_SIZE} (duration, root 7, joints)"
            )
        for field, start, stop in _FIELDS:
            values = frame[start:stop]
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise ClipError(
                    f"{path}: frame {i}, field {field!r} (columns {start}-{stop - 1}) is {values}; not numbers"
                )
            if not np.all(np.isfinite(values)):
                raise ClipError(
                    f"{path}: frame {i}, field {field!r} (columns {start}-{stop - 1}) is {values}; not finite"
                )
            if stop - start == 4 and not 0.5 < np.linalg.norm(values) < 1.5:
                raise ClipError(f"{path}: frame {i}, field {field!r} is {values}; not a unit quaternion (w, x, y, z)")
        frames[i] = frame
        if frames[i, 0] < 0:
            raise ClipError(f"{path}: frame {i}, field 'duration' is {frames[i, 0]}; must be >= 0 [s]")
    if frames[:-1, 0].sum() <= 0:
        raise ClipError(f"{path}: field 'duration' sums to 0 over frames 0..{len(raw) - 2}; the clip has no length")
    return frames, data["Loop"] == "wrap"


def _resample(
    name: str, sampler: Callable[[np.ndarray], np.ndarray], duration: float, loop: bool, offset: np.ndarray, fps: float
) -> Clip:
    """Clip on the grid ``k / fps`` covering ``[0, duration]`` from a function of time to qpos; velocities by central
    differences (one-sided at the ends of clips that do not loop)."""
    n = max(1, math.ceil(duration * fps - 1e-3))
    t = np.arange(-1, n + 2) / fps  # one frame of padding on each side
    q = sampler(t)
    q[:, 7:] = np.unwrap(q[:, 7:], axis=0)
    span = np.full(n + 1, 2.0 / fps)
    if not loop:  # poses before 0 and after the end are held: difference over the time that actually passed
        held = np.clip(t, 0.0, duration)
        span = np.maximum(held[2:] - held[:-2], 1e-9)
    prev, cur, nxt = q[:-2], q[1:-1], q[2:]
    qvel = np.zeros((n + 1, 34))
    qvel[:, :3] = (nxt[:, :3] - prev[:, :3]) / span[:, None]
    omega_world = quat_to_axis_angle(quat_mul(nxt[:, 3:7], quat_conj(prev[:, 3:7]))) / span[:, None]
    qvel[:, 3:6] = np.einsum("tji,tj->ti", quat_to_mat(cur[:, 3:7]), omega_world)  # R^T ω: root frame
    qvel[:, 6:] = (nxt[:, 7:] - prev[:, 7:]) / span[:, None]
    return Clip(name, cur.copy(), qvel, float(duration), loop, np.asarray(offset, dtype=float), fps)


def _mirror_tables() -> tuple[np.ndarray, np.ndarray]:
    perm, sign = np.arange(35), np.ones(35)
    for slot in JOINTS[1:]:
        other = JOINT_BY_NAME[slot.name.replace("right", "@").replace("left", "right").replace("@", "left")]
        perm[list(slot.qpos)] = other.qpos
        if slot.kind == "ball":  # reflecting y: rotations about x and the URDF's y (model z) change sign
            sign[list(slot.qpos[:2])] = -1.0
    return perm, sign


_MIRROR_PERM, _MIRROR_SIGN = _mirror_tables()


def mirror(clip: Clip) -> Clip:
    """The clip reflected through the sagittal plane (world y -> -y): left and right swap. Exact, because the
    skeleton is symmetric; mirroring twice returns the original."""
    qpos = clip.qpos[:, _MIRROR_PERM] * _MIRROR_SIGN
    qpos[:, :3] = clip.qpos[:, :3] * [1.0, -1.0, 1.0]
    qpos[:, 3:7] = clip.qpos[:, 3:7] * [1.0, -1.0, 1.0, -1.0]
    qvel = np.zeros_like(clip.qvel)
    qvel[:, 6:] = clip.qvel[:, _MIRROR_PERM[7:] - 1] * _MIRROR_SIGN[7:]
    qvel[:, :3] = clip.qvel[:, :3] * [1.0, -1.0, 1.0]
    qvel[:, 3:6] = clip.qvel[:, 3:6] * [-1.0, 1.0, -1.0]  # angular velocity is a pseudo-vector
    offset = clip.cycle_offset * [1.0, -1.0, 1.0]
    return Clip(f"{clip.name}@mirror", qpos, qvel, clip.duration, clip.loop, offset, clip.fps)


def rotate_heading(clip: Clip, yaw: float) -> Clip:
    """The clip turned by ``yaw`` [rad] about the world's vertical axis through the origin: heights and joint
    angles are unchanged, the horizontal path rotates."""
    rot = yaw_quat(yaw)
    mat = quat_to_mat(rot)
    qpos, qvel = clip.qpos.copy(), clip.qvel.copy()
    qpos[:, :3] = clip.qpos[:, :3] @ mat.T
    qpos[:, 3:7] = quat_mul(rot, clip.qpos[:, 3:7])
    qvel[:, :3] = clip.qvel[:, :3] @ mat.T  # the angular velocity is in the root frame: unchanged
    return Clip(
        f"{clip.name}@yaw{math.degrees(yaw):+.0f}", qpos, qvel, clip.duration, clip.loop, mat @ clip.cycle_offset
    )


def time_warp(clip: Clip, speed: float) -> Clip:
    """The clip played ``speed`` times as fast (duration / speed, velocities x speed), resampled to the grid."""
    if not 0.1 <= speed <= 10.0:
        raise ValueError(f"speed must be in [0.1, 10] (a time-warp factor). Got {speed}.")
    return _resample(
        f"{clip.name}@x{speed:g}",
        lambda t: clip.sample(t * speed)[0],
        clip.duration / speed,
        clip.loop,
        clip.cycle_offset,
        clip.fps,
    )


def load_split(split: str) -> dict[str, Clip]:
    """The clips of one of :data:`SPLITS` by name."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}. Got {split!r}.")
    return {name: load_clip(name) for name in SPLITS[split]}


def held_out_variants() -> dict[str, Clip]:
    """Perturbed training clips held out for evaluation: each turned by :data:`HELD_OUT_YAW` and played at each of
    :data:`HELD_OUT_SPEEDS` (-20 %, +20 %)."""
    out: dict[str, Clip] = {}
    for clip in load_split("train").values():
        for variant in (rotate_heading(clip, HELD_OUT_YAW), *(time_warp(clip, s) for s in HELD_OUT_SPEEDS)):
            out[variant.name] = variant
    return out


def joint_quaternions(qpos: np.ndarray) -> dict[str, np.ndarray]:
    """Each spherical joint's rotation ``(..., 4)`` (w, x, y, z) in its URDF joint frame, from hinge angles."""
    return {slot.name: euler_xyz_to_quat(qpos[..., list(slot.qpos)]) for slot in _BALLS}


def forward_kinematics(model: mujoco.MjModel, qpos_batch: np.ndarray) -> dict[str, np.ndarray]:
    """World positions ``(T, 3)`` [m] of every body (by body name) and tracked site (``character.TRACKED_SITES``)
    for a batch of states ``(T, 35)``."""
    body_pos, _, site_pos = _kinematics(model, qpos_batch)
    import mujoco

    out = {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b): body_pos[:, b] for b in range(1, model.nbody)}
    out.update({mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_SITE, s): site_pos[:, s] for s in range(model.nsite)})
    return out


def tracker_poses(
    model: mujoco.MjModel, qpos_batch: np.ndarray, sites: tuple[str, ...] = ("head", "left_hand", "right_hand")
) -> tuple[np.ndarray, np.ndarray]:
    """World poses of tracked sites: positions ``(T, K, 3)`` [m] and orientations ``(T, K, 4)`` (w, x, y, z) — the
    orientation of the body each site is fixed to."""
    import mujoco

    unknown = [s for s in sites if s not in TRACKED_SITES]
    if unknown:
        raise ValueError(f"sites must be among {list(TRACKED_SITES)}. Got {unknown}.")
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, s) for s in sites]
    _, body_quat, site_pos = _kinematics(model, qpos_batch)
    return site_pos[:, ids], body_quat[:, model.site_bodyid[ids]]


def _kinematics(model: mujoco.MjModel, qpos_batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import mujoco

    qpos_batch = np.atleast_2d(qpos_batch)
    if qpos_batch.shape[1] != model.nq:
        raise ValueError(f"qpos_batch must have shape (T, {model.nq}). Got {qpos_batch.shape}.")
    data = mujoco.MjData(model)
    count = qpos_batch.shape[0]
    body_pos, body_quat = np.zeros((count, model.nbody, 3)), np.zeros((count, model.nbody, 4))
    site_pos = np.zeros((count, model.nsite, 3))
    for k, qpos in enumerate(qpos_batch):
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        body_pos[k], body_quat[k], site_pos[k] = data.xpos, data.xquat, data.site_xpos
    return body_pos, body_quat, site_pos


def lowest_points(model: mujoco.MjModel, qpos_batch: np.ndarray) -> np.ndarray:
    """Height ``(T,)`` [m] of the lowest point of the character's collision geoms (boxes' corners, spheres' and
    capsules' surfaces) in each state of ``qpos_batch`` ``(T, nq)``; below 0 the pose is in the floor."""
    import mujoco

    qpos_batch = np.atleast_2d(qpos_batch)
    data = mujoco.MjData(model)
    geoms = [g for g in range(model.ngeom) if model.geom_bodyid[g] != 0]  # the floor belongs to the world body
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    low = np.full(len(qpos_batch), np.inf)
    for k, qpos in enumerate(qpos_batch):
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        for g in geoms:
            size, centre, rot = model.geom_size[g], data.geom_xpos[g], data.geom_xmat[g].reshape(3, 3)
            kind = model.geom_type[g]
            if kind == mujoco.mjtGeom.mjGEOM_BOX:
                z = float((centre + (signs * size) @ rot.T)[:, 2].min())
            elif kind == mujoco.mjtGeom.mjGEOM_CAPSULE:
                z = centre[2] - abs(rot[2, 2]) * size[1] - size[0]  # the segment runs along the geom's z axis
            else:  # sphere (and anything else: its bounding sphere)
                z = centre[2] - (size[0] if kind == mujoco.mjtGeom.mjGEOM_SPHERE else model.geom_rbound[g])
            low[k] = min(low[k], z)
    return low


def ground(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """``qpos`` ``(T, nq)`` with the root raised wherever the character would be in the floor (by how deep it would
    be). Mocap clips put the feet a few cm into the ground on some frames (pybullet_data's punch: 3 cm on most
    frames; run: up to 6 cm); a soft-contact engine answers a reference-state start there by launching the character."""
    out = np.array(qpos, dtype=np.float64, copy=True)
    out[:, 2] += np.maximum(0.0, -lowest_points(model, out))
    return out

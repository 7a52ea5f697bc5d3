"""The DeepMimic humanoid as a MuJoCo model, rebuilt from pybullet_data's ``humanoid/humanoid.urdf``.

The URDF is read with ``xml.etree`` at build time and every number (joint offsets, collision shapes, masses, knee and
elbow limits) comes from it, scaled by ``URDF_SCALE`` = 0.25, the ``globalScaling`` DeepMimic loads it with: the clips'
root positions are in that scaled frame (walk's pelvis at 0.85 m puts the feet on the floor, see the tests). The result
is ~45 kg and 1.6 m tall, with 15 bodies and 28 DoF: spherical chest, neck, hips, ankles and shoulders, hinged knees
and elbows, a free root.

Frames: the URDF is Y-up (x forward, y up, z right); the model is built Z-up (x forward, y left, z up) by rotating
every offset and axis by +90° about x. Each spherical joint becomes three hinges named ``<joint>_x``, ``_y``, ``_z``
after the URDF joint frame's axes, which are +x, +z and −y of the model: in that order they compose to intrinsic XYZ
Euler angles of the URDF joint rotation, exactly (``rotations.quat_to_euler_xyz``). Because the limbs hang along the
URDF y axis, the middle angle is their twist and stays clear of gimbal lock over every clip (max 80°).

Physics: 240 Hz (``TIMESTEP``), ``implicitfast`` integration, gravity 9.8 m/s² and friction 0.9 as in DeepMimic's
PyBullet env; control is meant at 30 Hz (``mj_step(model, data, nstep=CONTROL_DECIMATION)``). One ``position``
actuator per hinge with DeepMimic's ``kp`` [N m/rad] and torque limit as force range [N m]; DeepMimic's velocity gain
``kv = kp / 10`` [N m s/rad] is the hinge's joint damping rather than the actuator's ``kv``. Why: MuJoCo clamps the
actuator force explicitly (with the current velocity) before the implicit step, so ``kp·e − kv·v`` saturates at a
few rad/s and the light DoFs (upper-arm twist ~0.002 kg m²) then blew up within three control steps on every clip;
as passive damping it is integrated implicitly and never clamped (0 of 30 runs unstable under ±3 rad action noise,
against 30 of 30 with actuator ``kv`` and 17 of 30 with unclamped actuator ``kv``). The difference from DeepMimic's
stable PD: damping beyond the torque limit at high joint speed. Inertias come from the collision shapes and the URDF
masses as in PyBullet, which ignores the URDF's 0.1 placeholder inertias (without ``URDF_USE_INERTIA_FROM_FILE``);
MuJoCo's capsules are exact where PyBullet approximates them by boxes (~20 % more transverse inertia). Every body geom
collides with the floor; self-collision is off. Knee and elbow ranges are the URDF's; dance_b, spin and spinkick
bend a knee up to 0.22 rad past its limit of 0.
"""

from __future__ import annotations

import hashlib
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypedDict

import numpy as np

if TYPE_CHECKING:
    import mujoco

URDF_SCALE = 0.25
"""``globalScaling`` of the DeepMimic humanoid in PyBullet; the clips' root positions are in this frame."""
TIMESTEP = 1.0 / 240.0  # [s]
CONTROL_DECIMATION = 8  # physics steps per control step: 30 Hz control
GRAVITY = 9.8  # [m/s^2], DeepMimic's
FRICTION = 0.9  # sliding friction of floor and body geoms, DeepMimic's lateralFriction
URDF_PATH = "humanoid/humanoid.urdf"
"""Relative to ``pybullet_data.getDataPath()``."""

JointKind = Literal["free", "ball", "hinge"]


@dataclass(frozen=True)
class JointSlot:
    """Where one DeepMimic joint lives in a clip frame and in the MuJoCo state."""

    name: str
    """URDF joint name (``right_knee``); hinges of a ball joint are ``<name>_x``, ``_y``, ``_z``."""
    kind: JointKind
    clip_columns: tuple[int, int]
    """Columns ``[start, stop)`` of the 44-number clip frame (column 0 is the frame duration)."""
    qpos: tuple[int, ...]
    """Indices into ``MjData.qpos`` (free: position 3 + quaternion 4; ball: 3 hinge angles; hinge: 1)."""
    dofs: tuple[int, ...]
    """Indices into ``MjData.qvel`` (free: linear 3 in world frame, angular 3 in the root frame)."""
    kp: float = 0.0
    """DeepMimic position gain [N m/rad]; the velocity gain ``kp / 10`` [N m s/rad] is the hinges' joint damping."""
    max_force: float = 0.0
    """DeepMimic torque limit per axis [N m]."""


JOINT_DAMPING = 0.1
"""Default passive damping of each hinge per unit of its ``kp`` [s]: DeepMimic's ``kv = kp / 10``."""


class Drive(TypedDict):
    """A character's drive, as :func:`humanoid_mjcf` and :func:`load_humanoid` take it (``**drive``)."""

    joint_damping: float
    armature: float


_GAINS: dict[str, tuple[JointKind, float, float]] = {
    # kind, kp [N m/rad], max force [N m]: pybullet_envs' humanoid_stable_pd.py (_kpOrg) and
    # pybullet_deep_mimic_env.py (maxForces)
    "chest": ("ball", 1000, 200),
    "neck": ("ball", 100, 50),
    **{f"{side}_hip": ("ball", 500, 200) for side in ("right", "left")},
    **{f"{side}_knee": ("hinge", 500, 150) for side in ("right", "left")},
    **{f"{side}_ankle": ("ball", 400, 90) for side in ("right", "left")},
    **{f"{side}_shoulder": ("ball", 400, 100) for side in ("right", "left")},
    **{f"{side}_elbow": ("hinge", 300, 60) for side in ("right", "left")},
}
CLIP_ORDER = (
    "chest",
    "neck",
    *(f"{s}_{j}" for s in ("right", "left") for j in ("hip", "knee", "ankle", "shoulder", "elbow")),
)
"""Joints after the root in a clip frame."""
QPOS_ORDER = (
    *("chest", "neck", "right_shoulder", "right_elbow", "left_shoulder", "left_elbow"),
    *("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"),
)
"""Joints after the root in MuJoCo's state: its depth-first body order (the URDF's child order), not the clip's."""


def _slots() -> tuple[JointSlot, ...]:
    qpos_start, at = {}, 7
    for name in QPOS_ORDER:
        qpos_start[name] = at
        at += 3 if _GAINS[name][0] == "ball" else 1
    slots = [JointSlot("root", "free", (1, 8), tuple(range(7)), tuple(range(6)))]
    column = 8
    for name in CLIP_ORDER:
        kind, kp, force = _GAINS[name]
        width, q0 = (3 if kind == "ball" else 1), qpos_start[name]
        columns = (column, column + (4 if kind == "ball" else 1))
        slots.append(
            JointSlot(
                name, kind, columns, tuple(range(q0, q0 + width)), tuple(range(q0 - 1, q0 - 1 + width)), kp, force
            )
        )
        column = columns[1]
    return tuple(slots)


JOINTS: tuple[JointSlot, ...] = _slots()
"""The 13 joints in the clip's order: root, chest, neck, right hip, knee, ankle, shoulder, elbow, then the left side."""
JOINT_BY_NAME: dict[str, JointSlot] = {slot.name: slot for slot in JOINTS}
NQ, NV, NU = 35, 34, 28  # qpos, qvel and actuator sizes
CLIP_FRAME_SIZE = 44
HINGE_NAMES: tuple[str, ...] = tuple(
    hinge
    for name in QPOS_ORDER
    for hinge in ((f"{name}_x", f"{name}_y", f"{name}_z") if _GAINS[name][0] == "ball" else (name,))
)
"""Names of the 28 hinges (and their actuators) in qpos order, ``qpos[7 + i]``."""

TRACKED_SITES: dict[str, str] = {
    "pelvis": "root",
    "head": "neck",
    "left_hand": "left_wrist",
    "right_hand": "right_wrist",
    "left_foot": "left_ankle",
    "right_foot": "right_ankle",
}
"""Tracked points (MuJoCo sites) and the body each is fixed to: the pelvis at the root frame, the head at the center of
the head sphere, the hands at the wrist spheres, the feet at the center of the foot boxes. A site's orientation is its
body's."""

LEG_LINKS = ("right_hip", "right_knee", "left_hip", "left_knee")
"""Thigh and shin links, lengthened by ``leg_scale``."""
ARM_LINKS = ("right_shoulder", "right_elbow", "left_shoulder", "left_elbow")
"""Upper-arm and forearm links, lengthened by ``arm_scale``."""


def _vec(text: str | None) -> np.ndarray:
    return np.array([float(v) for v in (text or "0 0 0").split()])


def _rpy_matrix(rpy: np.ndarray) -> np.ndarray:
    # URDF convention: R = Rz(yaw) Ry(pitch) Rx(roll)
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


_Y_TO_Z = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # +90° about x


def _fmt(values: np.ndarray | list[float]) -> str:
    return " ".join(f"{float(v) if abs(v) > 1e-9 else 0.0:.6g}" for v in values)


def _urdf_path() -> Path:
    import pybullet_data

    return Path(pybullet_data.getDataPath()) / URDF_PATH


def _read_urdf() -> ET.Element:
    path = _urdf_path()
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the humanoid is built from pybullet_data (pip install pybullet)")
    # pybullet_data 3.2.7's copy ends in a NUL byte, which XML parsers reject
    text = path.read_bytes().rstrip(b"\x00 \r\n\t")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not valid URDF/XML ({exc}); reinstall pybullet") from exc


def _geom_xml(link: ET.Element, name: str, scale: float, length_scale: float, mass: float) -> tuple[str, np.ndarray]:
    """The link's collision shape as an MJCF geom (Z-up, scaled) and its center in the body frame [m]."""
    collision = link.find("collision")
    if collision is None:
        raise ValueError(f"{_urdf_path()}: link {name!r} has no <collision>; the humanoid needs one per link")
    origin = collision.find("origin")
    center_urdf = _vec(origin.get("xyz") if origin is not None else None) * length_scale
    rot = _rpy_matrix(_vec(origin.get("rpy") if origin is not None else None))
    center = _Y_TO_Z @ center_urdf * scale
    geometry = collision.find("geometry")
    shape = geometry[0] if geometry is not None and len(geometry) else None
    common = f'name="{name}" mass="{mass:.6g}"'
    if shape is not None and shape.tag == "sphere":
        radius = float(shape.get("radius", 0)) * scale
        return f'<geom {common} type="sphere" size="{radius:.6g}" pos="{_fmt(center)}"/>', center
    if shape is not None and shape.tag == "capsule":
        radius = float(shape.get("radius", 0)) * scale
        half = float(shape.get("length", 0)) * length_scale * scale / 2  # PyBullet's length excludes the caps
        axis = _Y_TO_Z @ rot @ np.array([0.0, 0.0, 1.0])
        ends = np.concatenate([center - half * axis, center + half * axis])
        return f'<geom {common} type="capsule" size="{radius:.6g}" fromto="{_fmt(ends)}"/>', center
    if shape is not None and shape.tag == "box":
        if not np.allclose(rot, np.eye(3)):
            raise ValueError(f"{_urdf_path()}: link {name!r} has a rotated box; only capsules may carry an rpy")
        half_sizes = np.abs(_Y_TO_Z @ _vec(shape.get("size"))) * scale / 2
        return f'<geom {common} type="box" size="{_fmt(half_sizes)}" pos="{_fmt(center)}"/>', center
    tag = None if shape is None else shape.tag
    raise ValueError(f"{_urdf_path()}: link {name!r} has collision geometry {tag!r}; expected sphere, capsule or box")


def humanoid_mjcf(
    leg_scale: float = 1.0,
    arm_scale: float = 1.0,
    joint_damping: float = JOINT_DAMPING,
    armature: float = 0.0,
) -> str:
    """MJCF of the DeepMimic humanoid; ``leg_scale`` lengthens thighs and shins, ``arm_scale`` upper arms and
    forearms (segment masses scale with length, radii, feet and hands stay), for retargeting to other proportions.
    The drive: ``joint_damping`` — each hinge's passive damping as a multiple of its ``kp`` [s] (DeepMimic's
    ``kv = kp / 10``: 0.1, the default) — and ``armature``, rotor inertia added to each hinge [kg m^2] (default 0).
    Passive damping is never clamped by the torque limit, so it caps a hinge's speed near
    ``max_force / (joint_damping * kp)`` (hips and knees 3-4 rad/s at 0.1, where run's hinges reach 14 rad/s:
    ``bench/retarget_actuation.py``); a lower value needs armature to keep the light DoFs stable (0.025 with 0.01
    kept 30 runs under +-3 rad action noise stable on walk, run and kick). At the defaults the MJCF is the one every
    earlier policy was trained on, byte for byte (same model hash)."""
    for field, value in (("leg_scale", leg_scale), ("arm_scale", arm_scale)):
        if not 0.3 <= value <= 3.0:
            raise ValueError(f"{field} must be in [0.3, 3.0] (a length factor). Got {value}.")
    if not (math.isfinite(joint_damping) and 0.0 <= joint_damping <= 1.0):
        raise ValueError(f"joint_damping must be in [0, 1] (passive damping per unit kp, s); got {joint_damping}")
    if not (math.isfinite(armature) and 0.0 <= armature <= 1.0):
        raise ValueError(f"armature must be in [0, 1] (rotor inertia per hinge, kg m^2); got {armature}")
    drive = "" if armature == 0 else f' armature="{armature:g}"'
    root = _read_urdf()
    links = {link.get("name", ""): link for link in root.findall("link")}
    children: dict[str, list[ET.Element]] = {}
    for joint in root.findall("joint"):
        parent = joint.find("parent")
        children.setdefault(parent.get("link", "") if parent is not None else "", []).append(joint)

    def length_scale(link: str) -> float:
        return leg_scale if link in LEG_LINKS else arm_scale if link in ARM_LINKS else 1.0

    def body(link_name: str, pos: np.ndarray, joint_xml: str, indent: str) -> list[str]:
        link = links[link_name]
        mass_el = link.find("inertial/mass")
        mass = float(mass_el.get("value", 0) if mass_el is not None else 0) * length_scale(link_name)
        geom, center = _geom_xml(link, link_name, URDF_SCALE, length_scale(link_name), mass)
        lines = [f'{indent}<body name="{link_name}" pos="{_fmt(pos)}">', f"{indent}  {joint_xml}" if joint_xml else ""]
        lines.append(f"{indent}  {geom}")
        for site, site_body in TRACKED_SITES.items():
            if site_body == link_name:
                at = np.zeros(3) if site in ("pelvis", "left_hand", "right_hand") else center
                lines.append(f'{indent}  <site name="{site}" pos="{_fmt(at)}" size="0.02"/>')
        for joint in children.get(link_name, []):
            child = joint.find("child")
            origin = joint.find("origin")
            child_name = child.get("link", "") if child is not None else ""
            offset = _Y_TO_Z @ _vec(origin.get("xyz") if origin is not None else None)
            offset = offset * URDF_SCALE * length_scale(link_name)
            name, kind = joint.get("name", ""), joint.get("type", "")
            kv = _GAINS[name][1] * joint_damping if name in _GAINS else 0.0
            if kind == "spherical":
                axes = ("1 0 0", "0 0 1", "0 -1 0")  # URDF x, y, z in the Z-up model
                jxml = "".join(
                    f'<joint name="{name}_{a}" type="hinge" axis="{axis}" damping="{kv:g}"{drive}/>'
                    for a, axis in zip("xyz", axes, strict=True)
                )
            elif kind == "revolute":
                limit = joint.find("limit")
                lower, upper = (float(limit.get(k, 0)) for k in ("lower", "upper")) if limit is not None else (0, 0)
                axis_el = joint.find("axis")
                axis = _Y_TO_Z @ _vec(axis_el.get("xyz") if axis_el is not None else "1 0 0")
                jxml = (
                    f'<joint name="{name}" type="hinge" axis="{_fmt(axis)}" range="{lower:.6g} {upper:.6g}"'
                    f' damping="{kv:g}"{drive}/>'
                )
            elif kind == "fixed":
                jxml = ""
            else:
                raise ValueError(f"{_urdf_path()}: joint {name!r} has type {kind!r}; expected spherical/revolute/fixed")
            lines += body(child_name, offset, jxml, indent + "  ")
        lines.append(f"{indent}</body>")
        return [line for line in lines if line]

    # The URDF's "base" link (0.1 g) is welded to "root" at its origin; the free joint goes on "root".
    bodies = body("root", np.array([0.0, 0.0, 1.0]), '<freejoint name="root"/>', "    ")
    actuators = []
    for hinge in HINGE_NAMES:
        slot = JOINT_BY_NAME[hinge[:-2] if hinge not in JOINT_BY_NAME else hinge]
        actuators.append(
            f'    <position name="{hinge}" joint="{hinge}" kp="{slot.kp:g}" '
            f'forcerange="{-slot.max_force:g} {slot.max_force:g}"/>'
        )
    default_drive = joint_damping == JOINT_DAMPING and armature == 0
    suffix = "" if default_drive else f"_damping{joint_damping:g}_armature{armature:g}"
    return "\n".join(
        [
            f'<mujoco model="deepmimic_humanoid_legs{leg_scale:g}_arms{arm_scale:g}{suffix}">',
            '  <compiler angle="radian" autolimits="true"/>',
            f'  <option timestep="{TIMESTEP!r}" integrator="implicitfast" gravity="0 0 {-GRAVITY:g}"/>',
            "  <default>",
            f'    <geom contype="2" conaffinity="1" condim="3" friction="{FRICTION:g} 0.005 0.0001"',
            '     rgba="0.8 0.6 0.4 1"/>',
            '    <site rgba="1 0 0 1" group="4"/>',
            "  </default>",
            "  <worldbody>",
            '    <light pos="0 0 4" dir="0 0 -1" directional="true"/>',
            '    <geom name="floor" type="plane" size="0 0 0.05" contype="1" conaffinity="1" rgba="0.5 0.55 0.6 1"/>',
            *bodies,
            "  </worldbody>",
            "  <actuator>",
            *actuators,
            "  </actuator>",
            "</mujoco>",
            "",
        ]
    )


STATE_SENSORS = 15 * 3 + 6 * 3 + 2
"""Size of the state sensors' data: every body frame's position (15 x 3), every site's (6 x 3: pelvis, head, hands,
feet), then the number of contacts of the right and of the left foot geom."""


def load_humanoid(
    leg_scale: float = 1.0,
    arm_scale: float = 1.0,
    state_sensors: bool = False,
    joint_damping: float = JOINT_DAMPING,
    armature: float = 0.0,
) -> mujoco.MjModel:
    """Compiled model of :func:`humanoid_mjcf` (its drive arguments too); a new ``MjModel`` on each call.
    ``state_sensors`` adds sensors whose
    data (``STATE_SENSORS`` numbers) is what a tracking env reads after a step — body and site positions, foot
    contacts — so ``mujoco.rollout`` can return it for a batch without Python per env; the dynamics are unchanged
    (the model hash is the MJCF's without them)."""
    import mujoco

    xml = humanoid_mjcf(leg_scale, arm_scale, joint_damping, armature)
    if state_sensors:
        plain = mujoco.MjModel.from_xml_string(xml)
        names = [mujoco.mj_id2name(plain, mujoco.mjtObj.mjOBJ_BODY, b) for b in range(1, plain.nbody)]
        sites = [mujoco.mj_id2name(plain, mujoco.mjtObj.mjOBJ_SITE, s) for s in range(plain.nsite)]
        sensors = [f'<framepos objtype="xbody" objname="{b}"/>' for b in names]
        sensors += [f'<framepos objtype="site" objname="{s}"/>' for s in sites]
        sensors += [f'<contact geom1="{g}" data="found" num="1"/>' for g in ("right_ankle", "left_ankle")]
        end = xml.rindex("</mujoco>")
        xml = xml[:end] + "  <sensor>\n    " + "\n    ".join(sensors) + "\n  </sensor>\n" + xml[end:]
    model = mujoco.MjModel.from_xml_string(xml)
    if state_sensors and model.nsensordata != STATE_SENSORS:
        raise RuntimeError(f"the state sensors give {model.nsensordata} numbers, expected {STATE_SENSORS}")
    if (model.nq, model.nv, model.nu, model.nbody - 1) != (NQ, NV, NU, 15):
        raise RuntimeError(
            f"{_urdf_path()} built a model with nq={model.nq}, nv={model.nv}, nu={model.nu}, {model.nbody - 1} bodies;"
            f" expected {NQ}, {NV}, {NU}, 15. The URDF differs from pybullet_data 3.2.7's."
        )
    for i, hinge in enumerate(HINGE_NAMES):  # the constant tables must describe this model
        joint = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, hinge)
        if model.jnt_qposadr[joint] != 7 + i or model.actuator_trnid[i, 0] != joint:
            raise RuntimeError(
                f"hinge {hinge!r} is at qpos {model.jnt_qposadr[joint]}, expected {7 + i}: update QPOS_ORDER"
            )
    return model


def model_hash(model_xml: str) -> str:
    """Short sha256 of an MJCF string, stored with checkpoints so a policy refuses a different character."""
    return hashlib.sha256(model_xml.encode()).hexdigest()[:16]

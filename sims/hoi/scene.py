"""HOI scenes in MuJoCo, built in code: objects with named part sites and a simplified, balance-free character.

Frames and units follow ``planners/hoi/scene.py`` (not imported: ``sims`` sits below ``planners``): world z up,
metres, radians, kilograms; in an object's frame +x is its front, +y its left. ``position`` is the centre of the
object's bounding box, except a drawer's (the centre of its front panel, which slides along the chest's +x) and a
door's (a point on its hinge axis at mid height; opening turns the leaf). ``floor_z(type, size)`` gives the height
that stands an object on the floor.

Objects (``build_scene(objects)``; ``objects`` maps ids to ``{"type", "position", "yaw"?, "size"?, "mass"?,
"friction"?}``):

- ``box``: a free body (mass 2-10 kg and sliding friction 0.3-0.7 drawn from ``seed`` unless given; its friction
  wins every contact, MuJoCo geom priority); sites ``top bottom front back left right`` on its faces. ``side`` is
  not a site: the compiler resolves it to the vertical face nearest the human part at each step.
- ``chair``: fixed (static, a simplification: it cannot tip or slide); seat top at half its height; sites ``seat``
  (top of the seat in front of the backrest) and ``backrest`` (its front surface above the seat).
- ``drawer``: a fixed chest with one drawer (3 kg, 25 cm tall, at the top of the chest) on a slide joint along +x
  (0 to ``size_x - 0.1`` m, damped); sites ``handle`` (a bar 4.5 cm in front of the panel) and ``front``.
- ``table``: fixed; site ``top``. ``door``: a leaf on a hinge about z (opens toward +x); sites ``handle``, ``panel``.

Each part site is a flat ``box`` site whose half sizes span the part's surface patch (5 cm in from the edges);
``PART_RADIUS`` is the radius of parts that are bars. The compiler measures a link as the gap between the human part
(a sphere of ``HUMAN_RADIUS``) and the nearest point of the patch.

The character (simplifications, stated wherever figures are quoted): no legs — a ``base`` body slides in x and y
and turns about z on the floor, carrying the feet sites (no leg geometry, no foot contacts, the feet stay under the
root even when seated); the pelvis slides in z (``PELVIS_RANGE``, 0.45-1.0 m, low enough to sit); a waist pitch
hinge lets the torso lean forward so the hands reach the floor; a head fixed on the torso; two arms with three
shoulder hinges (flexion, abduction, twist) and an elbow, position-servoed; the hands are spheres. Every character
body has gravity compensation (it cannot fall; carried boxes still weigh on the arms). The upper arms and forearms do
not collide; hands, pelvis, torso and head collide with objects, not with each other. Root x, y, yaw and z are
velocity-servoed. Grasp: one weld equality per hand x graspable object (box; drawer and door handles), declared
inactive and switched on by ``SceneIndex.update_grasp`` when the hand's grasp command is on and the hand sphere is
within ``GRASP_RANGE`` (3 cm) of the object's graspable geoms, at the current relative pose — a magnetic palm with no
fingers, which holds position but not orientation (``TORQUE_SCALE`` 0: a ball joint at the palm). The weld's pose
is written into ``model.eq_data``, so every env needs its own ``MjModel``.

Physics: ``TIMESTEP`` 5 ms, ``implicitfast``; control every ``CONTROL_DECIMATION`` steps (25 Hz).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

TIMESTEP = 0.005  # [s]
CONTROL_DECIMATION = 8  # physics steps per control step: 25 Hz
CONTROL_DT = TIMESTEP * CONTROL_DECIMATION  # [s]
PART_SITES: dict[str, tuple[str, ...]] = {"box": ("top", "bottom", "front", "back", "left", "right"),
                                           "chair": ("seat", "backrest"), "drawer": ("handle", "front"),
                                           "table": ("top",), "door": ("handle", "panel")}  # fmt: skip
"""Part sites per object type; the planners' vocabulary adds ``side`` for boxes (resolved at run time)."""
BOX_FACES = ("front", "back", "left", "right")
DEFAULT_SIZES: dict[str, tuple[float, float, float]] = {"box": (0.4, 0.4, 0.4), "chair": (0.5, 0.5, 0.9),
                                                        "drawer": (0.5, 0.6, 0.8), "table": (1.2, 0.8, 0.75),
                                                        "door": (0.05, 0.9, 2.0)}  # fmt: skip
"""Bounding box extents [m], as the planners' ``DEFAULT_SIZES``."""
GRASPABLE = ("box", "drawer", "door")
ARTICULATED = ("drawer", "door")
HUMAN_PARTS = ("pelvis", "back", "head", "left_hand", "right_hand", "left_foot", "right_foot")
HANDS = ("left_hand", "right_hand")
HUMAN_RADIUS = {"pelvis": 0.1, "back": 0.0, "head": 0.1, "left_hand": 0.04, "right_hand": 0.04}
"""Radius [m] of each human part around its site (the feet are points)."""
PART_RADIUS = {"handle": 0.015}
"""Radius [m] of bar-shaped object parts around their site patch."""
PART_NORMAL = {"top": (0, 0, 1), "seat": (0, 0, 1), "bottom": (0, 0, -1), "back": (-1, 0, 0), "left": (0, 1, 0),
               "right": (0, -1, 0)}  # fmt: skip
"""Outward normal of each part's surface in its site (= object) frame; parts not listed face +x."""
PELVIS_RANGE = (0.45, 1.0)  # [m]
STAND_HEIGHT = 0.95  # pelvis height standing [m]
WAIST_RANGE = (-0.2, 1.3)  # torso lean forward [rad]
ARM_JOINTS = ("flex", "abd", "twist", "elbow")
ARM_RANGES = ((-1.0, 3.0), (-0.4, 2.0), (-1.5, 1.5), (0.0, 2.6))  # [rad]
ARM_KP = (400.0, 400.0, 100.0, 300.0)  # [N m/rad]
GRASP_RANGE = 0.03  # [m]
TORQUE_SCALE = 0.0  # weld rotation stiffness relative to translation: 0 = a ball joint at the palm
MASS_RANGE = (2.0, 10.0)  # [kg]
FRICTION_RANGE = (0.3, 0.7)
MARGIN = 0.05  # part patches stop this far from an edge [m]
DRAWER_HEIGHT = 0.25  # [m]
_RGBA = {"box": "0.8 0.55 0.3 1", "chair": "0.4 0.3 0.7 1", "drawer": "0.3 0.6 0.5 1", "table": "0.6 0.5 0.4 1",
         "door": "0.7 0.7 0.6 1"}  # fmt: skip
_OBJ = 'contype="1" conaffinity="3"'
_ARM = 'contype="0" conaffinity="0"'
_BODY = 'contype="2" conaffinity="0"'
_MOVING = 'contype="0" conaffinity="2"'  # moving parts of fixed objects: touched by the character only


def floor_z(kind: str, size: tuple[float, float, float] | None = None) -> float:
    """The ``position`` z [m] that stands an object of ``kind`` on the floor."""
    sz = (size or DEFAULT_SIZES[kind])[2]
    return sz - 0.03 - DRAWER_HEIGHT / 2 if kind == "drawer" else sz / 2


def _v(*xs: float) -> str:
    return " ".join(f"{x:.5g}" for x in xs)


def _quat(yaw: float) -> str:
    return _v(math.cos(yaw / 2), 0, 0, math.sin(yaw / 2))


def _box(name: str, center: tuple[float, float, float], half: tuple[float, float, float], extra: str = _OBJ) -> str:
    return f'<geom name="{name}" type="box" pos="{_v(*center)}" size="{_v(*half)}" {extra}/>'


def _site(name: str, center: tuple[float, float, float], half: tuple[float, float, float]) -> str:
    half = tuple(max(h, 0.002) for h in half)  # type: ignore[assignment]
    return f'<site name="{name}" type="box" pos="{_v(*center)}" size="{_v(*half)}" rgba="1 0 0 0.3" group="4"/>'


def _legs(s: str, x: float, y: float, half: float, z0: float, z1: float, extra: str) -> list[str]:
    """Four square legs at (±x, ±y), from z0 to z1."""
    corners = ((1, 1), (1, -1), (-1, 1), (-1, -1))
    return [_box(f"{s}leg{i}", (a * x, b * y, (z0 + z1) / 2), (half, half, (z1 - z0) / 2), extra)
            for i, (a, b) in enumerate(corners)]  # fmt: skip


def _object(oid: str, spec: Mapping[str, Any], rng: np.random.Generator) -> str:
    kind = spec["type"]
    sx, sy, sz = (float(v) for v in spec.get("size") or DEFAULT_SIZES[kind])
    hx, hy, hz = sx / 2, sy / 2, sz / 2
    p = [float(v) for v in spec["position"]]
    head = f'<body name="{oid}" pos="{_v(*p)}" quat="{_quat(float(spec.get("yaw", 0.0)))}">'
    rgba = f'rgba="{_RGBA[kind]}"'
    s = f"{oid}/"
    if kind == "box":
        mass = float(spec["mass"]) if spec.get("mass") is not None else float(rng.uniform(*MASS_RANGE))
        mu = float(spec["friction"]) if spec.get("friction") is not None else float(rng.uniform(*FRICTION_RANGE))
        body = [
            f'<freejoint name="{s}free"/>',
            _box(f"{s}body", (0, 0, 0), (hx, hy, hz), f'{_OBJ} mass="{mass:.4g}" priority="1" {rgba} '
                 f'friction="{mu:.4g} 0.005 0.0001"'),
        ]  # fmt: skip
        for face in PART_SITES["box"]:
            n = PART_NORMAL.get(face, (1, 0, 0))
            half = tuple(0.0 if a else h - MARGIN for a, h in zip(n, (hx, hy, hz), strict=True))
            body.append(_site(f"{s}{face}", (n[0] * hx, n[1] * hy, n[2] * hz), half))  # type: ignore[arg-type]
    elif kind == "chair":  # seat top at z = 0 (half the height), backrest 6 cm thick at the back
        body = [
            *_legs(s, hx - 0.03, hy - 0.03, 0.025, -hz, -0.05, f"{_OBJ} {rgba}"),
            _box(f"{s}seat_plate", (0, 0, -0.025), (hx, hy, 0.025), f"{_OBJ} {rgba}"),
            _box(f"{s}backrest_plate", (-hx + 0.03, 0, hz / 2), (0.03, hy, hz / 2), f"{_OBJ} {rgba}"),
            _site(f"{s}seat", (0.03, 0, 0), (hx - 0.03 - MARGIN, hy - MARGIN, 0)),
            _site(f"{s}backrest", (-hx + 0.06, 0, hz / 2 + 0.025), (0, hy - MARGIN, hz / 2 - 0.075)),
        ]
    elif kind == "table":
        body = [
            *_legs(s, hx - 0.05, hy - 0.05, 0.03, -hz, hz - 0.04, f"{_OBJ} {rgba}"),
            _box(f"{s}top_plate", (0, 0, hz - 0.02), (hx, hy, 0.02), f"{_OBJ} {rgba}"),
            _site(f"{s}top", (0, 0, hz), (hx - MARGIN, hy - MARGIN, 0)),
        ]
    elif kind == "drawer":  # body origin = front panel centre (closed); the chest extends to x = -sx
        hd = DRAWER_HEIGHT / 2
        low = sz - 0.03 - 2 * hd  # height of the chest below the drawer [m]
        c, m = f"{_OBJ} {rgba}", f"{_MOVING} {rgba}"
        body = [
            _box(f"{s}base", (-hx, 0, -hd - low / 2 - 0.005), (hx, hy, low / 2), c),
            _box(f"{s}lid", (-hx, 0, hd + 0.02), (hx, hy, 0.015), c),
            _box(f"{s}wall_l", (-hx, hy - 0.01, 0), (hx, 0.01, hd + 0.005), c),
            _box(f"{s}wall_r", (-hx, -hy + 0.01, 0), (hx, 0.01, hd + 0.005), c),
            _box(f"{s}wall_b", (-sx + 0.01, 0, 0), (0.01, hy, hd + 0.005), c),
            f'<body name="{s}drawer" pos="0 0 0">',
            f'<joint name="{s}slide" type="slide" axis="1 0 0" range="0 {sx - 0.1:.4g}" damping="20" '
            'frictionloss="2"/>',
            _box(f"{s}panel", (-0.01, 0, 0), (0.01, hy - 0.02, hd - 0.005), f'{m} mass="1.5"'),
            _box(f"{s}tray", (-hx, 0, -hd + 0.01), (hx - 0.04, hy - 0.04, 0.01), f'{m} mass="1"'),
            _box(f"{s}tray_back", (-sx + 0.06, 0, -hd / 2), (0.01, hy - 0.04, hd / 2), f'{m} mass="0.5"'),
            f'<geom name="{s}handle_bar" type="capsule" fromto="0.045 -0.08 0 0.045 0.08 0" size="0.015" '
            f'{_MOVING} mass="0.1" rgba="0.2 0.2 0.2 1"/>',
            _box(f"{s}handle_post", (0.0225, 0, 0), (0.0225, 0.01, 0.01), f'{_MOVING} mass="0.05"'),
            _site(f"{s}handle", (0.045, 0, 0), (0, 0.08, 0)),
            _site(f"{s}front", (0, 0, 0), (0, hy - MARGIN, hd - 0.03)),
            "</body>",
        ]
    elif kind == "door":  # body origin on the hinge axis; the leaf extends along -y, front face at x = 0
        body = [
            f'<body name="{s}leaf" pos="0 0 0">',
            f'<joint name="{s}hinge" type="hinge" axis="0 0 1" range="0 1.7" damping="10" frictionloss="1"/>',
            _box(f"{s}leaf_plate", (-hx, -hy, 0), (hx, hy, hz), f'{_MOVING} mass="15" {rgba}'),
            f'<geom name="{s}handle_bar" type="capsule" fromto="0.045 {-sy + 0.1:.4g} -0.075 0.045 {-sy + 0.1:.4g} '
            f'0.075" size="0.015" {_MOVING} mass="0.1" rgba="0.2 0.2 0.2 1"/>',
            _site(f"{s}handle", (0.045, -sy + 0.1, 0), (0, 0, 0.075)),
            _site(f"{s}panel", (0, -hy, 0), (0, hy - MARGIN, hz - MARGIN)),
            "</body>",
        ]
    else:
        raise ValueError(f"object {oid!r}: type must be one of {sorted(PART_SITES)}. Got {kind!r}.")
    return "\n".join([head, *body, "</body>"])


def _arm(side: str) -> str:
    sign = 1.0 if side == "left" else -1.0
    n = f"{side}_"
    joints = "".join(
        f'<joint name="{n}{j}" type="hinge" axis="{axis}" range="{lo} {hi}" damping="5" armature="0.05"/>'
        for j, axis, (lo, hi) in zip(ARM_JOINTS[:3], ("0 -1 0", f"{sign:g} 0 0", "0 0 -1"), ARM_RANGES[:3], strict=True)
    )
    lo, hi = ARM_RANGES[3]
    return (
        f'<body name="{n}upper_arm" pos="0 {sign * 0.2:g} 0.42" gravcomp="1">{joints}'
        f'<geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.045" mass="2" {_ARM}/>'
        f'<body name="{n}forearm" pos="0 0 -0.3" gravcomp="1">'
        f'<joint name="{n}elbow" type="hinge" axis="0 -1 0" range="{lo} {hi}" damping="5" armature="0.05"/>'
        f'<geom type="capsule" fromto="0 0 0 0 0 -0.27" size="0.04" mass="1.2" {_ARM}/>'
        f'<geom name="{n}hand" type="sphere" pos="0 0 -0.33" size="0.04" mass="0.5" friction="1 0.005 0.0001" '
        f'{_BODY} rgba="0.9 0.7 0.6 1"/>'
        f'<site name="{n}hand" pos="0 0 -0.33" size="0.02"/></body></body>'
    )


def character_mjcf() -> str:
    """The character's bodies (inside ``worldbody``); its actuators are in :func:`_actuators`."""
    return (
        '<body name="base" pos="0 0 0">'
        '<joint name="root_x" type="slide" axis="1 0 0"/><joint name="root_y" type="slide" axis="0 1 0"/>'
        '<joint name="root_yaw" type="hinge" axis="0 0 1"/>'
        '<inertial pos="0 0 0" mass="1" diaginertia="0.05 0.05 0.05"/>'
        '<site name="left_foot" pos="0 0.1 0.05" size="0.03"/><site name="right_foot" pos="0 -0.1 0.05" size="0.03"/>'
        f'<body name="pelvis" pos="0 0 {STAND_HEIGHT}" gravcomp="1">'
        f'<joint name="root_z" type="slide" axis="0 0 1" ref="{STAND_HEIGHT}" range="{_v(*PELVIS_RANGE)}"/>'
        f'<geom name="pelvis" type="capsule" fromto="0 -0.12 0 0 0.12 0" size="0.1" mass="10" friction="0.3" {_BODY}/>'
        '<site name="pelvis" pos="0 0 0" size="0.03"/>'
        '<body name="torso" pos="0 0 0.05" gravcomp="1">'
        f'<joint name="waist" type="hinge" axis="0 1 0" range="{_v(*WAIST_RANGE)}" damping="40" armature="0.2"/>'
        f'<geom name="torso" type="box" pos="0 0 0.25" size="0.1 0.16 0.2" mass="20" friction="0.3" {_BODY}/>'
        f'<geom name="head" type="sphere" pos="0 0 0.6" size="0.1" mass="5" {_BODY}/>'
        '<site name="back" pos="-0.1 0 0.3" size="0.03"/><site name="head" pos="0 0 0.6" size="0.03"/>'
        f"{_arm('left')}{_arm('right')}</body></body></body>"
    )


def _actuators() -> str:
    root = (
        '<velocity name="root_x" joint="root_x" kv="3000" forcerange="-800 800"/>'
        '<velocity name="root_y" joint="root_y" kv="3000" forcerange="-800 800"/>'
        '<velocity name="root_yaw" joint="root_yaw" kv="300" forcerange="-300 300"/>'
        '<velocity name="root_z" joint="root_z" kv="3000" forcerange="-800 800"/>'
        f'<position name="waist" joint="waist" kp="1500" ctrlrange="{_v(*WAIST_RANGE)}" forcerange="-500 500"/>'
    )
    arms = "".join(
        f'<position name="{side}_{j}" joint="{side}_{j}" kp="{kp:g}" ctrlrange="{_v(*rng)}" forcerange="-150 150"/>'
        for side in ("left", "right")
        for j, rng, kp in zip(ARM_JOINTS, ARM_RANGES, ARM_KP, strict=True)
    )
    return f"<actuator>{root}{arms}</actuator>"


def build_scene(objects: Mapping[str, Mapping[str, Any]], seed: int = 0) -> str:
    """MJCF (an XML string) of the floor, ``objects`` (id -> spec, module docstring) and the character at the origin.
    ``seed`` draws each box's mass and friction where its spec does not give them."""
    rng = np.random.default_rng(seed)
    bodies = "\n".join(_object(oid, spec, rng) for oid, spec in objects.items())
    welds = "".join(
        f'<weld name="grasp/{hand}/{oid}" body1="{hand.split("_")[0]}_forearm" '
        f'body2="{object_body_name(oid, spec["type"])}" active="false" solref="0.02 1"/>'
        for oid, spec in objects.items()
        if spec["type"] in GRASPABLE
        for hand in HANDS
    )
    return f"""<mujoco model="hoi_scene">
<compiler angle="radian"/>
<option timestep="{TIMESTEP}" integrator="implicitfast"/>
<worldbody>
<geom name="floor" type="plane" size="6 6 0.1" contype="1" conaffinity="3" rgba="0.85 0.85 0.85 1"/>
{character_mjcf()}
{bodies}
</worldbody>
<equality>{welds}</equality>
{_actuators()}
</mujoco>"""


def object_body_name(oid: str, kind: str) -> str:
    """The body whose pose is the object's ``position``: a drawer's sliding drawer, a door's leaf."""
    return {"drawer": f"{oid}/drawer", "door": f"{oid}/leaf"}.get(kind, oid)


def set_box_physics(model: Any, oid: str, mass: float, friction: float) -> None:
    """Set a box's mass [kg] (inertia scaled with it) and sliding friction in a built ``model``."""
    import mujoco

    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, oid)
    geom = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, f"{oid}/body")
    model.body_inertia[body] *= mass / model.body_mass[body]
    model.body_mass[body] = mass
    model.geom_friction[geom, 0] = friction


ACTION_NAMES = (
    *("forward", "left", "yaw_rate", "up", "waist"),
    *(f"{side}_{j}" for side in ("left", "right") for j in ARM_JOINTS),
    *("grasp_left", "grasp_right"),
)
"""The action, each in [-1, 1]: root velocity forward and left (heading frame) x ``MAX_SPEED``, yaw rate x
``MAX_YAW_RATE``, pelvis vertical velocity x ``MAX_Z_SPEED``; waist and arm joint targets mapped linearly onto their
ranges; grasp commands (on when > 0)."""
ACTION_DIM = len(ACTION_NAMES)
MAX_SPEED = 1.0  # [m/s]
MAX_YAW_RATE = 2.0  # [rad/s]
MAX_Z_SPEED = 0.8  # [m/s]
REST_POSE = (0.1, 0.3, 0.1, 0.0, 1.3, 0.3, 0.1, 0.0, 1.3)
"""Waist and arm joint angles at rest: forearms forward [rad]."""
JOINT_RANGES = np.array([WAIST_RANGE, *ARM_RANGES, *ARM_RANGES])  # (9, 2) [rad]
PROPRIO_DIM = 43


def joint_action(q: np.ndarray) -> np.ndarray:
    """Waist and arm joint targets ``(..., 9)`` [rad] as action values in [-1, 1]."""
    lo, hi = JOINT_RANGES[:, 0], JOINT_RANGES[:, 1]
    return np.clip(2 * (np.asarray(q) - lo) / (hi - lo) - 1, -1.0, 1.0)


class SceneIndex:
    """Ids in a built scene (part and human sites, object bodies, joints, grasp welds) and the character's I/O."""

    def __init__(self, model: Any, objects: Mapping[str, Mapping[str, Any]]) -> None:
        import mujoco

        def id_(kind: Any, name: str) -> int:
            i = int(mujoco.mj_name2id(model, kind, name))
            if i < 0:
                raise ValueError(f"scene has no {kind.name[6:].lower()} {name!r}; build it with build_scene(objects)")
            return i

        o = mujoco.mjtObj
        site, body, joint, geom, o_eq = o.mjOBJ_SITE, o.mjOBJ_BODY, o.mjOBJ_JOINT, o.mjOBJ_GEOM, o.mjOBJ_EQUALITY
        self.types = {oid: str(spec["type"]) for oid, spec in objects.items()}
        self.object_ids = list(objects)
        self.object_body = np.array([id_(body, object_body_name(o, t)) for o, t in self.types.items()], np.int64)
        self.parts = [(o, p) for o, t in self.types.items() for p in PART_SITES[t]]
        self.part_site = np.array([id_(site, f"{o}/{p}") for o, p in self.parts], np.int64)
        self.part_radius = np.array([PART_RADIUS.get(p, 0.0) for _, p in self.parts])
        self.part_normal = np.array([PART_NORMAL.get(p, (1, 0, 0)) for _, p in self.parts], float).reshape(-1, 3)
        self.human_site = np.array([id_(site, h) for h in HUMAN_PARTS], np.int64)
        names = ("root_x", "root_y", "root_yaw", "root_z", "waist", *ACTION_NAMES[5:13])
        self.qadr = np.array([model.jnt_qposadr[id_(joint, n)] for n in names], np.int64)
        self.vadr = np.array([model.jnt_dofadr[id_(joint, n)] for n in names], np.int64)
        self.hand_geom = [id_(geom, f"{h.split('_')[0]}_hand") for h in HANDS]
        graspable = [(o, t) for o, t in self.types.items() if t in GRASPABLE]
        self.grasp_eq = {(h, o): id_(o_eq, f"grasp/{HANDS[h]}/{o}") for h in range(2) for o, _ in graspable}
        handles = {"box": ("body",), "drawer": ("handle_bar", "handle_post"), "door": ("handle_bar",)}
        self.grasp_geoms = {o: [id_(geom, f"{o}/{g}") for g in handles[t]] for o, t in graspable}
        joints = {o: f"{o}/{'slide' if t == 'drawer' else 'hinge'}" for o, t in self.types.items() if t in ARTICULATED}
        self.articulation = {o: int(model.jnt_qposadr[id_(joint, j)]) for o, j in joints.items()}

    # ------------------------------------------------------------------ state
    def yaw(self, data: Any) -> float:
        return float(data.qpos[self.qadr[2]])

    def set_pose(self, data: Any, x: float, y: float, yaw: float, z: float = STAND_HEIGHT) -> None:
        """Place the character (root x, y [m], heading [rad], pelvis height [m]) at rest, standing still."""
        data.qpos[self.qadr] = [x, y, yaw, z, *REST_POSE]
        data.qvel[self.vadr] = 0.0
        data.ctrl[:] = [0, 0, 0, 0, *REST_POSE]

    def grasped(self, data: Any) -> dict[str, str | None]:
        """The object each hand holds (None: nothing)."""
        out: dict[str, str | None] = {h: None for h in HANDS}
        for (h, o), eq in self.grasp_eq.items():
            if data.eq_active[eq]:
                out[HANDS[h]] = o
        return out

    def part_state(self, model: Any, data: Any) -> dict[str, np.ndarray]:
        """One env's fields of the compiler's ``PartState`` (without the leading N)."""
        return {
            "human": data.site_xpos[self.human_site],
            "part_center": data.site_xpos[self.part_site],
            "part_rot": data.site_xmat[self.part_site].reshape(-1, 3, 3),
            "part_half": model.site_size[self.part_site],
            "object_pos": data.xpos[self.object_body],
            "root": data.site_xpos[self.human_site[0]],
            "yaw": np.asarray(self.yaw(data)),
        }

    def proprio(self, data: Any) -> np.ndarray:
        """Proprioception (``PROPRIO_DIM``): pelvis height (1) [m]; root velocity forward, left (heading frame), up
        (3) [m/s] and yaw rate (1) [rad/s]; waist and arm angles (9) [rad] and rates (9) [rad/s] x 0.1; grasp on per
        hand (2); head, back, hands and feet relative to the pelvis in the heading frame (18) [m]."""
        yaw = self.yaw(data)
        c, s = math.cos(yaw), math.sin(yaw)
        v = data.qvel[self.vadr]
        sites = data.site_xpos[self.human_site]
        rel = sites[1:] - sites[0]
        rel_h = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
        held = [float(o is not None) for o in self.grasped(data).values()]
        root = [sites[0, 2], c * v[0] + s * v[1], -s * v[0] + c * v[1], v[3], v[2]]
        return np.concatenate([root, data.qpos[self.qadr[4:]], 0.1 * v[4:], held, rel_h.reshape(-1)])

    # ------------------------------------------------------------------ control
    def apply_action(self, data: Any, action: np.ndarray) -> np.ndarray:
        """Write ``action`` (``ACTION_NAMES``) into ``data.ctrl``; returns the grasp command per hand ``(2,)``."""
        a = np.clip(np.nan_to_num(np.asarray(action, np.float64).reshape(-1)), -1.0, 1.0)
        if a.shape != (ACTION_DIM,):
            raise ValueError(f"action must have {ACTION_DIM} values ({', '.join(ACTION_NAMES)}); got {a.size}")
        yaw = self.yaw(data)
        c, s = math.cos(yaw), math.sin(yaw)
        fwd, left = a[0] * MAX_SPEED, a[1] * MAX_SPEED
        lo, hi = JOINT_RANGES[:, 0], JOINT_RANGES[:, 1]
        data.ctrl[:4] = [c * fwd - s * left, s * fwd + c * left, a[2] * MAX_YAW_RATE, a[3] * MAX_Z_SPEED]
        data.ctrl[4:13] = lo + (a[4:13] + 1) / 2 * (hi - lo)
        return a[13:15] > 0

    def update_grasp(self, model: Any, data: Any, command: np.ndarray) -> None:
        """Release each hand whose command is off; weld each hand whose command is on, that holds nothing and is
        within ``GRASP_RANGE`` of a graspable geom to the nearest such object, at their current relative pose."""
        import mujoco

        held = self.grasped(data)
        for h, hand in enumerate(HANDS):
            if not command[h]:
                for (hh, _), eq in self.grasp_eq.items():
                    if hh == h:
                        data.eq_active[eq] = 0
                continue
            if held[hand] is not None:
                continue
            best, best_d = None, GRASP_RANGE
            for o, geoms in self.grasp_geoms.items():
                reach = GRASP_RANGE + 0.01
                d = min(mujoco.mj_geomDistance(model, data, self.hand_geom[h], g, reach, None) for g in geoms)
                if d <= best_d:
                    best, best_d = o, d
            if best is None:
                continue
            eq = self.grasp_eq[(h, best)]
            b1, b2 = model.eq_obj1id[eq], model.eq_obj2id[eq]
            inv, rel_quat = np.zeros(4), np.zeros(4)
            mujoco.mju_negQuat(inv, data.xquat[b1])
            mujoco.mju_mulQuat(rel_quat, inv, data.xquat[b2])
            model.eq_data[eq, 0:3] = 0.0  # anchor at body2's origin
            model.eq_data[eq, 3:6] = data.xmat[b1].reshape(3, 3).T @ (data.xpos[b2] - data.xpos[b1])
            model.eq_data[eq, 6:10] = rel_quat
            model.eq_data[eq, 10] = TORQUE_SCALE
            data.eq_active[eq] = 1

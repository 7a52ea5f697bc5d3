"""One PyBullet client holding the tabletop: a Franka Panda on a table, colored 5 cm cubes and a tray.

The scene owns the engine calls; :class:`~ember.sims.pybullet.tabletop_world.TabletopWorld` (world contract) and
:class:`~ember.sims.pybullet.tabletop_env.TabletopVecEnv` (env contract, one scene per env) are built on it, so both
faces see the same physics, control and observations.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pybullet as p
from numpy.typing import ArrayLike
from pybullet_utils.bullet_client import BulletClient

from ember.sims.pybullet.assets import (
    COLORS,
    CUBE_SIZE,
    DATA_PATH,
    PANDA,
    TABLE_TOP_Z,
    TRAY_FLOOR_Z,
    TRAY_HALF_WIDTH,
    TRAY_POSITION,
    TRAY_SCALE,
    WORKSPACE_X,
    WORKSPACE_Y,
)

ARRANGEMENTS = ("scattered", "tower", "tray", "mixed")
"""Named initial arrangements; a mapping ``{"tower": [...], "tray": [...], "scattered": [...]}`` is also accepted."""


CUBE_FRICTION = 0.5
"""Lateral friction coefficient of the cubes."""
OBSTACLE_RADIUS = 0.025
"""Radius of the fixed post that obstacle tasks place on the table [m]."""
OBSTACLE_HEIGHT = 0.045
"""Height of that post above the table [m]: blocks a 5 cm cube, and the hand above pushing fingers clears it."""


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence the C-level ``argv[0]=`` line PyBullet prints on stdout at connect (it would corrupt JSON output)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def solve_ik(bc: BulletClient, robot: int, position: ArrayLike, yaw: float) -> np.ndarray:
    """Arm joint positions [rad] putting the Panda's grasp point at ``position`` [m], pointing down, turned by
    ``yaw`` [rad], from the body's current joint state (PyBullet's damped IK with the joint limits and home pose as
    rest pose), clipped to the limits. Shared by the scene and the robot-side kinematic model."""
    lower, upper = [*PANDA.lower, 0.0, 0.0], [*PANDA.upper, 0.04, 0.04]
    q = bc.calculateInverseKinematics(
        robot,
        PANDA.ee_link,
        [float(v) for v in np.asarray(position).reshape(3)],
        bc.getQuaternionFromEuler([math.pi, 0.0, yaw]),
        lowerLimits=lower,
        upperLimits=upper,
        jointRanges=[u - lo for u, lo in zip(upper, lower, strict=True)],
        restPoses=[*PANDA.home, 0.04, 0.04],
        maxNumIterations=50,
        residualThreshold=1e-4,
    )
    return np.clip(np.asarray(q[:7], dtype=np.float64), PANDA.lower, PANDA.upper)


class SceneConfigError(ValueError):
    """Bad scene settings; the message names the field, the value and the fix."""


@dataclass
class Placement:
    """Resolved initial arrangement: cube ids per kind of placement (tower listed bottom to top)."""

    scattered: list[str]
    tower: list[str]
    tray: list[str]


def resolve_arrangement(
    spec: str | Mapping[str, Sequence[str]], cubes: Sequence[str], rng: np.random.Generator
) -> Placement:
    """Turn a named arrangement or an explicit mapping into a :class:`Placement`."""
    cubes = list(cubes)
    if isinstance(spec, str):
        if spec == "scattered":
            return Placement(scattered=cubes, tower=[], tray=[])
        if spec == "tower":
            order = [cubes[i] for i in rng.permutation(len(cubes))]
            return Placement(scattered=[], tower=order, tray=[])
        if spec == "tray":
            return Placement(scattered=[], tower=[], tray=cubes)
        if spec == "mixed":
            k = int(rng.integers(1, len(cubes))) if len(cubes) > 1 else 1
            chosen = {cubes[i] for i in rng.choice(len(cubes), size=k, replace=False)}
            return Placement(
                scattered=[c for c in cubes if c not in chosen], tower=[], tray=[c for c in cubes if c in chosen]
            )
        raise SceneConfigError(f"arrangement must be one of {list(ARRANGEMENTS)} or a mapping; got {spec!r}")
    if not isinstance(spec, Mapping):
        raise SceneConfigError(
            f"arrangement must be a name or a mapping of placement -> cube ids; got {type(spec).__name__}"
        )
    unknown_keys = set(spec) - {"scattered", "tower", "tray"}
    if unknown_keys:
        raise SceneConfigError(
            f"arrangement keys must be among ['scattered', 'tower', 'tray']; got {sorted(unknown_keys)}"
        )
    for key, value in spec.items():
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise SceneConfigError(
                f"arrangement.{key}={value!r} must be a list of cube colors, e.g. {{{key}: [red, green]}}"
            )
    listed = [c for key in ("scattered", "tower", "tray") for c in spec.get(key, [])]
    for c in listed:
        if c not in cubes:
            raise SceneConfigError(f"arrangement names cube {c!r}, which is not in the scene; cubes are {cubes}")
    duplicates = {c for c in listed if listed.count(c) > 1}
    if duplicates:
        raise SceneConfigError(f"arrangement places {sorted(duplicates)} twice; give each cube one placement")
    rest = [c for c in cubes if c not in listed]
    return Placement(
        scattered=list(spec.get("scattered", [])) + rest,
        tower=list(spec.get("tower", [])),
        tray=list(spec.get("tray", [])),
    )


class TabletopScene:
    """A PyBullet DIRECT client with the tabletop loaded.

    Args:
        cubes: cube colors; each becomes an object ``<color>_cube``.
        physics_hz: physics rate [Hz].
        tray: whether to load the tray.
        render_size: ``(width, height)`` of :meth:`render` [px].
        obstacle: whether to load a fixed gray post (see :meth:`place_obstacle`); it waits under the floor until
            placed.
    """

    def __init__(
        self,
        cubes: Sequence[str] = ("red", "green", "blue"),
        physics_hz: int = 240,
        tray: bool = True,
        render_size: tuple[int, int] = (160, 120),
        obstacle: bool = False,
    ) -> None:
        for color in cubes:
            if color not in COLORS:
                raise SceneConfigError(f"cube color {color!r} is unknown; choose from {sorted(COLORS)}")
        if len(set(cubes)) != len(cubes):
            raise SceneConfigError(f"cube colors must be distinct; got {list(cubes)}")
        if len(cubes) > 4:
            raise SceneConfigError(f"at most 4 cubes fit the workspace; got {len(cubes)}")
        self.physics_hz = physics_hz
        self.render_size = render_size
        with _quiet_stdout():
            self.bc = BulletClient(connection_mode=p.DIRECT)
        self.bc.setAdditionalSearchPath(DATA_PATH)
        self.bc.setTimeStep(1.0 / physics_hz)
        self.bc.setGravity(0, 0, -9.81)
        self.plane = self.bc.loadURDF("plane.urdf")
        self.table = self.bc.loadURDF("table/table.urdf", [0.5, 0.0, 0.0], useFixedBase=True)
        self.robot = self.bc.loadURDF(PANDA.urdf, PANDA.base_position, useFixedBase=True)
        self.tray = (
            self.bc.loadURDF(
                "tray/traybox.urdf", [*TRAY_POSITION, TABLE_TOP_Z], useFixedBase=True, globalScaling=TRAY_SCALE
            )
            if tray
            else None
        )
        self.cube_ids: dict[str, int] = {}
        for color in cubes:
            body = self.bc.loadURDF("cube_small.urdf", [0.0, 0.0, -1.0])
            self.bc.changeVisualShape(body, -1, rgbaColor=COLORS[color])
            # cube_small.urdf's friction of 1.0 tips a pushed cube over (tipping needs push height > half-width/mu);
            # 0.5 is closer to wood on a table and still holds in the gripper with ample margin.
            self.bc.changeDynamics(body, -1, lateralFriction=CUBE_FRICTION)
            self.cube_ids[f"{color}_cube"] = body
        for joint in PANDA.finger_joints:
            self.bc.changeDynamics(self.robot, joint, lateralFriction=1.2, spinningFriction=0.002)
        self.obstacle: int | None = None
        if obstacle:
            shape = self.bc.createCollisionShape(p.GEOM_CYLINDER, radius=OBSTACLE_RADIUS, height=OBSTACLE_HEIGHT)
            visual = self.bc.createVisualShape(
                p.GEOM_CYLINDER, radius=OBSTACLE_RADIUS, length=OBSTACLE_HEIGHT, rgbaColor=(0.45, 0.45, 0.45, 1.0)
            )
            self.obstacle = self.bc.createMultiBody(0.0, shape, visual, [0.0, 0.0, -1.0])
        num_joints = self.bc.getNumJoints(self.robot)
        self._movable_joints = [j for j in range(num_joints) if self.bc.getJointInfo(self.robot, j)[2] != p.JOINT_FIXED]
        self.arm_target = np.array(PANDA.home, dtype=np.float64)
        self.gripper_target = PANDA.max_opening
        self.steps = 0

    # ------------------------------------------------------------------ reset
    def reset(
        self,
        rng: np.random.Generator,
        arrangement: str | Mapping[str, Sequence[str]] = "scattered",
        settle_seconds: float = 0.4,
        home: Sequence[float] | None = None,
    ) -> Placement:
        """Home the arm (or put it at ``home`` [rad]), place the cubes as ``arrangement`` says with poses drawn from
        ``rng``, and let them settle for ``settle_seconds`` of physics [s]."""
        start = np.asarray(PANDA.home if home is None else home, dtype=np.float64)
        for i, q in zip(PANDA.arm_joints, start, strict=True):
            self.bc.resetJointState(self.robot, i, float(q), 0.0)
        for j in PANDA.finger_joints:
            self.bc.resetJointState(self.robot, j, PANDA.max_opening / 2, 0.0)
        self.arm_target = start.copy()
        self.gripper_target = PANDA.max_opening
        placement = resolve_arrangement(arrangement, list(self.cube_ids), rng)
        if placement.tray and self.tray is None:
            raise SceneConfigError("arrangement puts cubes in the tray, but the scene has tray=false; set tray=true")
        taken: list[tuple[float, float]] = []
        if self.obstacle is not None:  # a placed post is a taken spot (one under the floor is far from all)
            taken.append(tuple(self.obstacle_xy()))  # type: ignore[arg-type]
        if placement.tower:
            x, y = self._free_xy(rng, taken, margin=0.1)
            taken.append((x, y))
            yaw = float(rng.uniform(-0.3, 0.3))
            for level, cube in enumerate(placement.tower):
                z = TABLE_TOP_Z + CUBE_SIZE / 2 + level * (CUBE_SIZE + 0.001)
                self._place(cube, (x, y, z), yaw)
        for cube in placement.scattered:
            x, y = self._free_xy(rng, taken, margin=0.09)
            taken.append((x, y))
            self._place(
                cube, (x, y, TABLE_TOP_Z + CUBE_SIZE / 2 + 0.001), float(rng.uniform(-math.pi / 4, math.pi / 4))
            )
        slots = [(dx, dy) for dx in (-0.04, 0.04) for dy in (-0.04, 0.04)]
        order = rng.permutation(len(slots))
        for k, cube in enumerate(placement.tray):
            dx, dy = slots[int(order[k])]
            jitter = rng.uniform(-0.005, 0.005, size=2)
            pos = (
                TRAY_POSITION[0] + dx + jitter[0],
                TRAY_POSITION[1] + dy + jitter[1],
                TRAY_FLOOR_Z + CUBE_SIZE / 2 + 0.002,
            )
            self._place(cube, pos, float(rng.uniform(-0.2, 0.2)))
        self.hold_arm()
        if settle_seconds > 0:
            self.step(int(settle_seconds * self.physics_hz))
        return placement

    def _place(self, cube: str, pos: Sequence[float], yaw: float) -> None:
        self.bc.resetBasePositionAndOrientation(self.cube_ids[cube], pos, self.bc.getQuaternionFromEuler([0, 0, yaw]))
        self.bc.resetBaseVelocity(self.cube_ids[cube], [0, 0, 0], [0, 0, 0])

    @staticmethod
    def _free_xy(rng: np.random.Generator, taken: list[tuple[float, float]], margin: float) -> tuple[float, float]:
        for _ in range(1000):
            x, y = float(rng.uniform(*WORKSPACE_X)), float(rng.uniform(*WORKSPACE_Y))
            if all(math.hypot(x - tx, y - ty) >= margin for tx, ty in taken):
                return x, y
        raise SceneConfigError("could not find a free spot for a cube; use fewer cubes")

    # ---------------------------------------------------------------- control
    def ik(self, position: ArrayLike, yaw: float) -> np.ndarray:
        """Arm joint positions [rad] that put the grasp point at ``position`` [m], pointing down, turned by ``yaw``."""
        return solve_ik(self.bc, self.robot, position, yaw)

    def place_obstacle(self, xy: ArrayLike) -> None:
        """Stand the fixed post on the table at ``xy`` [m]."""
        if self.obstacle is None:
            raise SceneConfigError("this scene has no obstacle; build it with obstacle=True")
        x, y = (float(v) for v in np.asarray(xy).reshape(2))
        self.bc.resetBasePositionAndOrientation(self.obstacle, [x, y, TABLE_TOP_Z + OBSTACLE_HEIGHT / 2], [0, 0, 0, 1])

    def obstacle_xy(self) -> np.ndarray:
        """Where the post stands, x y [m]."""
        if self.obstacle is None:
            raise SceneConfigError("this scene has no obstacle; build it with obstacle=True")
        return np.array(self.bc.getBasePositionAndOrientation(self.obstacle)[0][:2])

    def obstacle_contact(self) -> bool:
        """Whether the robot or a cube touches the post."""
        if self.obstacle is None:
            return False
        return bool(self.bc.getContactPoints(bodyA=self.obstacle))

    def set_arm_target(self, q: ArrayLike) -> None:
        """Joint position targets for the 7 arm joints [rad]; held until changed."""
        self.arm_target = np.clip(np.asarray(q, dtype=np.float64), PANDA.lower, PANDA.upper)
        self.hold_arm()

    def set_gripper(self, opening: float) -> None:
        """Target opening between the fingers [m], 0 (closed) to 0.08; fingers press with a limited force."""
        self.gripper_target = float(np.clip(opening, 0.0, PANDA.max_opening))
        self.bc.setJointMotorControlArray(
            self.robot,
            list(PANDA.finger_joints),
            p.POSITION_CONTROL,
            targetPositions=[self.gripper_target / 2] * 2,
            forces=[PANDA.finger_force] * 2,
            positionGains=[0.05] * 2,
        )

    def hold_arm(self) -> None:
        self.bc.setJointMotorControlArray(
            self.robot,
            list(PANDA.arm_joints),
            p.POSITION_CONTROL,
            targetPositions=self.arm_target.tolist(),
            forces=list(PANDA.max_force),
            positionGains=[0.1] * 7,
        )
        self.set_gripper(self.gripper_target)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.bc.stepSimulation()
        self.steps += n

    # ---------------------------------------------------------------- queries
    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions [rad, m] and velocities of the 7 arm joints and 2 fingers, shape ``(9,)`` each."""
        states = self.bc.getJointStates(self.robot, [*PANDA.arm_joints, *PANDA.finger_joints])
        return np.array([s[0] for s in states]), np.array([s[1] for s in states])

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """Grasp-point position [m] and orientation quaternion (x, y, z, w)."""
        state = self.bc.getLinkState(self.robot, PANDA.ee_link, computeForwardKinematics=True)
        return np.array(state[4]), np.array(state[5])

    def ee_yaw(self) -> float:
        _, quat = self.ee_pose()
        return float(self.bc.getEulerFromQuaternion(quat.tolist())[2])

    def gripper_opening(self) -> float:
        states = self.bc.getJointStates(self.robot, list(PANDA.finger_joints))
        return float(states[0][0] + states[1][0])

    def cube_pose(self, cube: str) -> tuple[np.ndarray, np.ndarray]:
        pos, quat = self.bc.getBasePositionAndOrientation(self.cube_ids[cube])
        return np.array(pos), np.array(quat)

    def cube_velocity(self, cube: str) -> tuple[np.ndarray, np.ndarray]:
        lin, ang = self.bc.getBaseVelocity(self.cube_ids[cube])
        return np.array(lin), np.array(ang)

    def touches_table(self, cube: str) -> bool:
        return bool(self.bc.getContactPoints(self.cube_ids[cube], self.table))

    def finger_contacts(self, cube: str) -> tuple[bool, bool]:
        """Whether each finger touches ``cube``."""
        body = self.cube_ids[cube]
        left = bool(self.bc.getContactPoints(self.robot, body, PANDA.finger_joints[0], -1))
        right = bool(self.bc.getContactPoints(self.robot, body, PANDA.finger_joints[1], -1))
        return left, right

    def render(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """RGB ``(H, W, 3)`` uint8 from a fixed camera in front of the robot (TinyRenderer, CPU)."""
        w, h = width or self.render_size[0], height or self.render_size[1]
        view = self.bc.computeViewMatrixFromYawPitchRoll(
            cameraTargetPosition=[0.4, 0.05, TABLE_TOP_Z + 0.06],
            distance=0.95,
            yaw=65,
            pitch=-38,
            roll=0,
            upAxisIndex=2,
        )
        proj = self.bc.computeProjectionMatrixFOV(fov=55, aspect=w / h, nearVal=0.05, farVal=3.0)
        _, _, rgba, _, _ = self.bc.getCameraImage(w, h, view, proj, renderer=p.ER_TINY_RENDERER)
        return np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4)[:, :, :3].copy()

    def tray_bounds(self) -> tuple[float, float, float, float] | None:
        """Inner floor of the tray as (x_min, x_max, y_min, y_max) [m], or None without a tray."""
        if self.tray is None:
            return None
        inner = TRAY_HALF_WIDTH - 0.03
        return (TRAY_POSITION[0] - inner, TRAY_POSITION[0] + inner, TRAY_POSITION[1] - inner, TRAY_POSITION[1] + inner)

    def state_dict(self) -> dict[str, Any]:
        """Cube poses, for traces and determinism checks."""
        return {c: [round(float(v), 5) for v in self.cube_pose(c)[0]] for c in self.cube_ids}

    def close(self) -> None:
        if self.bc is not None:
            try:
                self.bc.disconnect()
            except p.error:
                pass
            self.bc = None  # type: ignore[assignment]

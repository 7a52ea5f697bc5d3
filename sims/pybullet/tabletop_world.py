"""The PyBullet tabletop as a :class:`~ember.sims.world.World` (contract 2).

Facts (all computed from contact physics and poses, never from what a skill claims):

- ``on(c, s)``: cube ``c`` rests on ``s`` (another cube, ``tray`` or ``table``) and is not held; a cube rocked onto
  an edge by a push still counts as on the table while it touches it.
- ``holding(panda, c)`` when both fingers touch ``c`` with ``c`` between them (the gripper open at least 2 cm);
  otherwise ``holding(panda, none)``.
- ``clear(x)``: no cube rests on ``x`` (derived; the tray and the table are always clear: they have room).
- ``reachable(c)``: ``c`` is on the table top within the arm's reach.
- ``at(c, s)``: cube ``c`` rests on the table within 3 cm of spot ``s`` (named table positions given by ``spots``).

An optional fixed post (``obstacle``, 5 cm across, 4.5 cm tall) stands on the table; cubes are not placed on it.

Actions for ``apply("panda", action)`` (SI units, world frame), exactly one motion key or none:

- ``{"ee_pos": [x, y, z], "ee_yaw": yaw}`` — grasp point target [m], gripper pointing down, turned by yaw [rad]
- ``{"joint_pos": [q0..q6]}`` — arm joint targets [rad]
- ``{"ee_delta": [dx, dy, dz]}`` — grasp point displacement from its current position [m]
- ``{"policy_action": [...], "control": "ee_delta" | "joint_delta"}`` — a learned policy's normalized action, mapped
  exactly as the vectorized env maps it (``tabletop_env.apply_policy_action``)
- optional ``"gripper"``: finger opening target [m], 0 to 0.08.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ember.sims.predicates import Atom
from ember.sims.pybullet.assets import (
    CUBE_SIZE,
    PANDA,
    REACH_RADIUS,
    TABLE_TOP_Z,
    TRAY_FLOOR_Z,
    TRAY_HALF_WIDTH,
    TRAY_POSITION,
    WORKSPACE_X,
    WORKSPACE_Y,
)
from ember.sims.pybullet.scene import OBSTACLE_HEIGHT, OBSTACLE_RADIUS, TabletopScene
from ember.sims.world import DerivedRule, ObjectInfo, World, WorldError

AGENT = "panda"
_MOTION_KEYS = ("ee_pos", "joint_pos", "ee_delta", "policy_action")
_ALL_KEYS = (*_MOTION_KEYS, "ee_yaw", "gripper", "control", "ee_step", "joint_step")
Z_TOL = 0.015
"""Tolerance on resting height when deciding ``on`` [m]."""
XY_TOL = 0.7 * CUBE_SIZE
"""Horizontal offset under which a cube counts as resting on the cube below [m]."""


def _xy(name: str, value: Any) -> np.ndarray:
    try:
        xy = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise WorldError(f"{name} must be [x, y] in meters; got {value!r}") from err
    if xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise WorldError(f"{name} must be [x, y] in meters (two finite numbers); got {value!r}")
    return xy


def _vector(action: Mapping[str, Any], key: str, size: int) -> np.ndarray:
    try:
        value = np.asarray(action[key], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        raise WorldError(f"action[{key!r}] must be {size} numbers; got {action[key]!r}") from err
    if value.shape != (size,) or not np.all(np.isfinite(value)):
        raise WorldError(f"action[{key!r}] must be {size} finite numbers; got {action[key]!r}")
    return value


def support_from_poses(
    cube: str,
    positions: Mapping[str, np.ndarray],
    tray_bounds: tuple[float, float, float, float] | None,
    touches_table: Callable[[], bool] | None = None,
    table_z: float = TABLE_TOP_Z,
    tray_floor_z: float = TRAY_FLOOR_Z,
) -> str | None:
    """What a cube rests on, from object positions alone (a cube id, ``tray``, ``table``, or None when it is in the
    air or fell off): the rule the simulator and a real robot's perception share. ``touches_table`` (a contact query,
    where one exists) keeps a cube rocked onto an edge by a push on the table; without it a center up to a quarter of
    the cube higher than resting still counts."""
    pos = positions[cube]
    for other, opos in positions.items():
        if other == cube:
            continue
        if abs(pos[2] - opos[2] - CUBE_SIZE) < Z_TOL and math.hypot(*(pos[:2] - opos[:2])) < XY_TOL:
            return other
    if (
        tray_bounds is not None
        and tray_bounds[0] - 0.02 <= pos[0] <= tray_bounds[1] + 0.02
        and tray_bounds[2] - 0.02 <= pos[1] <= tray_bounds[3] + 0.02
    ):
        return "tray" if abs(pos[2] - (tray_floor_z + CUBE_SIZE / 2)) < Z_TOL else None
    on_table_top = -0.25 < pos[0] < 1.25 and abs(pos[1]) < 0.5
    if on_table_top and abs(pos[2] - (table_z + CUBE_SIZE / 2)) < Z_TOL:
        return "table"
    # Rocked onto an edge by a push (center up to ~1 cm higher still), but still standing on the table.
    if on_table_top and pos[2] < table_z + 0.75 * CUBE_SIZE and (touches_table is None or touches_table()):
        return "table"
    return None


def tabletop_facts(
    agent: str,
    held: str | None,
    positions: Mapping[str, np.ndarray],
    supports: Mapping[str, str | None],
    spots: Mapping[str, np.ndarray],
    spot_radius: float,
    tray: bool,
) -> frozenset[Atom]:
    """The tabletop's predicates (module docstring) from the held cube, cube positions and what each rests on."""
    facts: set[Atom] = {Atom("holding", (agent, held or "none"))}
    covered = {s for s in supports.values() if s is not None}
    for cube, support in supports.items():
        if support is not None:
            facts.add(Atom("on", (cube, support)))
        if cube not in covered:
            facts.add(Atom("clear", (cube,)))
        pos = positions[cube]
        if (
            math.hypot(pos[0] - PANDA.base_position[0], pos[1] - PANDA.base_position[1]) < REACH_RADIUS
            and pos[2] > TABLE_TOP_Z
        ):
            facts.add(Atom("reachable", (cube,)))
        if support == "table":
            for spot, xy in spots.items():
                if math.hypot(*(pos[:2] - xy)) < spot_radius:
                    facts.add(Atom("at", (cube, spot)))
    facts.add(Atom("clear", ("table",)))
    if tray:
        facts.add(Atom("clear", ("tray",)))
    return frozenset(facts)


def tabletop_objects(
    cube_poses: Mapping[str, tuple[np.ndarray, np.ndarray]],
    tray_bounds: tuple[float, float, float, float] | None,
    spots: Mapping[str, np.ndarray],
    post_xy: np.ndarray | None,
) -> dict[str, ObjectInfo]:
    """The tabletop's objects: cubes from their poses (position, quaternion x y z w), the tray where there is one,
    named spots, the post, and the table."""
    out: dict[str, ObjectInfo] = {}
    for cube, (pos, quat) in cube_poses.items():
        out[cube] = ObjectInfo(
            id=cube,
            type="cube",
            position=tuple(float(v) for v in pos),  # type: ignore[arg-type]
            orientation=tuple(float(v) for v in quat),  # type: ignore[arg-type]
            attributes={"color": cube.removesuffix("_cube"), "size": CUBE_SIZE},
        )
    if tray_bounds is not None:
        out["tray"] = ObjectInfo(
            id="tray",
            type="surface",
            position=(*TRAY_POSITION, TRAY_FLOOR_Z),
            movable=False,
            attributes={
                "container": True,
                "free_area": tray_bounds,
                "footprint": (
                    TRAY_POSITION[0] - TRAY_HALF_WIDTH,
                    TRAY_POSITION[0] + TRAY_HALF_WIDTH,
                    TRAY_POSITION[1] - TRAY_HALF_WIDTH,
                    TRAY_POSITION[1] + TRAY_HALF_WIDTH,
                ),
            },
        )
    for spot, xy in spots.items():
        out[spot] = ObjectInfo(id=spot, type="spot", position=(float(xy[0]), float(xy[1]), TABLE_TOP_Z), movable=False)
    if post_xy is not None:
        out["post"] = ObjectInfo(
            id="post",
            type="obstacle",
            position=(float(post_xy[0]), float(post_xy[1]), TABLE_TOP_Z),
            movable=False,
            attributes={"radius": OBSTACLE_RADIUS, "height": OBSTACLE_HEIGHT},
        )
    out["table"] = ObjectInfo(
        id="table",
        type="surface",
        position=(0.5, 0.0, TABLE_TOP_Z),
        movable=False,
        attributes={"free_area": (*WORKSPACE_X, *WORKSPACE_Y)},
    )
    return out


def check_arm_action(action: Any, current_yaw: Callable[[], float]) -> dict[str, Any]:
    """Check an arm action (module docstring) and return it with numbers as arrays; ``current_yaw()`` is the
    gripper's yaw now [rad] (an ``ee_delta`` without ``ee_yaw`` keeps it). Raises :class:`WorldError` naming the key."""
    if not isinstance(action, Mapping):
        raise WorldError(f"action must be a mapping such as {{'ee_pos': [x, y, z]}}; got {type(action).__name__}")
    unknown = [k for k in action if k not in _ALL_KEYS]
    if unknown:
        raise WorldError(
            f"action keys {unknown} are unknown; use one of {list(_MOTION_KEYS)} plus optional 'ee_yaw', 'gripper'"
        )
    motion = [k for k in _MOTION_KEYS if k in action]
    if len(motion) > 1:
        raise WorldError(f"action gives {motion}; give at most one of {list(_MOTION_KEYS)}")
    checked: dict[str, Any] = {}
    if "ee_pos" in action:
        checked["ee_pos"] = _vector(action, "ee_pos", 3)
        checked["ee_yaw"] = float(action.get("ee_yaw", 0.0))
    elif "ee_delta" in action:
        checked["ee_delta"] = _vector(action, "ee_delta", 3)
        checked["ee_yaw"] = float(action.get("ee_yaw", current_yaw()))
    elif "joint_pos" in action:
        checked["joint_pos"] = _vector(action, "joint_pos", 7)
    elif "policy_action" in action:
        control = action.get("control", "ee_delta")
        if control not in ("ee_delta", "joint_delta"):
            raise WorldError(f"action['control'] must be 'ee_delta' or 'joint_delta'; got {control!r}")
        size = 4 if control == "ee_delta" else 8
        checked["policy_action"] = np.clip(_vector(action, "policy_action", size), -1.0, 1.0)
        checked["control"] = control
        checked["ee_step"] = float(action.get("ee_step", 0.02))
        checked["joint_step"] = float(action.get("joint_step", 0.05))
    if "gripper" in action:
        opening = float(action["gripper"])
        if not math.isfinite(opening) or not 0.0 <= opening <= PANDA.max_opening:
            raise WorldError(
                f"action['gripper'] must be an opening in [0, {PANDA.max_opening}] m; got {action['gripper']!r}"
            )
        checked["gripper"] = opening
    return checked


class TabletopWorld(World):
    """Panda, table, cubes and a tray in one PyBullet client.

    Args:
        cubes: cube colors (objects ``<color>_cube``).
        arrangement: initial arrangement (``scattered``, ``tower``, ``tray``, ``mixed`` or a mapping).
        seed: seed of the initial poses.
        physics_hz: physics rate [Hz].
        decimation: physics steps per control period.
        tray: whether the scene has a tray.
        render_size: video frame size ``(width, height)`` [px].
        obs_noise: standard deviation of the noise on object positions in the ``policy`` group [m].
        obstacle: x y of a fixed post on the table [m], or None.
        spots: named positions on the table, x y [m] (objects of type ``spot``; facts ``at(cube, spot)``).
    """

    spot_radius = 0.03
    """Distance from a spot within which a cube is ``at`` it [m] (the push_obstacle task's success radius)."""

    def __init__(
        self,
        cubes: Sequence[str] = ("red", "green", "blue"),
        arrangement: str | Mapping[str, Sequence[str]] = "scattered",
        seed: int = 0,
        physics_hz: int = 240,
        decimation: int = 8,
        tray: bool = True,
        render_size: tuple[int, int] = (160, 120),
        obs_noise: float = 0.0,
        obstacle: Sequence[float] | None = None,
        spots: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        if decimation < 1:
            raise WorldError(f"decimation must be >= 1 physics steps per control period; got {decimation}")
        self.spots = {name: _xy(f"spots.{name}", xy) for name, xy in (spots or {}).items()}
        clash = sorted(set(self.spots) & {*(f"{c}_cube" for c in cubes), "tray", "table", AGENT, "none"})
        if clash:
            raise WorldError(f"spot names {clash} are taken by other objects; rename them")
        self.scene = TabletopScene(
            cubes=cubes,
            physics_hz=physics_hz,
            tray=tray,
            render_size=tuple(render_size),  # type: ignore[arg-type]
            obstacle=obstacle is not None,
        )
        if obstacle is not None:
            self.scene.place_obstacle(_xy("obstacle", obstacle))
        self.decimation = decimation
        self.control_dt = decimation / physics_hz
        self.obs_noise = obs_noise
        self.arrangement = arrangement
        self._pending: dict[str, Any] | None = None
        self._t0_steps = 0
        self.reset(seed)

    def reset(self, seed: int, arrangement: str | Mapping[str, Sequence[str]] | None = None) -> None:
        """Put the cubes in a fresh arrangement drawn from ``seed``; world time restarts at zero."""
        self.rng = np.random.default_rng(seed)
        self.scene.reset(self.rng, arrangement if arrangement is not None else self.arrangement)
        self._pending = None
        self._t0_steps = self.scene.steps

    # ------------------------------------------------------------ symbolic
    def cubes(self) -> list[str]:
        return list(self.scene.cube_ids)

    def held_cube(self) -> str | None:
        # Both fingers on the cube, and the cube between them: a closed gripper pushing a face touches it with both
        # fingertips too, but holds nothing.
        if self.scene.gripper_opening() < 0.4 * CUBE_SIZE:
            return None
        for cube in self.scene.cube_ids:
            if all(self.scene.finger_contacts(cube)):
                return cube
        return None

    def support_of(self, cube: str, held: str | None = None) -> str | None:
        """What ``cube`` rests on (a cube id, ``tray`` or ``table``), or None (held, falling, fallen off)."""
        if cube == held:
            return None
        positions = {c: self.scene.cube_pose(c)[0] for c in self.scene.cube_ids}
        return support_from_poses(cube, positions, self.scene.tray_bounds(), lambda: self.scene.touches_table(cube))

    def facts(self) -> frozenset[Atom]:
        held = self.held_cube()
        positions = {c: self.scene.cube_pose(c)[0] for c in self.scene.cube_ids}
        supports = {c: self.support_of(c, held) for c in self.scene.cube_ids}
        return tabletop_facts(
            AGENT, held, positions, supports, self.spots, self.spot_radius, self.scene.tray is not None
        )

    def derived_rules(self) -> tuple[DerivedRule, ...]:
        return (
            DerivedRule(
                head=Atom("clear", ("?x",)), blocked_by=Atom("on", ("?_", "?x")), always_for_types=("surface",)
            ),
        )

    def objects(self) -> dict[str, ObjectInfo]:
        return tabletop_objects(
            {c: self.scene.cube_pose(c) for c in self.scene.cube_ids},
            self.scene.tray_bounds(),
            self.spots,
            self.scene.obstacle_xy() if self.scene.obstacle is not None else None,
        )

    def agents(self) -> list[str]:
        return [AGENT]

    # ------------------------------------------------------------ continuous
    def render(self) -> np.ndarray:
        return self.scene.render()

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        self._check_agent(agent)
        q, qd = self.scene.joint_state()
        ee, _ = self.scene.ee_pose()
        cube_pos = np.concatenate([self.scene.cube_pose(c)[0] for c in self.scene.cube_ids])
        noisy = cube_pos + (self.rng.normal(0.0, self.obs_noise, cube_pos.shape) if self.obs_noise > 0 else 0.0)
        policy = np.concatenate([q, qd, ee, noisy]).astype(np.float32)
        extra = []
        for cube in self.scene.cube_ids:
            _, quat = self.scene.cube_pose(cube)
            lin, ang = self.scene.cube_velocity(cube)
            extra.append(np.concatenate([quat, lin, ang, np.array(self.scene.finger_contacts(cube), dtype=np.float64)]))
        critic = np.concatenate([policy, cube_pos, *extra]).astype(np.float32)
        return {"policy": policy, "critic": critic}

    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        self._check_agent(agent)
        self._pending = check_arm_action(action, self.scene.ee_yaw)

    def advance(self) -> None:
        action, self._pending = self._pending, None
        if action:
            if "ee_pos" in action:
                self.scene.set_arm_target(self.scene.ik(action["ee_pos"], action["ee_yaw"]))
            elif "ee_delta" in action:
                ee, _ = self.scene.ee_pose()
                self.scene.set_arm_target(self.scene.ik(ee + action["ee_delta"], action["ee_yaw"]))
            elif "joint_pos" in action:
                self.scene.set_arm_target(action["joint_pos"])
            elif "policy_action" in action:
                from ember.sims.pybullet.tabletop_env import apply_policy_action

                apply_policy_action(
                    self.scene, action["policy_action"], action["control"], action["ee_step"], action["joint_step"]
                )
            if "gripper" in action:
                self.scene.set_gripper(action["gripper"])
        self.scene.step(self.decimation)

    def observe_task(self, agent: str, task: str, obj: str, goal: Sequence[float]) -> dict[str, np.ndarray]:
        """The observation groups of a learned task as its env lays them out (``push``, ``push_obstacle``: see
        ``tabletop_env``), for ``obj`` and a goal [x, y] [m]; the actor's cube position carries ``obs_noise``."""
        self._check_agent(agent)
        if task not in ("push", "push_obstacle"):
            raise WorldError(f"task {task!r} has no observation layout here; tasks with one: ['push', 'push_obstacle']")
        if task == "push_obstacle" and self.scene.obstacle is None:
            raise WorldError("task 'push_obstacle' needs a post on the table; build the world with obstacle=[x, y]")
        if obj not in self.scene.cube_ids:
            raise WorldError(f"cube {obj!r} is unknown; cubes are {self.cubes()}")
        from ember.sims.pybullet.tabletop_env import push_observation

        def seen(pos: np.ndarray) -> np.ndarray:
            return pos + self.rng.normal(0.0, self.obs_noise, 3) if self.obs_noise > 0 else pos

        policy, critic, _, _ = push_observation(self.scene, obj, np.asarray(goal, dtype=np.float64), seen)
        if task == "push_obstacle":
            from ember.sims.pybullet.tabletop_env import with_obstacle

            policy, critic = with_obstacle(self.scene, policy, critic)
        return {"policy": policy.astype(np.float32), "critic": critic.astype(np.float32)}

    def displace(self, cube: str, xy: Sequence[float], yaw: float = 0.0) -> None:
        """Disturbance for tests and benchmarks: put ``cube`` at rest on the table at ``xy`` [m] (never used by
        skills, which move objects only through contact)."""
        if cube not in self.scene.cube_ids:
            raise WorldError(f"cube {cube!r} is unknown; cubes are {self.cubes()}")
        self.scene._place(cube, (float(xy[0]), float(xy[1]), TABLE_TOP_Z + CUBE_SIZE / 2 + 0.001), yaw)

    def ee_pose(self, agent: str) -> tuple[np.ndarray, float]:
        """Grasp-point position [m] and yaw [rad] of ``agent``'s gripper."""
        self._check_agent(agent)
        return self.scene.ee_pose()[0], self.scene.ee_yaw()

    def gripper_opening(self, agent: str) -> float:
        """Measured finger opening [m]."""
        self._check_agent(agent)
        return self.scene.gripper_opening()

    def time(self) -> float:
        return (self.scene.steps - self._t0_steps) / self.scene.physics_hz

    def close(self) -> None:
        self.scene.close()

    @staticmethod
    def _check_agent(agent: str) -> None:
        if agent != AGENT:
            raise WorldError(f"agent {agent!r} is unknown; this world has agents [{AGENT!r}]")

"""Scripted tabletop skills for a top-down parallel gripper: grasps happen through contact physics.

Heights are relative to the support surface; the arm keeps ``SAFE_HEIGHT`` above the table when carrying.
"""

from __future__ import annotations

import numpy as np

from ember.skills.skill import Param
from ember.skills.tabletop.geometry import (
    CUBE_SIZE,
    best_grasp_yaw,
    free_spot,
    grasp_yaw,
    obstacle_near,
    roomiest_yaw,
)
from ember.skills.tabletop.scripted import Check, Expand, Grip, Move, Phase, ScriptedSkill, Target

OPEN = 0.08
"""Gripper fully open [m]."""
PICK_OPEN = 0.068
"""Opening while approaching a 5 cm cube: 9 mm each side, a smaller footprint near walls and neighbours [m]."""
CLOSED = 0.0
"""Gripper target when grasping; the finger force limit does the squeezing [m]."""
HAND_HALF_SPAN = 0.1
"""Half the width of the Panda hand across its fingers [m]."""
SAFE_HEIGHT = 0.22
"""Carry height above the table top [m]."""
APPROACH = 0.10
"""Height above a grasp or release pose where the vertical approach starts [m]."""

OBJ = Param("obj", ("object",), "the cube to act on", object_types=("cube",), movable=True)


class _TabletopSkill(ScriptedSkill):
    def _obj_pose(self, obj: str) -> tuple[np.ndarray, float]:
        info = self.world.objects()[obj]
        return np.array(info.position), grasp_yaw(info.orientation)

    def _table_z(self) -> float:
        return float(self.world.objects()["table"].position[2])

    def _holding(self, obj: str | None) -> bool:
        return any(f.name == "holding" and f.args == (self.agent, obj or "none") for f in self.world.facts())

    def _lift(self, gripper: float, height: float = SAFE_HEIGHT) -> Move:
        def target() -> tuple[np.ndarray, float]:
            pos, yaw = self._start_pose
            return np.array([pos[0], pos[1], max(pos[2], self._table_z() + height)]), yaw

        return Move(target, gripper, speed=0.5, label="lift")

    def _start(self) -> None:
        self._start_pose = self.arm.ee_pose(self.agent)
        super()._start()


class Pick(_TabletopSkill):
    name = "pick"
    description = "Grasp a cube from above with the parallel gripper and lift it."
    params = (OBJ,)
    preconditions = ("holding(?agent, none)", "clear(?obj)", "reachable(?obj)")
    effects = ("holding(?agent, ?obj)", "not holding(?agent, none)", "not on(?obj, ?_)")

    def phases(self) -> list[Phase]:
        obj = self.args["obj"]

        def grasp_pose(dz: float) -> Target:
            def fn() -> tuple[np.ndarray, float]:
                objects = self.world.objects()
                pos = np.array(objects[obj].position)
                return pos + np.array([0.0, 0.0, dz]), best_grasp_yaw(obj, objects, PICK_OPEN)

            return fn

        above, at = grasp_pose(APPROACH), grasp_pose(0.005)

        return [
            Grip(PICK_OPEN, 0.15, label="open"),
            self._lift(PICK_OPEN, height=0.15),
            Move(above, PICK_OPEN, speed=0.6, label=f"approach above {obj}"),
            Move(at, PICK_OPEN, speed=0.25, tolerance=0.008, label=f"descend to {obj}"),
            Grip(CLOSED, 0.5, label="close"),
            Check(lambda: self._holding(obj), f"grasp of {obj} missed: the fingers do not both touch it"),
            Move(
                lambda: (
                    self._obj_pose(obj)[0] * [1, 1, 0] + [0, 0, self._table_z() + SAFE_HEIGHT],
                    self._obj_pose(obj)[1],
                ),
                CLOSED,
                speed=0.4,
                label="lift",
            ),
            Check(lambda: self._holding(obj), f"{obj} slipped out of the gripper while lifting"),
        ]


class Place(_TabletopSkill):
    name = "place"
    description = (
        "Carry the held cube and release it on the tray, on top of another cube, or at a table position [x, y]."
    )
    params = (
        OBJ,
        Param(
            "target",
            ("object", "position"),
            "where to put it: 'tray', 'table', a cube id to stack on, or a table position [x, y] in meters",
            object_types=("cube", "surface"),
            position_dims=(2,),
            position_stands_for="table",
        ),
    )
    preconditions = ("holding(?agent, ?obj)", "clear(?target)")
    effects = ("on(?obj, ?target)", "holding(?agent, none)", "not holding(?agent, ?obj)")

    def _start(self) -> None:
        super()._start()
        target = self.args["target"]
        if target == self.args["obj"]:
            self._phases = [Check(lambda: False, f"cannot place {target} on itself")]

    def _destination(self) -> tuple[np.ndarray, float] | None:
        obj, target = self.args["obj"], self.args["target"]
        objects = self.world.objects()
        if isinstance(target, list | tuple):
            return np.array([target[0], target[1], self._table_z() + CUBE_SIZE / 2]), 0.0
        info = objects[target]
        if info.type == "cube":
            pos, yaw = np.array(info.position), grasp_yaw(info.orientation)
            return pos + np.array([0.0, 0.0, CUBE_SIZE]), yaw
        spot = free_spot(info, objects, exclude=(obj,))
        if spot is None:
            return None
        yaw = roomiest_yaw(spot, 0.0, objects, (obj,), OPEN)  # the fingers open away from the walls on release
        return np.array([spot[0], spot[1], info.position[2] + CUBE_SIZE / 2]), yaw

    def phases(self) -> list[Phase]:
        obj, target = self.args["obj"], self.args["target"]
        dest = self._destination()
        if dest is None:
            return [Check(lambda: False, f"no free spot on {target} for {obj}")]
        fixed = not (isinstance(target, str) and self.world.objects()[target].type == "cube")

        def goal(dz: float) -> Target:
            def fn() -> tuple[np.ndarray, float]:
                pos, yaw = dest if fixed else self._destination() or dest
                return pos + np.array([0.0, 0.0, dz]), yaw

            return fn

        def landed() -> bool:
            surface = "table" if isinstance(target, list | tuple) else target
            return any(f.name == "on" and f.args == (obj, surface) for f in self.world.facts())

        return [
            Check(lambda: self._holding(obj), f"not holding {obj}; pick it first"),
            self._lift(CLOSED),
            Move(goal(APPROACH + 0.05), CLOSED, speed=0.5, label=f"carry {obj} above {target}"),
            Move(goal(0.006), CLOSED, speed=0.15, tolerance=0.006, label=f"lower {obj} onto {target}"),
            Grip(OPEN, 0.35, label="release"),
            Move(goal(APPROACH), OPEN, speed=0.4, label="retreat"),
            Check(landed, f"{obj} is not on {target} after release"),
        ]


class Push(_TabletopSkill):
    name = "push"
    description = "Push a cube across the table to a position [x, y] with the closed gripper."
    params = (
        OBJ,
        Param("position", ("position",), "where the cube's center should end up, [x, y] in meters", position_dims=(2,)),
    )
    preconditions = ("holding(?agent, none)", "clear(?obj)", "on(?obj, table)", "reachable(?obj)")
    effects = ()
    tolerance = 0.025
    """Distance from the goal at which the push counts as done [m]."""

    max_strokes = 4

    def phases(self) -> list[Phase]:
        self._strokes = 0
        return [self._lift(CLOSED, height=0.12), Expand(self._stroke)]

    def _stroke(self) -> list[Phase]:
        """One straight stroke along the current cube-to-goal line; sideways drift is corrected by the next one."""
        obj = self.args["obj"]
        goal = np.array(self.args["position"][:2], dtype=np.float64)
        cube = self._obj_pose(obj)[0][:2]
        rest = goal - cube
        dist = float(np.linalg.norm(rest))
        if dist < self.tolerance:
            return []
        if self._strokes >= self.max_strokes:
            return [
                Check(
                    lambda: False,
                    f"{obj} is still {dist * 100:.1f} cm from {goal.round(3).tolist()} "
                    f"after {self.max_strokes} strokes",
                )
            ]
        self._strokes += 1
        d = rest / dist
        yaw = float((np.arctan2(d[1], d[0]) + np.pi) % np.pi - np.pi / 2)
        low = self._table_z() + 0.015
        behind = cube - d * (CUBE_SIZE / 2 + 0.03)
        # The fingertips go down behind the cube; the hand above them spans about 20 cm across the push direction.
        across = np.array([-d[1], d[0]])
        hand = [behind + across * t for t in np.linspace(-HAND_HALF_SPAN, HAND_HALF_SPAN, 7)]
        objects = self.world.objects()
        blocker = obstacle_near([behind], objects, (obj,), radius=0.045) or obstacle_near(hand, objects, (obj,), 0.025)
        if blocker is not None:
            return [
                Check(
                    lambda: False,
                    f"no room behind {obj} to push it towards {goal.round(3).tolist()}: {blocker} is in the way",
                )
            ]
        # The finger pads sit ~1 cm behind the grasp point, so the stroke ends that far short of the goal.
        end = goal - d * (CUBE_SIZE / 2 + 0.01)

        def point(xy: np.ndarray, z: float) -> Target:
            return lambda: (np.array([xy[0], xy[1], z]), yaw)

        return [
            Move(point(behind, low + 0.1), CLOSED, speed=0.5, label="go behind the cube"),
            Move(point(behind, low), CLOSED, speed=0.25, label="lower behind the cube"),
            Move(point(end, low), CLOSED, speed=0.12, tolerance=0.01, timeout=2.0 + dist / 0.08, label=f"push {obj}"),
            Move(point(end - d * 0.03, low + 0.1), CLOSED, speed=0.3, label="retreat"),
            Expand(self._stroke),
        ]


class MoveTo(_TabletopSkill):
    name = "move_to"
    description = "Move the gripper's grasp point to a position [x, y, z] in meters, pointing down, turned by yaw."
    params = (
        Param("position", ("position",), "grasp point target [x, y, z] in meters", position_dims=(3,)),
        Param("yaw", ("number",), "gripper yaw in radians", default=0.0, required=False),
    )

    def phases(self) -> list[Phase]:
        target = np.array(self.args["position"], dtype=np.float64)
        yaw = float(self.args["yaw"])
        return [Move(lambda: (target, yaw), self._gripper_now(), speed=0.5, label="move_to")]

    def _gripper_now(self) -> float:
        opening = self.arm.gripper_opening(self.agent)
        return OPEN if opening > 0.06 else opening


class OpenGripper(_TabletopSkill):
    name = "open_gripper"
    description = "Open the gripper fully (a held object is released where it is)."

    def phases(self) -> list[Phase]:
        return [Grip(OPEN, 0.4, label="open")]


class CloseGripper(_TabletopSkill):
    name = "close_gripper"
    description = "Close the gripper (grasps whatever is between the fingers)."

    def phases(self) -> list[Phase]:
        return [Grip(CLOSED, 0.5, label="close")]


TABLETOP_SKILLS: tuple[type[ScriptedSkill], ...] = (Pick, Place, Push, MoveTo, OpenGripper, CloseGripper)

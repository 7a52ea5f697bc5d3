"""RobotWorld's logic over an in-memory link (no ROS): facts from heard poses, held cube, commands, base twist."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from ember.robots.link import JointStateMsg, LinkCallbacks, PoseMsg, RobotLink
from ember.robots.world import RobotWorld
from ember.sims.pybullet.assets import CUBE_SIZE, PANDA, TABLE_TOP_Z
from ember.sims.pybullet.kinematics import PandaKinematics
from ember.sims.world import WorldError

ARM = [f"panda_joint{i}" for i in range(1, 8)]
FINGERS = ["panda_finger_joint1", "panda_finger_joint2"]


class MemoryLink(RobotLink):
    """Delivers one joint state and the given poses at start; records what is sent."""

    def __init__(self, poses: dict[str, Sequence[float]], opening: float = 0.08, deliver: bool = True) -> None:
        self.poses, self.opening, self.deliver = poses, opening, deliver
        self.sent: list[tuple[str, Any]] = []
        self.callbacks: LinkCallbacks | None = None

    def start(self, callbacks: LinkCallbacks, object_ids: Sequence[str]) -> None:
        self.callbacks = callbacks
        if self.deliver:
            self.state(list(PANDA.home))
            for obj, pos in self.poses.items():
                callbacks.pose(PoseMsg(obj, time.time(), tuple(pos), (0.0, 0.0, 0.0, 1.0)))  # type: ignore[arg-type]

    def state(self, q: list[float]) -> None:
        assert self.callbacks is not None
        half = self.opening / 2
        self.callbacks.joint_state(JointStateMsg(time.time(), ARM + FINGERS, [*q, half, half], [0.0] * 9))

    def send_arm(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        self.sent.append(("arm", list(positions)))

    def send_gripper(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        self.sent.append(("gripper", list(positions)))

    def send_twist(self, linear: Sequence[float], angular: Sequence[float]) -> None:
        self.sent.append(("twist", [*linear, *angular]))

    def close(self) -> None:
        pass


ON_TABLE = TABLE_TOP_Z + CUBE_SIZE / 2


def make(poses: dict[str, Sequence[float]], robot: dict[str, Any] | None = None, **link: Any) -> RobotWorld:
    robot = {"objects": list(poses), **(robot or {})}
    return RobotWorld(MemoryLink(poses, **link), robot, connect_timeout=0.5)


def test_facts_come_from_heard_poses() -> None:
    poses = {
        "red_cube": (0.5, -0.1, ON_TABLE),
        "green_cube": (0.5, -0.1, ON_TABLE + CUBE_SIZE),
        "blue_cube": (0.5, 0.3, ON_TABLE + 0.0075),
    }
    with make(poses) as world:
        facts = {str(f) for f in world.facts()}
        assert {"on(green_cube, red_cube)", "on(red_cube, table)", "on(blue_cube, tray)"} <= facts
        assert "holding(panda, none)" in facts and "clear(red_cube)" not in facts
        assert world.objects()["green_cube"].position[2] == pytest.approx(ON_TABLE + CUBE_SIZE)


def test_a_cube_between_closed_fingers_is_held() -> None:
    kin = PandaKinematics()
    ee, _ = kin.forward(PANDA.home)
    kin.close()
    with make({"red_cube": tuple(ee)}, opening=0.049) as world:
        facts = {str(f) for f in world.facts()}
        assert "holding(panda, red_cube)" in facts and not any(f.startswith("on(red_cube") for f in facts)
    with make({"red_cube": tuple(ee)}, opening=0.0) as world:  # fingers shut: nothing between them
        assert "holding(panda, none)" in {str(f) for f in world.facts()}


def test_commands_go_through_ik_and_safety() -> None:
    with make({"red_cube": (0.5, -0.1, ON_TABLE)}) as world:
        link = world.link
        assert isinstance(link, MemoryLink)
        ee, yaw = world.ee_pose("panda")
        world.apply("panda", {"ee_pos": ee + np.array([0.0, 0.0, -0.005]), "ee_yaw": yaw, "gripper": 0.06})
        world.advance()
        kinds = [k for k, _ in link.sent]
        assert kinds == ["arm", "gripper"] and link.sent[1][1] == pytest.approx([0.03, 0.03])
        with pytest.raises(WorldError, match="policy_action"):
            world.apply("panda", {"policy_action": [0, 0, 0, 0]})
        with pytest.raises(WorldError, match="mobile base"):
            world.apply("panda", {"base_twist": [0.1, 0, 0, 0, 0, 0]})
        with pytest.raises(WorldError, match="ee_pos"):
            world.apply("panda", {"ee_pos": [0.5, float("nan"), 0.8]})
        with pytest.raises(WorldError, match="unknown"):
            world.apply("robot2", {"gripper": 0.0})


def test_base_twist_reaches_a_mobile_base_within_limits() -> None:
    robot = {"topics": {"base_command": "/cmd_vel"}, "limits": {"base_linear": 0.2}}
    with make({"red_cube": (0.5, -0.1, ON_TABLE)}, robot) as world:
        link = world.link
        assert isinstance(link, MemoryLink)
        world.apply("panda", {"base_twist": [1.0, 0.0, 0.0, 0.0, 0.0, 0.3]})
        world.advance()
        assert link.sent == [("twist", pytest.approx([0.2, 0.0, 0.0, 0.0, 0.0, 0.3]))]
        with pytest.raises(WorldError, match="base_twist"):
            world.apply("panda", {"base_twist": [1.0, 2.0]})


def test_silent_robot_is_a_clear_error() -> None:
    with pytest.raises(WorldError, match=r"nothing heard on \['/joint_states'"):
        make({"red_cube": (0.5, 0.0, ON_TABLE)}, deliver=False)


def test_observation_has_the_tabletop_policy_layout() -> None:
    with make({"red_cube": (0.5, -0.1, ON_TABLE)}) as world:
        obs = world.observe("panda")
        assert set(obs) == {"policy"} and obs["policy"].shape == (9 + 9 + 3 + 3,)
        np.testing.assert_allclose(obs["policy"][:7], PANDA.home, atol=1e-6)

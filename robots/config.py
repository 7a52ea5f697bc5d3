"""A robot's deployment config: topic names, joint names, limits, workspace and rates (Hydra group ``robot``).

``launch/conf/robot/panda.yaml`` is the first; a config for another arm changes values here, not code. Every value is
checked when the config is loaded, and a bad one names its field, its value and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ember.sims.pybullet.assets import PANDA


class RobotConfigError(ValueError):
    """A robot config value that cannot be used; names the field, the value and the fix."""


@dataclass
class Topics:
    """ROS 2 names the bridge uses (``{id}`` in ``object_pose`` is an object id)."""

    joint_states: str = "/joint_states"
    """``sensor_msgs/JointState`` from the arm driver."""
    arm_command: str = "/panda_arm_controller/joint_trajectory"
    """``trajectory_msgs/JointTrajectory`` for the arm joints."""
    gripper_command: str = "/panda_hand_controller/joint_trajectory"
    """``trajectory_msgs/JointTrajectory`` for the finger joints."""
    object_pose: str = "/objects/{id}/pose"
    """``geometry_msgs/PoseStamped`` per object, in the world frame."""
    camera: str = "/camera/image_raw"
    """``sensor_msgs/Image`` (rgb8 or bgr8), for videos and VLM planners."""
    base_command: str = ""
    """``geometry_msgs/Twist`` for a mobile base ("" when the robot has none)."""
    estop: str = "/ember/estop"
    """``std_srvs/SetBool`` served by the bridge: true latches the e-stop, false resets it."""
    diagnostics: str = "/diagnostics"
    """``diagnostic_msgs/DiagnosticArray`` the bridge publishes (watchdog, e-stop, refused/clipped commands)."""


@dataclass
class Limits:
    """Joint and command limits enforced by the safety layer (``ember.robots.safety``)."""

    position_lower: list[float] = field(default_factory=lambda: list(PANDA.lower))
    """Arm joint position lower limits [rad]."""
    position_upper: list[float] = field(default_factory=lambda: list(PANDA.upper))
    """Arm joint position upper limits [rad]."""
    velocity: list[float] = field(default_factory=lambda: [2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])
    """Arm joint speed limits [rad/s] (Franka's datasheet)."""
    acceleration: list[float] = field(default_factory=lambda: [15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0])
    """Arm joint acceleration limits [rad/s^2] (Franka's datasheet)."""
    gripper_max: float = PANDA.max_opening
    """Largest gripper opening, both fingers [m]."""
    workspace_min: list[float] = field(default_factory=lambda: [0.15, -0.7, 0.63])
    """Lower corner of the box the grasp point must stay in, world frame x y z [m]."""
    workspace_max: list[float] = field(default_factory=lambda: [0.9, 0.7, 1.4])
    """Upper corner of that box [m]."""
    max_command_hz: float = 300.0
    """Commands closer together than 1 / this are refused [Hz]."""
    watchdog_s: float = 0.1
    """A joint state older than this trips the watchdog: hold position and report [s]."""
    base_linear: float = 0.5
    """Mobile base speed limit [m/s] (``base_twist`` actions are scaled down to it)."""
    base_angular: float = 1.0
    """Mobile base turn rate limit [rad/s]."""
    max_state_jump: float = 0.5
    """A joint state that moves a joint further than this since the previous one is rejected as corrupt [rad]."""


@dataclass
class RobotConfig:
    """One robot as the bridge sees it."""

    name: str = "panda"
    arm_joints: list[str] = field(default_factory=lambda: [f"panda_joint{i}" for i in range(1, 8)])
    """Arm joint names, in the order of the world's joint vectors."""
    finger_joints: list[str] = field(default_factory=lambda: ["panda_finger_joint1", "panda_finger_joint2"])
    """Finger joint names; the opening is their sum [m]."""
    base_position: list[float] = field(default_factory=lambda: list(PANDA.base_position))
    """Where the arm's base stands in the world frame [m] (its kinematic model's origin)."""
    control_hz: float = 30.0
    """Rate of ``advance()``: one command per period [Hz]."""
    objects: list[str] = field(default_factory=lambda: ["red_cube", "green_cube", "blue_cube"])
    """Object ids whose poses the robot hears on ``topics.object_pose``."""
    tray: bool = True
    """Whether the workspace has the tray at its known place."""
    rosbridge_url: str = "ws://127.0.0.1:9090"
    """Websocket of the robot's rosbridge server (``backend=rosbridge``)."""
    topics: Topics = field(default_factory=Topics)
    limits: Limits = field(default_factory=Limits)


def _floats(name: str, value: Any, size: int) -> list[float]:
    try:
        out = [float(v) for v in value]
    except (TypeError, ValueError) as err:
        raise RobotConfigError(f"robot.{name} must be a list of {size} numbers; got {value!r}") from err
    if len(out) != size or not all(math.isfinite(v) for v in out):
        raise RobotConfigError(f"robot.{name} must be a list of {size} finite numbers; got {value!r}")
    return out


def _build(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RobotConfigError(f"robot{prefix}: unknown keys {unknown}; known keys are {sorted(known)}")
    return cls(**dict(data))


def load_robot_config(data: Mapping[str, Any] | RobotConfig | None = None) -> RobotConfig:
    """Build and check a :class:`RobotConfig` from a mapping (a Hydra node as a dict); None gives the Panda's."""
    if isinstance(data, RobotConfig):
        cfg = data
    else:
        raw = dict(data or {})
        topics = _build(Topics, dict(raw.pop("topics", None) or {}), ".topics")
        limits = _build(Limits, dict(raw.pop("limits", None) or {}), ".limits")
        cfg = _build(RobotConfig, raw, "")
        cfg.topics, cfg.limits = topics, limits
    n = len(cfg.arm_joints)
    if n == 0 or len(set(cfg.arm_joints)) != n:
        raise RobotConfigError(f"robot.arm_joints must be distinct joint names; got {cfg.arm_joints!r}")
    lim = cfg.limits
    lim.position_lower = _floats("limits.position_lower", lim.position_lower, n)
    lim.position_upper = _floats("limits.position_upper", lim.position_upper, n)
    lim.velocity = _floats("limits.velocity", lim.velocity, n)
    lim.acceleration = _floats("limits.acceleration", lim.acceleration, n)
    lim.workspace_min = _floats("limits.workspace_min", lim.workspace_min, 3)
    lim.workspace_max = _floats("limits.workspace_max", lim.workspace_max, 3)
    cfg.base_position = _floats("base_position", cfg.base_position, 3)
    for i, (lo, hi) in enumerate(zip(lim.position_lower, lim.position_upper, strict=True)):
        if lo >= hi:
            raise RobotConfigError(
                f"robot.limits.position_lower[{i}]={lo} is not below position_upper[{i}]={hi}; swap or fix them"
            )
    for name in ("velocity", "acceleration"):
        bad = [v for v in getattr(lim, name) if v <= 0]
        if bad:
            raise RobotConfigError(f"robot.limits.{name} must be positive; got {getattr(lim, name)!r}")
    if any(a >= b for a, b in zip(lim.workspace_min, lim.workspace_max, strict=True)):
        raise RobotConfigError(
            f"robot.limits.workspace_min {lim.workspace_min} must be below workspace_max {lim.workspace_max} "
            "on every axis"
        )
    for name, value, low in (
        ("control_hz", cfg.control_hz, 1.0),
        ("limits.max_command_hz", lim.max_command_hz, 1.0),
        ("limits.watchdog_s", lim.watchdog_s, 1e-3),
        ("limits.gripper_max", lim.gripper_max, 1e-3),
        ("limits.max_state_jump", lim.max_state_jump, 1e-3),
        ("limits.base_linear", lim.base_linear, 0.0),
        ("limits.base_angular", lim.base_angular, 0.0),
    ):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < low:
            raise RobotConfigError(f"robot.{name} must be a number >= {low}; got {value!r}")
    if lim.max_command_hz < cfg.control_hz:
        raise RobotConfigError(
            f"robot.limits.max_command_hz={lim.max_command_hz} is below control_hz={cfg.control_hz}: every command "
            "would be refused; raise the limit or lower the control rate"
        )
    if not cfg.rosbridge_url.startswith(("ws://", "wss://")):
        raise RobotConfigError(
            f"robot.rosbridge_url={cfg.rosbridge_url!r} must be a websocket URL such as ws://127.0.0.1:9090"
        )
    if "{id}" not in cfg.topics.object_pose:
        raise RobotConfigError(
            f"robot.topics.object_pose={cfg.topics.object_pose!r} must contain '{{id}}' (the object id)"
        )
    for f in fields(Topics):
        name = str(getattr(cfg.topics, f.name))
        if f.name == "base_command" and name == "":
            continue  # no mobile base
        if not _ros_name(name.replace("{id}", "x")):
            raise RobotConfigError(
                f"robot.topics.{f.name}={name!r} is not a ROS 2 name: tokens of letters, digits and _ (not starting "
                "with a digit) joined by single /, e.g. /joint_states"
            )
    return cfg


def _ros_name(name: str) -> bool:
    """A valid ROS 2 topic or service name (absolute or relative, no substitutions left)."""
    tokens = name.removeprefix("/").removeprefix("~/").split("/")
    return bool(name) and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", t) for t in tokens)

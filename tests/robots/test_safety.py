"""The safety layer and robot config on their own (no ROS needed): limits, rate, workspace, NaN, watchdog, e-stop."""

from __future__ import annotations

import numpy as np
import pytest

from ember.robots.config import Limits, RobotConfigError, load_robot_config
from ember.robots.safety import SafetyLayer
from ember.sims.pybullet.assets import PANDA
from ember.sims.pybullet.kinematics import PandaKinematics

HOME = np.array(PANDA.home)


@pytest.fixture(scope="module")
def kinematics():
    kin = PandaKinematics()
    yield kin
    kin.close()


def layer(kinematics: PandaKinematics | None = None, **limits: object) -> SafetyLayer:
    forward = (lambda q: kinematics.forward(q)[0]) if kinematics is not None else None
    return SafetyLayer(Limits(**limits), forward, control_dt=1 / 30)  # type: ignore[arg-type]


def test_small_step_passes_untouched(kinematics: PandaKinematics) -> None:
    safety = layer(kinematics)
    target = HOME + 0.001
    command, events = safety.filter(target, 0.04, HOME, t=0.0)
    assert command is not None and command.q is not None
    np.testing.assert_allclose(command.q, target)
    assert command.gripper == 0.04 and events == []


def test_position_limits_clip() -> None:
    safety = layer(velocity=[100.0] * 7, acceleration=[1e6] * 7)
    target = HOME.copy()
    target[3] = 0.5  # joint 4's upper limit is -0.0698
    command, events = safety.filter(target, None, HOME, t=0.0)
    assert command is not None and command.q is not None
    assert command.q[3] == pytest.approx(PANDA.upper[3])
    assert any(e.kind == "clipped" and "position limits" in e.reason for e in events)


def test_speed_and_acceleration_limits_clip() -> None:
    safety = layer()
    far = HOME + 1.0  # 1 rad in one 33 ms period: 30 rad/s
    command, events = safety.filter(far, None, HOME, t=0.0)
    assert command is not None and command.q is not None
    step = np.abs(command.q - HOME)
    # From rest the acceleration limit binds first: at most a * dt^2 per period.
    assert np.all(step <= np.array(Limits().acceleration) * (1 / 30) ** 2 + 1e-9)
    kinds = {e.reason.split(" would")[0] for e in events}
    assert any("speed limits" in e.reason for e in events) and any("acceleration" in e.reason for e in events), kinds
    # Keep asking: the speed ramps up to, and never beyond, the speed limit.
    q, t, speeds = command.q, 0.0, []
    for _ in range(60):
        t += 1 / 30
        command, _ = safety.filter(far, None, q, t=t)
        assert command is not None and command.q is not None
        speeds.append(np.abs(command.q - q) * 30)
        q = command.q
    assert np.all(np.array(speeds) <= np.array(Limits().velocity) + 1e-6)
    assert np.max(speeds) == pytest.approx(max(Limits().velocity), rel=1e-3)
    # Braking is never limited: the command ends exactly on the target, no overshoot.
    np.testing.assert_allclose(q, np.clip(far, PANDA.lower, PANDA.upper), atol=1e-9)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(bad: float) -> None:
    safety = layer()
    target = HOME.copy()
    target[2] = bad
    command, events = safety.filter(target, None, HOME, t=0.0)
    assert command is None and events[0].kind == "refused" and "finite" in events[0].reason
    command, events = safety.filter(None, bad, HOME, t=0.1)
    assert command is None and "gripper" in events[0].reason
    command, events = safety.filter(HOME[:5], None, HOME, t=0.2)
    assert command is None and "7 finite joint positions" in events[0].reason


def test_too_fast_commands_are_refused() -> None:
    safety = layer(max_command_hz=100.0)
    assert safety.filter(HOME, None, HOME, t=0.0)[0] is not None
    command, events = safety.filter(HOME, None, HOME, t=0.004)
    assert command is None and "rate too high" in events[0].reason and "100 Hz" in events[0].reason
    assert safety.filter(HOME, None, HOME, t=0.011)[0] is not None


def test_workspace_box_refuses(kinematics: PandaKinematics) -> None:
    safety = layer(kinematics, workspace_min=[0.15, -0.7, 0.95], velocity=[100.0] * 7, acceleration=[1e6] * 7)
    low = kinematics.inverse([0.5, 0.0, 0.70], 0.0, seed=HOME)  # grasp point 7 cm above the table: below the box
    command, events = safety.filter(low, None, HOME, t=0.0)
    assert command is None and "workspace" in events[-1].reason


def test_gripper_is_clipped() -> None:
    command, events = layer().filter(None, 0.2, HOME, t=0.0)
    assert command is not None and command.gripper == PANDA.max_opening
    assert events[0].kind == "clipped"


def test_estop_latches_until_reset() -> None:
    safety = layer()
    safety.estop("button", t=0.0)
    for t in (0.1, 0.5, 5.0):
        command, events = safety.filter(HOME, 0.0, HOME, t=t)
        assert command is None and "e-stop latched" in events[0].reason
    safety.reset(t=6.0)
    assert safety.filter(HOME, 0.0, HOME, t=6.1)[0] is not None


def test_watchdog_trips_and_recovers() -> None:
    safety = layer(watchdog_s=0.1)
    assert safety.check_watchdog(0.05, t=0.0) is None
    event = safety.check_watchdog(0.3, t=0.3)
    assert event is not None and event.kind == "watchdog" and "holding position" in event.reason
    assert safety.check_watchdog(0.4, t=0.4) is None  # reported once
    command, events = safety.filter(HOME, None, HOME, t=0.4)
    assert command is None and "watchdog" in events[0].reason
    event = safety.check_watchdog(0.01, t=0.5)
    assert event is not None and event.kind == "recovered"
    assert safety.filter(HOME, None, HOME, t=0.6)[0] is not None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"limits": {"velocity": [1.0] * 6}}, "robot.limits.velocity"),
        ({"limits": {"velocity": [1.0, 1, 1, 1, 1, 1, -2]}}, "robot.limits.velocity must be positive"),
        ({"limits": {"position_lower": [1.0] * 7, "position_upper": [0.0] * 7}}, "position_lower[0]"),
        ({"limits": {"workspace_min": [1, 1, 1], "workspace_max": [0, 0, 0]}}, "workspace_min"),
        ({"limits": {"watchdog_s": "soon"}}, "robot.limits.watchdog_s"),
        ({"limits": {"max_command_hz": 10.0}}, "max_command_hz=10.0 is below control_hz"),
        ({"topics": {"object_pose": "/objects/pose"}}, "'{id}'"),
        ({"topics": {"joint_state": "/js"}}, "robot.topics: unknown keys ['joint_state']"),
        ({"arm_joints": ["a", "a"]}, "robot.arm_joints"),
        ({"speed": 3}, "unknown keys ['speed']"),
    ],
)
def test_bad_robot_config_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(RobotConfigError) as err:
        load_robot_config(data)
    assert field in str(err.value)


def test_default_config_is_the_panda() -> None:
    cfg = load_robot_config(None)
    assert cfg.arm_joints[0] == "panda_joint1" and cfg.limits.position_upper == list(PANDA.upper)


def test_base_twist_is_scaled_to_its_limits_and_refused_when_blocked() -> None:
    safety = layer(base_linear=0.5, base_angular=1.0)
    out, events = safety.filter_twist(np.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.5]), t=0.0)
    assert out is not None
    np.testing.assert_allclose(out, [0.5, 0.0, 0.0, 0.0, 0.0, 0.5])
    assert "base speed 1.000 m/s" in events[0].reason
    assert safety.filter_twist(np.array([np.nan, 0, 0, 0, 0, 0]), t=0.1)[0] is None
    safety.estop("test", t=0.2)
    out, events = safety.filter_twist(np.zeros(6), t=0.3)
    assert out is None and "e-stop" in events[0].reason


@pytest.mark.parametrize("name", ["not a topic!!", "", "/joint//states", "/joint_states/", "/1joints"])
def test_topic_names_that_ros_would_refuse_are_config_errors(name: str) -> None:
    with pytest.raises(RobotConfigError, match=r"robot\.topics\.joint_states=.* is not a ROS 2 name"):
        load_robot_config({"topics": {"joint_states": name}})
    cfg = load_robot_config({"topics": {"joint_states": "~/joints", "base_command": ""}})  # relative and none: fine
    assert cfg.topics.joint_states == "~/joints"

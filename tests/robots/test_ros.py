"""The deployment path through real ROS 2 middleware: planner -> tree -> skills -> safety -> rclpy -> robot-sim
(the PyBullet Panda in another process), on localhost-only discovery in a random ROS domain (conftest)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import requires_ros

from ember.robots.config import load_robot_config
from ember.robots.record import read_bag

pytestmark = [requires_ros, pytest.mark.slow]
CFG = load_robot_config(None)


class Probe:
    """A test-side rclpy node of its own: publishes bad messages, listens to commands, calls the e-stop."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from trajectory_msgs.msg import JointTrajectory

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("ember_test_probe", context=self.context)
        self.commands: list[tuple[float, list[float]]] = []
        self.node.create_subscription(
            JointTrajectory,
            CFG.topics.arm_command,
            lambda m: self.commands.append((time.monotonic(), list(m.points[-1].positions))),
            10,
        )
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def estop(self, latch: bool) -> tuple[float, Any]:
        from std_srvs.srv import SetBool

        client = self.node.create_client(SetBool, CFG.topics.estop)
        assert client.wait_for_service(timeout_sec=10.0), "the bridge's e-stop service did not appear"
        t0 = time.monotonic()
        future = client.call_async(SetBool.Request(data=latch))
        deadline = t0 + 5.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.001)
        assert future.done(), "the e-stop service did not answer within 5 s"
        return t0, future.result()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(2.0)


@pytest.fixture
def probe() -> Iterator[Probe]:
    p = Probe()
    yield p
    p.close()


@pytest.fixture
def world(robot_sim: Any) -> Iterator[Any]:
    from ember.robots import make_robot_world

    sim = robot_sim("seed=0")
    w = make_robot_world("ros", None, connect_timeout=20.0)
    events: list[dict[str, Any]] = []
    w.on_event = events.append
    w.sim, w.events = sim, events
    yield w
    w.close()


def settle(world: Any, seconds: float) -> None:
    end = world.time() + seconds
    while world.time() < end:
        world.advance()


def test_pick_place_plan_runs_through_ros_and_records_mcap(robot_sim: Any, tmp_path: Path) -> None:
    robot_sim("seed=1")
    run_dir, bag = tmp_path / "run", tmp_path / "bag"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ember.launch.cli",
            "run",
            "backend=ros",
            "goal='on(red_cube, tray)'",
            "seed=1",
            "progress=false",
            "video=false",
            f"record={bag}",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["success"] and "on(red_cube, tray)" in metrics["final_facts"]
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    assert not [e for e in events if e.get("event") == "safety" and e["kind"] == "refused"]
    messages = read_bag(bag)
    states, commands = messages["/joint_states"], messages[CFG.topics.arm_command]
    assert len(states) > 100 and len(commands) > 30
    assert list(states[0][1].name[:7]) == CFG.arm_joints
    assert commands[0][1].header.frame_id.startswith("seq=") and len(commands[0][1].points[0].positions) == 7
    assert "/objects/red_cube/pose" in messages


def test_watchdog_trips_when_robot_sim_pauses_or_dies(world: Any) -> None:
    settle(world, 0.3)
    assert world.fault() is None
    world.sim.pause()
    settle(world, 0.4)
    assert world.fault() is not None and "watchdog" in world.fault()
    assert any(e["kind"] == "watchdog" for e in world.events) and any(e["kind"] == "hold" for e in world.events)
    ee, yaw = world.ee_pose("panda")
    world.apply("panda", {"ee_pos": ee + np.array([0.0, 0.0, -0.01]), "ee_yaw": yaw})
    world.advance()
    assert any(e["kind"] == "refused" and "watchdog" in e["reason"] for e in world.events)
    world.sim.resume()
    settle(world, 0.5)
    assert world.fault() is None and any(e["kind"] == "recovered" for e in world.events)
    world.sim.stop()
    settle(world, 0.4)
    assert world.fault() is not None and "watchdog" in world.fault()


def test_estop_halts_motion_within_one_control_period(world: Any, probe: Probe) -> None:
    home_ee, yaw = world.ee_pose("panda")
    deadline = time.monotonic() + 10.0
    while not probe.commands and time.monotonic() < deadline:  # until discovery has matched the probe
        world.apply("panda", {"ee_pos": home_ee, "ee_yaw": yaw})
        world.advance()
    assert probe.commands, "the probe never heard the bridge's commands"
    # Start a brisk move (its targets ramp 10 cm sideways and 15 cm down in 0.2 s), e-stop it in mid-flight.
    for k in range(4):
        world.apply("panda", {"ee_pos": home_ee + np.array([0.0, 0.1, -0.15]) * (k + 1) / 6, "ee_yaw": yaw})
        world.advance()
    moving = world.observe("panda")["policy"][9:16]
    assert float(np.max(np.abs(moving))) > 0.3, "the arm should be moving before the e-stop"
    t_call, answer = probe.estop(True)
    assert answer.success and "e-stop" in answer.message
    holds = [(t, q) for t, q in probe.commands if t >= t_call]
    assert holds, "no hold command after the e-stop"
    assert holds[0][0] - t_call <= world.control_dt, f"hold sent {holds[0][0] - t_call:.4f} s after the call"
    assert world.fault() is not None and "e-stop" in world.fault()
    n = len(probe.commands)
    for _ in range(15):  # skills keep asking; nothing reaches the robot
        world.apply("panda", {"ee_pos": home_ee + np.array([0.0, 0.0, -0.2]), "ee_yaw": yaw})
        world.advance()
    assert len(probe.commands) == n
    assert sum(e["kind"] == "refused" and "e-stop" in e["reason"] for e in world.events) >= 15
    speed = float(np.max(np.abs(world.observe("panda")["policy"][9:16])))
    assert speed < 0.05, f"arm still moving at {speed:.3f} rad/s half a second after the e-stop"
    _, answer = probe.estop(False)
    assert answer.success and world.fault() is None
    world.apply("panda", {"ee_pos": home_ee, "ee_yaw": yaw})
    world.advance()
    time.sleep(0.05)
    assert len(probe.commands) > n


def test_malformed_and_stale_messages_are_rejected(world: Any, probe: Probe) -> None:
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState

    joints = world.robot.arm_joints + world.robot.finger_joints
    pub = probe.node.create_publisher(JointState, CFG.topics.joint_states, 10)
    pose_pub = probe.node.create_publisher(PoseStamped, CFG.topics.object_pose.format(id="red_cube"), 10)
    deadline = time.monotonic() + 10.0
    while (pub.get_subscription_count() < 1 or pose_pub.get_subscription_count() < 1) and time.monotonic() < deadline:
        settle(world, 0.05)  # until discovery has matched the probe's publishers with the bridge
    q_now = world.observe("panda")["policy"][:9].astype(float).tolist()

    def state(names: list[str], position: list[float], stamp: float | None = None) -> JointState:
        msg = JointState()
        t = time.time() if stamp is None else stamp
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(t), int((t % 1) * 1e9)
        msg.name, msg.position = names, position
        return msg

    bad_states = [
        state(joints, [math.nan] * 9),
        state(joints[2:], q_now[2:]),
        state(joints, q_now[:5]),
        state(joints, q_now, stamp=1.0),
    ]
    bad_pose = PoseStamped()
    bad_pose.pose.position.x = math.nan
    zero_quat = PoseStamped()
    zero_quat.pose.orientation.w = 0.0
    for msg in bad_states:
        pub.publish(msg)
    settle(world, 0.1)
    # A jump: stamped ahead of every state the sim sends meanwhile, so it is not stale, only impossible.
    pub.publish(state(joints, [v + 1.0 for v in q_now], stamp=time.time() + 0.5))
    pose_pub.publish(bad_pose)
    pose_pub.publish(zero_quat)
    settle(world, 0.3)
    reasons = " | ".join(e["reason"] for e in world.events if e["kind"].startswith("rejected"))
    for expected in ("NaN or inf", "lacks arm joints", "9 names but 5 positions", "before the previous one", "jumps"):
        assert expected in reasons, (expected, reasons)
    assert "quaternion of norm 0.000" in reasons and "pose of red_cube with NaN" in reasons
    assert np.all(np.isfinite(world.observe("panda")["policy"]))
    deadline = time.monotonic() + 3.0
    while world.render().std() == 0 and time.monotonic() < deadline:  # the robot-sim's camera runs at 2 Hz
        settle(world, 0.1)
    frame = world.render()
    assert frame.shape == (120, 160, 3) and frame.std() > 0, "no camera image heard on the camera topic"
    facts = {str(f) for f in world.facts()}
    assert "on(red_cube, table)" in facts and world.fault() is None


def test_unreachable_robot_is_a_clear_error() -> None:
    from ember.robots import make_robot_world
    from ember.sims.world import WorldError

    with pytest.raises(WorldError) as err:
        make_robot_world("ros", {"topics": {"joint_states": "/nobody/joint_states"}}, connect_timeout=1.0)
    assert "/nobody/joint_states" in str(err.value) and "ROS_DOMAIN_ID" in str(err.value)

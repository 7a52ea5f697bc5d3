"""A simulated robot behind ROS 2: the PyBullet Panda tabletop, run in real time, speaking the topics an arm driver
would (``ember robot-sim``).

- publishes ``sensor_msgs/JointState`` on ``topics.joint_states`` at ``state_hz`` (``header.frame_id`` carries
  ``ack=<seq>``: the newest command it applied, which is how ``bench/ros.py`` measures command latency),
  ``geometry_msgs/PoseStamped`` per object on ``topics.object_pose`` at ``pose_hz``, and ``sensor_msgs/Image`` (rgb8)
  on ``topics.camera`` at ``camera_hz``;
- takes ``trajectory_msgs/JointTrajectory`` on ``topics.arm_command`` and ``topics.gripper_command`` (the last point's
  positions become the joint targets, matched by joint name; a malformed trajectory is logged and ignored).

It does no safety checking of its own: that is the bridge's job, and tests check it there.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ember.robots.config import RobotConfig, load_robot_config
from ember.robots.link import float_to_stamp
from ember.robots.ros2 import OwnNode
from ember.sims.pybullet.tabletop_world import TabletopWorld

log = logging.getLogger("ember.robot_sim")
SEQ = re.compile(r"seq=(\d+)")


class RobotSim:
    """The node and the physics; :meth:`run` loops until :meth:`stop` (or SIGTERM/SIGINT)."""

    def __init__(
        self,
        robot: Mapping[str, Any] | RobotConfig | None = None,
        cubes: Sequence[str] = ("red", "green", "blue"),
        arrangement: Any = "scattered",
        seed: int = 0,
        physics_hz: int = 240,
        state_hz: float = 250.0,
        pose_hz: float = 60.0,
        camera_hz: float = 2.0,
        render_size: Sequence[int] = (160, 120),
    ) -> None:
        self.robot = load_robot_config(robot)
        for name, rate in (("state_hz", state_hz), ("pose_hz", pose_hz), ("physics_hz", physics_hz)):
            if not rate > 0:
                raise ValueError(f"robot-sim {name}={rate!r} must be positive")
        self.world = TabletopWorld(
            cubes=cubes,
            arrangement=arrangement,
            seed=seed,
            physics_hz=physics_hz,
            decimation=1,
            tray=self.robot.tray,
            render_size=tuple(render_size),  # type: ignore[arg-type]
        )
        missing = [o for o in self.robot.objects if o not in self.world.cubes()]
        if missing:
            raise ValueError(f"robot.objects {missing} are not in the simulated scene (cubes {self.world.cubes()})")
        self.scene = self.world.scene
        self.rates = {"physics": float(physics_hz), "state": state_hz, "pose": pose_hz, "camera": camera_hz}
        self.ack = 0
        self.ignored = 0
        self._running = True
        self.own = OwnNode("ember_robot_sim")  # first: a missing ROS install is reported before anything else
        self.node, self.executor = self.own.node, self.own.executor
        from geometry_msgs.msg import PoseStamped
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import Image, JointState
        from trajectory_msgs.msg import JointTrajectory

        self._msg = {"state": JointState, "pose": PoseStamped, "image": Image}
        qos = QoSProfile(depth=10)
        topics = self.robot.topics
        self.state_pub = self.node.create_publisher(JointState, topics.joint_states, qos)
        self.pose_pubs = {
            o: self.node.create_publisher(PoseStamped, topics.object_pose.format(id=o), qos) for o in self.robot.objects
        }
        self.image_pub = (
            self.node.create_publisher(Image, topics.camera, 2) if topics.camera and camera_hz > 0 else None
        )
        self.node.create_subscription(JointTrajectory, topics.arm_command, self._on_arm, qos)
        self.node.create_subscription(JointTrajectory, topics.gripper_command, self._on_gripper, qos)
        self._names = [*self.robot.arm_joints, *self.robot.finger_joints]

    # ------------------------------------------------------------------ commands
    def _targets(self, msg: Any, joints: Sequence[str]) -> np.ndarray | None:
        if not msg.points:
            self._ignore("trajectory without points")
            return None
        positions = list(msg.points[-1].positions)
        names = list(msg.joint_names)
        if len(positions) != len(names):
            self._ignore(f"trajectory with {len(names)} joint names but {len(positions)} positions")
            return None
        index = {n: i for i, n in enumerate(names)}
        if any(j not in index for j in joints):
            self._ignore(f"trajectory for {names}, expected {list(joints)}")
            return None
        out = np.array([positions[index[j]] for j in joints], dtype=np.float64)
        if not np.all(np.isfinite(out)):
            self._ignore("trajectory with NaN or inf")
            return None
        seq = SEQ.search(msg.header.frame_id)
        if seq is not None:
            self.ack = max(self.ack, int(seq.group(1)))
        return out

    def _ignore(self, reason: str) -> None:
        self.ignored += 1
        if self.ignored <= 5:
            log.warning("robot-sim ignored a command: %s", reason)
        return None

    def _on_arm(self, msg: Any) -> None:
        q = self._targets(msg, self.robot.arm_joints)
        if q is not None:
            self.scene.set_arm_target(q)

    def _on_gripper(self, msg: Any) -> None:
        fingers = self._targets(msg, self.robot.finger_joints)
        if fingers is not None:
            self.scene.set_gripper(float(fingers.sum()))

    # ------------------------------------------------------------------ outgoing
    def _stamp(self, msg: Any, frame_id: str) -> None:
        msg.header.stamp.sec, msg.header.stamp.nanosec = float_to_stamp(time.time())
        msg.header.frame_id = frame_id

    def publish_state(self) -> None:
        q, qd = self.scene.joint_state()
        n = len(self._names)
        msg = self._msg["state"]()
        self._stamp(msg, f"panda_link0;ack={self.ack}")
        msg.name = self._names
        msg.position = q[:n].tolist()
        msg.velocity = qd[:n].tolist()
        self.state_pub.publish(msg)

    def publish_poses(self) -> None:
        for obj, pub in self.pose_pubs.items():
            pos, quat = self.scene.cube_pose(obj)
            msg = self._msg["pose"]()
            self._stamp(msg, "world")
            p, o = msg.pose.position, msg.pose.orientation
            p.x, p.y, p.z = (float(v) for v in pos)
            o.x, o.y, o.z, o.w = (float(v) for v in quat)
            pub.publish(msg)

    def publish_image(self) -> None:
        if self.image_pub is None:
            return
        frame = self.world.render()
        msg = self._msg["image"]()
        self._stamp(msg, "camera")
        msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
        msg.encoding, msg.step = "rgb8", int(frame.shape[1]) * 3
        msg.data = frame.tobytes()
        self.image_pub.publish(msg)

    # ------------------------------------------------------------------ loop
    def stop(self, *_: Any) -> None:
        self._running = False

    def run(self, duration: float | None = None) -> None:
        """Step physics in real time and publish at the configured rates until stopped."""
        start = time.monotonic()
        due = {k: start for k in self.rates}
        while self._running and (duration is None or time.monotonic() - start < duration):
            wake = min(due[k] for k in due if self.rates[k] > 0)
            self.executor.spin_once(timeout_sec=max(0.0, wake - time.monotonic()))
            now = time.monotonic()
            steps = 0
            while due["physics"] <= now and steps < 8:  # catch up at most 8 steps, then let time slip
                self.scene.step(1)
                due["physics"] += 1.0 / self.rates["physics"]
                steps += 1
            if due["physics"] <= now:
                due["physics"] = now
            for kind, publish in (
                ("state", self.publish_state),
                ("pose", self.publish_poses),
                ("camera", self.publish_image),
            ):
                if self.rates[kind] > 0 and due[kind] <= now:
                    publish()
                    due[kind] = max(due[kind] + 1.0 / self.rates[kind], now)

    def close(self) -> None:
        try:
            self.own.close()
        finally:
            self.world.close()


def serve(sim: RobotSim) -> None:
    """Run until SIGTERM/SIGINT, announcing readiness on stdout (what tests and scripts wait for)."""
    signal.signal(signal.SIGTERM, sim.stop)
    signal.signal(signal.SIGINT, sim.stop)
    print(f"robot-sim ready: {sim.robot.name} on {sim.robot.topics.joint_states}", flush=True)
    try:
        sim.run()
    finally:
        sim.close()
        print("robot-sim stopped", flush=True)
        sys.stdout.flush()

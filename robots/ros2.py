"""The ROS 2 transport: an rclpy node of its own (own context, own executor thread) that subscribes to the robot's
joint states, object poses and camera, publishes joint trajectories (and a Twist for a mobile base), serves the
e-stop (``std_srvs/SetBool``) and publishes diagnostics.

Needs the ``ros`` extra (``pip install ember[ros]``: rclpy and the message packages as PyPI wheels). Discovery follows
the usual environment: ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE`` (``LOCALHOST`` keeps a test on one machine).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from ember.robots.config import RobotConfig
from ember.robots.link import (
    ImageMsg,
    JointStateMsg,
    LinkCallbacks,
    PoseMsg,
    RobotLink,
    float_to_stamp,
    stamp_to_float,
)

log = logging.getLogger("ember.robots.ros2")


def require_rclpy() -> Any:
    """Import rclpy or say how to get it."""
    try:
        import rclpy
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "the ROS 2 backend needs rclpy and the message packages: pip install 'ember[ros]' "
            f"(PyPI wheels ros-rclpy, ros-rmw-fastrtps-cpp, ...); import failed: {err}"
        ) from err
    return rclpy


class OwnNode:
    """An rclpy node with a context and executor of its own, so several live in one process and each shuts down
    cleanly; rclpy installs no signal handlers (the process's own Ctrl-C/SIGTERM handling stays in charge).
    :meth:`spin_in_thread` runs the executor in a daemon thread; :meth:`close` stops it and releases everything."""

    def __init__(self, name: str) -> None:
        rclpy = require_rclpy()
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.signals import SignalHandlerOptions

        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread: threading.Thread | None = None
        self.closed = False

    def spin_in_thread(self, thread_name: str) -> None:
        self.thread = threading.Thread(target=self._spin, name=thread_name, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception as err:  # the context shut down under it, or a callback raised
            if not self.closed and self.context.ok():
                log.error("ROS 2 executor of %s stopped: %s", self.node.get_name(), err)

    def close(self, join_s: float = 2.0) -> None:
        if self.closed:
            return
        self.closed = True
        rclpy = require_rclpy()
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            if self.context.ok():
                rclpy.shutdown(context=self.context)
        if self.thread is not None:
            self.thread.join(timeout=join_s)
            self.thread = None


class Ros2Link(RobotLink):
    """Transport over the ROS 2 graph with rclpy.

    Args:
        robot: the robot config (topic and joint names).
        node_name: this node's name (a pid suffix keeps two bridges apart).
    """

    def __init__(self, robot: RobotConfig, node_name: str | None = None) -> None:
        self.robot = robot
        self.node_name = node_name or f"ember_bridge_{os.getpid()}"
        self._own: OwnNode | None = None

    def start(self, callbacks: LinkCallbacks, object_ids: Sequence[str]) -> None:
        own = self._own = OwnNode(self.node_name)
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped, Twist
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import Image, JointState
        from std_srvs.srv import SetBool
        from trajectory_msgs.msg import JointTrajectory

        self._types = {"trajectory": JointTrajectory, "twist": Twist, "diagnostics": DiagnosticArray}
        node = own.node
        topics = self.robot.topics
        qos = QoSProfile(depth=10)

        def joint_state(msg: Any) -> None:
            try:
                converted = JointStateMsg(
                    stamp=stamp_to_float(msg.header.stamp.sec, msg.header.stamp.nanosec),
                    names=list(msg.name),
                    position=[float(v) for v in msg.position],
                    velocity=[float(v) for v in msg.velocity],
                    frame_id=str(msg.header.frame_id),
                )
            except (TypeError, ValueError) as err:
                callbacks.dropped(f"{topics.joint_states}: unreadable JointState ({err})")
                return
            callbacks.joint_state(converted)

        def pose_of(object_id: str) -> Any:
            def on_pose(msg: Any) -> None:
                p, o = msg.pose.position, msg.pose.orientation
                callbacks.pose(
                    PoseMsg(
                        id=object_id,
                        stamp=stamp_to_float(msg.header.stamp.sec, msg.header.stamp.nanosec),
                        position=(float(p.x), float(p.y), float(p.z)),
                        orientation=(float(o.x), float(o.y), float(o.z), float(o.w)),
                        frame_id=str(msg.header.frame_id),
                    )
                )

            return on_pose

        def image(msg: Any) -> None:
            callbacks.image(
                ImageMsg(
                    stamp=stamp_to_float(msg.header.stamp.sec, msg.header.stamp.nanosec),
                    height=int(msg.height),
                    width=int(msg.width),
                    encoding=str(msg.encoding),
                    data=bytes(msg.data),
                )
            )

        def estop(request: Any, response: Any) -> Any:
            response.success, response.message = callbacks.estop(bool(request.data))
            return response

        node.create_subscription(JointState, topics.joint_states, joint_state, qos)
        for object_id in object_ids:
            node.create_subscription(PoseStamped, topics.object_pose.format(id=object_id), pose_of(object_id), qos)
        if topics.camera:
            node.create_subscription(Image, topics.camera, image, QoSProfile(depth=2))
        self._arm = node.create_publisher(JointTrajectory, topics.arm_command, qos)
        self._gripper = node.create_publisher(JointTrajectory, topics.gripper_command, qos)
        self._twist = node.create_publisher(Twist, topics.base_command, qos) if topics.base_command else None
        self._diagnostics = node.create_publisher(DiagnosticArray, topics.diagnostics, qos)
        node.create_service(SetBool, topics.estop, estop)
        own.spin_in_thread("ember-ros2")

    def _trajectory(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> Any:
        from builtin_interfaces.msg import Duration
        from trajectory_msgs.msg import JointTrajectoryPoint

        msg = self._types["trajectory"]()
        msg.header.stamp.sec, msg.header.stamp.nanosec = float_to_stamp(stamp)
        msg.header.frame_id = f"seq={seq}"
        msg.joint_names = list(names)
        point = JointTrajectoryPoint()
        point.positions = [float(v) for v in positions]
        point.time_from_start = Duration(sec=0, nanosec=0)
        msg.points = [point]
        return msg

    def send_arm(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        self._arm.publish(self._trajectory(names, positions, seq, stamp))

    def send_gripper(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        self._gripper.publish(self._trajectory(names, positions, seq, stamp))

    def send_twist(self, linear: Sequence[float], angular: Sequence[float]) -> None:
        if self._twist is None:
            return
        msg = self._types["twist"]()
        msg.linear.x, msg.linear.y, msg.linear.z = (float(v) for v in linear)
        msg.angular.x, msg.angular.y, msg.angular.z = (float(v) for v in angular)
        self._twist.publish(msg)

    def publish_health(self, level: int, message: str, values: dict[str, str]) -> None:
        from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

        status = DiagnosticStatus()
        status.level = bytes([level])
        status.name = f"ember: {self.robot.name}"
        status.hardware_id = self.robot.name
        status.message = message
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = self._types["diagnostics"]()
        array.status = [status]
        self._diagnostics.publish(array)

    def close(self) -> None:
        if self._own is not None:
            self._own.close()

"""The rosbridge transport: the same link as :class:`~ember.robots.ros2.Ros2Link`, over a rosbridge v2 websocket
(``roslibpy``), for robots that expose only rosbridge (ROS 1 or ROS 2, or a robot on another machine or network).

It subscribes to the joint states, each object's pose and the camera, publishes one-point joint trajectories (and a
Twist for a mobile base) and diagnostics, and serves the e-stop (``std_srvs/SetBool``) through the bridge. Types are
named ROS 1 style (``sensor_msgs/JointState``), which rosbridge servers for both ROS versions accept; ``ros1=True``
writes times as ``{secs, nsecs}`` for a ROS 1 server (times are read in either form).

Needs the ``ros`` extra (``roslibpy``), not rclpy. roslibpy runs every connection on one shared asyncio loop thread
(its ``asyncio`` transport, chosen per connection so Twisted's one-shot reactor is never started); the last open
link stops that thread on close, and a later connection starts a fresh one.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

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

log = logging.getLogger("ember.robots.rosbridge")
T = TypeVar("T")
DEFAULT_URL = "ws://127.0.0.1:9090"
_open_links = 0
_open_lock = threading.Lock()


def require_roslibpy() -> Any:
    """Import roslibpy or say how to get it."""
    try:
        import roslibpy
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            f"the rosbridge backend needs roslibpy: pip install 'ember[ros]'; import failed: {err}"
        ) from err
    return roslibpy


def _stamp(header: Mapping[str, Any]) -> float:
    stamp = header.get("stamp") or {}
    return stamp_to_float(int(stamp.get("sec", stamp.get("secs", 0))), int(stamp.get("nanosec", stamp.get("nsecs", 0))))


def _floats(values: Any) -> list[float]:
    """JSON numbers; null (how rosbridge sends NaN and inf) becomes NaN, for the world to reject."""
    return [math.nan if v is None else float(v) for v in values]


def joint_state_from_dict(msg: Mapping[str, Any]) -> JointStateMsg:
    header = msg.get("header") or {}
    return JointStateMsg(
        stamp=_stamp(header),
        names=[str(n) for n in msg["name"]],
        position=_floats(msg["position"]),
        velocity=_floats(msg.get("velocity") or []),
        frame_id=str(header.get("frame_id", "")),
    )


def pose_from_dict(object_id: str, msg: Mapping[str, Any]) -> PoseMsg:
    header = msg.get("header") or {}
    p, o = msg["pose"]["position"], msg["pose"]["orientation"]
    x, y, z = _floats((p["x"], p["y"], p["z"]))
    qx, qy, qz, qw = _floats((o["x"], o["y"], o["z"], o["w"]))
    return PoseMsg(object_id, _stamp(header), (x, y, z), (qx, qy, qz, qw), str(header.get("frame_id", "world")))


def image_from_dict(msg: Mapping[str, Any]) -> ImageMsg:
    data = msg["data"]
    raw = base64.b64decode(data, validate=True) if isinstance(data, str) else bytes(data)
    return ImageMsg(_stamp(msg.get("header") or {}), int(msg["height"]), int(msg["width"]), str(msg["encoding"]), raw)


class RosbridgeLink(RobotLink):
    """Transport over a rosbridge v2 websocket with roslibpy.

    Args:
        robot: the robot config (topic and joint names).
        url: the rosbridge server, ``ws://host:port`` (default: ``robot.rosbridge_url``).
        connect_timeout: seconds to wait for the connection in :meth:`start`.
        ros1: write times as ROS 1 ``{secs, nsecs}`` (a ROS 1 rosbridge server).
    """

    def __init__(
        self, robot: RobotConfig, url: str | None = None, connect_timeout: float = 10.0, ros1: bool = False
    ) -> None:
        self.robot = robot
        self.url = url or robot.rosbridge_url or DEFAULT_URL
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"rosbridge url {self.url!r} must start with ws:// or wss:// (e.g. {DEFAULT_URL})")
        self.connect_timeout = connect_timeout
        self.ros1 = ros1
        self.errors: list[str] = []
        """Error statuses the server sent (a type it does not know, a malformed command, ...), newest last."""
        self._ros: Any = None
        self._subscribed: list[Any] = []
        self._publishers: dict[str, Any] = {}
        self._estop: Any = None

    # ------------------------------------------------------------------ connection
    def start(self, callbacks: LinkCallbacks, object_ids: Sequence[str]) -> None:
        global _open_links
        roslibpy = require_roslibpy()
        from roslibpy.core import RosTimeoutError

        ros = roslibpy.Ros(self.url, transport="asyncio")
        ros.on("ready", self._watch_status)
        ros.factory.on_ready(self._watch_status)
        with _open_lock:
            _open_links += 1
        self._ros = ros
        try:
            ros.run(timeout=self.connect_timeout)
        except RosTimeoutError:
            self.close()
            raise ConnectionError(
                f"rosbridge: no connection to {self.url} within {self.connect_timeout:.0f} s; start a rosbridge "
                "server there (on ROS 2 `python -m ember.robots.rosbridge_server --port 9090`, or rosbridge_suite's "
                "rosbridge_websocket), or point robot.rosbridge_url at the robot's"
            ) from None
        try:
            self._open(ros, callbacks, object_ids)
        except BaseException:
            self.close()
            raise

    def _open(self, ros: Any, callbacks: LinkCallbacks, object_ids: Sequence[str]) -> None:
        """Subscribe to what the world hears, advertise what it says, serve the e-stop."""
        roslibpy = require_roslibpy()
        topics = self.robot.topics
        dropped = callbacks.dropped
        self._subscribe(
            topics.joint_states, "sensor_msgs/JointState", joint_state_from_dict, callbacks.joint_state, dropped
        )
        for object_id in object_ids:

            def pose(msg: Mapping[str, Any], object_id: str = object_id) -> PoseMsg:
                return pose_from_dict(object_id, msg)

            topic = topics.object_pose.format(id=object_id)
            self._subscribe(topic, "geometry_msgs/PoseStamped", pose, callbacks.pose, dropped)
        if topics.camera:
            self._subscribe(topics.camera, "sensor_msgs/Image", image_from_dict, callbacks.image, dropped, 2)
        for key, name, type_name in (
            ("arm", topics.arm_command, "trajectory_msgs/JointTrajectory"),
            ("gripper", topics.gripper_command, "trajectory_msgs/JointTrajectory"),
            ("twist", topics.base_command, "geometry_msgs/Twist"),
            ("diagnostics", topics.diagnostics, "diagnostic_msgs/DiagnosticArray"),
        ):
            if name:
                self._publishers[key] = roslibpy.Topic(ros, name, type_name, queue_size=10)
                self._publishers[key].advertise()

        def estop(request: Mapping[str, Any], response: dict[str, Any]) -> bool:
            try:
                latch = request["data"]
                if not isinstance(latch, bool):
                    raise TypeError(f"data must be true or false, got {latch!r}")
                accepted, message = callbacks.estop(latch)
                response["success"], response["message"] = bool(accepted), str(message)
            except Exception as err:  # a callback must not raise into roslibpy's loop
                log.exception("e-stop request failed")
                response["success"], response["message"] = False, f"e-stop request failed: {err}"
            return True

        self._estop = roslibpy.Service(ros, topics.estop, "std_srvs/SetBool")
        self._estop.advertise(estop)

    def _subscribe(
        self,
        topic: str,
        type_name: str,
        convert: Callable[[Mapping[str, Any]], T],
        deliver: Callable[[T], None],
        dropped: Callable[[str], None],
        queue_length: int = 10,
    ) -> None:
        """Subscribe; each message is converted (or dropped with the reason) and delivered on roslibpy's thread."""
        roslibpy = require_roslibpy()
        kind = type_name.split("/")[-1]

        def on_message(msg: Mapping[str, Any]) -> None:  # roslibpy's loop thread: never raise
            try:
                converted = convert(msg)
            except Exception as err:
                dropped(f"{topic}: unreadable {kind} ({type(err).__name__}: {err})")
                return
            try:
                deliver(converted)
            except Exception:
                log.exception("rosbridge %s callback failed", topic)

        subscription = roslibpy.Topic(self._ros, topic, type_name, queue_length=queue_length)
        subscription.subscribe(on_message)
        self._subscribed.append(subscription)

    def _watch_status(self, proto: Any) -> None:
        """Log the server's ``status`` ops (roslibpy has no handler for them and would log a traceback)."""
        handlers = getattr(proto, "_message_handlers", None)
        if isinstance(handlers, dict):
            handlers["status"] = self._on_status

    def _on_status(self, message: Mapping[str, Any]) -> None:
        text = f"{message.get('level', '?')}: {message.get('msg', '')}"
        if message.get("level") == "error":
            self.errors = [*self.errors[-99:], text]
            log.warning("rosbridge server %s", text)
        else:
            log.info("rosbridge server %s", text)

    # ------------------------------------------------------------------ outgoing
    def _time(self, t: float) -> dict[str, int]:
        sec, nanosec = float_to_stamp(t)
        return {"secs": sec, "nsecs": nanosec} if self.ros1 else {"sec": sec, "nanosec": nanosec}

    def _trajectory(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> dict[str, Any]:
        return {
            "header": {"stamp": self._time(stamp), "frame_id": f"seq={seq}"},
            "joint_names": list(names),
            "points": [{"positions": [float(v) for v in positions], "time_from_start": self._time(0.0)}],
        }

    def _publish(self, key: str, msg: dict[str, Any]) -> None:
        if self._ros is None:
            raise RuntimeError("the rosbridge link is not started (or already closed)")
        if key in self._publishers:  # a robot without a base or diagnostics topic has none
            self._publishers[key].publish(msg)

    def send_arm(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        self._publish("arm", self._trajectory(names, positions, seq, stamp))

    def send_gripper(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        self._publish("gripper", self._trajectory(names, positions, seq, stamp))

    def send_twist(self, linear: Sequence[float], angular: Sequence[float]) -> None:
        x, y, z = (float(v) for v in linear)
        ax, ay, az = (float(v) for v in angular)
        self._publish("twist", {"linear": {"x": x, "y": y, "z": z}, "angular": {"x": ax, "y": ay, "z": az}})

    def publish_health(self, level: int, message: str, values: dict[str, str]) -> None:
        status = {
            "level": int(level),
            "name": f"ember: {self.robot.name}",
            "message": message,
            "hardware_id": self.robot.name,
            "values": [{"key": k, "value": v} for k, v in values.items()],
        }
        self._publish("diagnostics", {"header": {"stamp": self._time(time.time())}, "status": [status]})

    # ------------------------------------------------------------------ shutdown
    def close(self) -> None:
        """Unsubscribe, unadvertise, close the websocket; the last open link also stops roslibpy's loop thread."""
        global _open_links
        ros, self._ros = self._ros, None
        if ros is None:
            return
        try:
            if ros.is_connected:
                for topic in self._subscribed:
                    topic.unsubscribe()
                for publisher in self._publishers.values():
                    publisher.unadvertise()
                if self._estop is not None:
                    self._estop.unadvertise()
                closed = threading.Event()
                ros.on("close", lambda *_: closed.set())
                ros.close()
                closed.wait(2.0)
        finally:
            ros.factory._stop = True  # no reconnect attempts after this (roslibpy has no public switch)
            ros.on("ready", lambda proto: proto.send_close())  # nor a reconnect already scheduled
            self._subscribed, self._publishers, self._estop = [], {}, None
            with _open_lock:
                _open_links -= 1
                last = _open_links == 0
            if last:
                ros.factory.manager.terminate()

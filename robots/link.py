"""What a robot backend hears and says, independent of the transport (rclpy on the ROS 2 graph, or a rosbridge
websocket): plain messages in, plain commands out. :class:`~ember.robots.world.RobotWorld` builds the world contract,
the safety layer and the recording on a :class:`RobotLink`, so both transports behave the same.

Messages from the robot are checked in the world, not here: a link hands over what arrived, converted field by field,
and a message it cannot even convert is dropped with a logged reason (never an exception in a callback thread).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

ACK = re.compile(r"(?:^|[;\s])ack=(\d+)")
"""A robot-sim state echoes the newest command it applied as ``ack=<seq>`` in ``header.frame_id``."""


@dataclass
class JointStateMsg:
    """``sensor_msgs/JointState``."""

    stamp: float
    """Header stamp [s]."""
    names: list[str]
    position: list[float]
    velocity: list[float] = field(default_factory=list)
    frame_id: str = ""


@dataclass
class PoseMsg:
    """``geometry_msgs/PoseStamped`` of one object."""

    id: str
    stamp: float
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float]
    """Quaternion x y z w."""
    frame_id: str = "world"


@dataclass
class ImageMsg:
    """``sensor_msgs/Image``."""

    stamp: float
    height: int
    width: int
    encoding: str
    data: bytes


@dataclass
class LinkCallbacks:
    """What the world wants to hear; links call these from their own threads."""

    joint_state: Callable[[JointStateMsg], None]
    pose: Callable[[PoseMsg], None]
    image: Callable[[ImageMsg], None]
    estop: Callable[[bool], tuple[bool, str]]
    """Called for an e-stop request (True: latch, False: reset); returns (accepted, message)."""
    dropped: Callable[[str], None]
    """A message that could not be converted, with the reason."""


class RobotLink(ABC):
    """A transport between Ember and a robot driver."""

    @abstractmethod
    def start(self, callbacks: LinkCallbacks, object_ids: Sequence[str]) -> None:
        """Subscribe, advertise and start delivering messages."""

    @abstractmethod
    def send_arm(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        """Publish a one-point ``JointTrajectory`` for the arm (``header.frame_id = "seq=<seq>"``)."""

    @abstractmethod
    def send_gripper(self, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        """Publish a one-point ``JointTrajectory`` for the fingers."""

    def send_twist(self, linear: Sequence[float], angular: Sequence[float]) -> None:  # noqa: B027 - optional
        """Publish a ``geometry_msgs/Twist`` for a mobile base (arms without a base ignore it)."""

    def publish_health(self, level: int, message: str, values: dict[str, str]) -> None:  # noqa: B027 - optional
        """Publish a ``diagnostic_msgs/DiagnosticArray`` (level 0 OK, 1 WARN, 2 ERROR)."""

    @abstractmethod
    def close(self) -> None:
        """Stop delivering and release the transport."""


def stamp_to_float(sec: int, nanosec: int) -> float:
    return float(sec) + float(nanosec) * 1e-9


def float_to_stamp(t: float) -> tuple[int, int]:
    nanoseconds = round(t * 1e9)
    return nanoseconds // 1_000_000_000, nanoseconds % 1_000_000_000

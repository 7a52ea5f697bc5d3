"""Record the robot side of a run as a rosbag2 with MCAP storage (``rosbags``: pure Python, no ROS install needed),
so ``ros2 bag play``, Foxglove or any MCAP reader can replay and inspect it.

Recorded: every joint state heard (``/joint_states``), every arm and gripper command sent (their configured topics)
and object poses (``/objects/<id>/pose``). Messages are written as they arrive; the bag's ``metadata.yaml`` is written
when the recorder closes (a killed run leaves the MCAP file, readable by MCAP tools, without it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ember.robots.link import JointStateMsg, PoseMsg, float_to_stamp

JOINT_STATE = "sensor_msgs/msg/JointState"
TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
POSE = "geometry_msgs/msg/PoseStamped"


class RecordError(ValueError):
    """A ``record=`` path a bag cannot be written to; the message names the path, why, and the fix."""


def check_record_path(path: str | Path) -> Path:
    """``path`` as a new bag directory, or :class:`RecordError`: it must not exist and must be creatable (checked by
    creating it and removing it again, so a run fails here, before it connects to a robot, not after)."""
    if not str(path).strip():
        raise RecordError(f"record={str(path)!r} is empty; give a new directory for the bag, e.g. record=bags/run1")
    bag = Path(path)
    if bag.exists() or bag.is_symlink():
        what = "a directory" if bag.is_dir() else "a file"
        raise RecordError(
            f"record={str(path)!r} exists ({what}); give a new directory for the bag (a bag is never overwritten)"
        )
    missing = [bag]  # the directories to create, deepest first
    while not missing[-1].parent.exists() and missing[-1].parent != missing[-1]:
        missing.append(missing[-1].parent)
    above = missing[-1].parent
    if not above.is_dir():
        raise RecordError(
            f"record={str(path)!r}: {str(above)!r} is a file, not a directory; give a new directory for the bag"
        )
    try:
        bag.mkdir(parents=True)
    except OSError as err:
        raise RecordError(
            f"record={str(path)!r}: cannot create it ({err.strerror or err}); give a new directory in a writable place"
        ) from err
    for folder in missing:
        folder.rmdir()
    return bag


class McapRecorder:
    """Writes a rosbag2 directory ``path`` (one ``.mcap`` file plus ``metadata.yaml``); ``path`` must not exist
    (:class:`RecordError` otherwise, and when it cannot be created)."""

    def __init__(self, path: str | Path) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
        from rosbags.typesys import Stores, get_typestore

        self.path = check_record_path(path)
        self.ts = get_typestore(Stores.ROS2_JAZZY)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer: Any = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
            self._writer.open()
        except (OSError, WriterError) as err:
            raise RecordError(
                f"record={str(path)!r}: cannot write a bag there ({err}); give a new directory in a writable place"
            ) from err
        self._connections: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.count = 0

    def _header(self, stamp: float, frame_id: str) -> Any:
        sec, nanosec = float_to_stamp(stamp)
        Time = self.ts.types["builtin_interfaces/msg/Time"]
        return self.ts.types["std_msgs/msg/Header"](stamp=Time(sec=sec, nanosec=nanosec), frame_id=frame_id)

    def _write(self, topic: str, msgtype: str, msg: Any, stamp: float) -> None:
        data = self.ts.serialize_cdr(msg, msgtype)
        with self._lock:
            if self._writer is None:
                return
            if topic not in self._connections:
                self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.ts)
            self._writer.write(self._connections[topic], int(stamp * 1e9), data)
            self.count += 1

    def joint_state(self, topic: str, msg: JointStateMsg) -> None:
        velocity = msg.velocity if len(msg.velocity) == len(msg.position) else []
        out = self.ts.types[JOINT_STATE](
            header=self._header(msg.stamp, msg.frame_id),
            name=list(msg.names),
            position=np.asarray(msg.position, dtype=np.float64),
            velocity=np.asarray(velocity, dtype=np.float64),
            effort=np.zeros(0, dtype=np.float64),
        )
        self._write(topic, JOINT_STATE, out, msg.stamp)

    def command(self, topic: str, names: Sequence[str], positions: Sequence[float], seq: int, stamp: float) -> None:
        types = self.ts.types
        point = types["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=np.asarray(positions, dtype=np.float64),
            velocities=np.zeros(0),
            accelerations=np.zeros(0),
            effort=np.zeros(0),
            time_from_start=types["builtin_interfaces/msg/Duration"](sec=0, nanosec=0),
        )
        out = types[TRAJECTORY](header=self._header(stamp, f"seq={seq}"), joint_names=list(names), points=[point])
        self._write(topic, TRAJECTORY, out, stamp)

    def pose(self, topic: str, msg: PoseMsg) -> None:
        types = self.ts.types
        pose = types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=msg.position[0], y=msg.position[1], z=msg.position[2]),
            orientation=types["geometry_msgs/msg/Quaternion"](
                x=msg.orientation[0], y=msg.orientation[1], z=msg.orientation[2], w=msg.orientation[3]
            ),
        )
        self._write(topic, POSE, types[POSE](header=self._header(msg.stamp, msg.frame_id), pose=pose), msg.stamp)

    def close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


def read_bag(path: str | Path) -> dict[str, list[tuple[int, Any]]]:
    """Read a recorded bag back: topic -> [(timestamp ns, message)] (for tests and inspection)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    out: dict[str, list[tuple[int, Any]]] = {}
    with AnyReader([Path(path)], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
        for connection, timestamp, raw in reader.messages():
            out.setdefault(connection.topic, []).append((timestamp, reader.deserialize(raw, connection.msgtype)))
    return out

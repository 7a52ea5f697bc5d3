"""Real-robot backends of the world contract: the robot config, the safety layer, transports (ROS 2 through rclpy,
rosbridge websockets through roslibpy), the robot world built on them, MCAP recording, and ``robot-sim`` (the PyBullet
tabletop behind ROS 2 topics). Transports are registered as ``"module:Class"`` strings and imported on first use, so
``import ember.robots`` needs no ROS install."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LINKS: dict[str, str] = {
    "ros": "ember.robots.ros2:Ros2Link",
    "rosbridge": "ember.robots.rosbridge:RosbridgeLink",
}
"""Robot transports by backend name (``ember run backend=...``)."""


def make_robot_world(backend: str, robot: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
    """A :class:`~ember.robots.world.RobotWorld` over the transport registered as ``backend``."""
    from ember.robots.config import load_robot_config
    from ember.robots.world import RobotWorld
    from ember.sims import load_class

    if backend not in LINKS:
        raise KeyError(f"backend={backend!r} is unknown; robot backends: {sorted(LINKS)} (or 'sim')")
    cfg = load_robot_config(robot)
    link = load_class(LINKS[backend])(cfg)
    return RobotWorld(link, cfg, **kwargs)

"""Robot and scene descriptions for the PyBullet tabletop: paths into ``pybullet_data``, joints, limits, layout."""

from __future__ import annotations

from dataclasses import dataclass

import pybullet_data

DATA_PATH = pybullet_data.getDataPath()

TABLE_TOP_Z = 0.625
"""Height of the table surface of ``table/table.urdf`` placed at the origin [m]."""
CUBE_SIZE = 0.05
"""Edge of ``cube_small.urdf`` [m]."""
TRAY_SCALE = 0.5
"""``tray/traybox.urdf`` is 0.6 m wide; scaled to 0.3 m."""
TRAY_HALF_WIDTH = 0.3 * TRAY_SCALE
"""Half the outer width of the scaled tray [m]."""
TRAY_FLOOR_Z = TABLE_TOP_Z + 0.015 * TRAY_SCALE
"""Top of the scaled tray's floor [m]."""

COLORS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.15, 0.15, 1.0),
    "green": (0.15, 0.7, 0.2, 1.0),
    "blue": (0.15, 0.3, 0.85, 1.0),
    "yellow": (0.9, 0.8, 0.1, 1.0),
    "purple": (0.55, 0.2, 0.7, 1.0),
    "orange": (0.95, 0.5, 0.1, 1.0),
}


@dataclass(frozen=True)
class PandaSpec:
    """Franka Panda from ``pybullet_data/franka_panda/panda.urdf``."""

    urdf: str = "franka_panda/panda.urdf"
    base_position: tuple[float, float, float] = (0.0, 0.0, TABLE_TOP_Z)
    arm_joints: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    finger_joints: tuple[int, int] = (9, 10)
    ee_link: int = 11
    """``panda_grasptarget_hand``: the point between the fingertips."""
    home: tuple[float, ...] = (0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.785)
    """Arm joint positions with the gripper pointing down above the table [rad]."""
    lower: tuple[float, ...] = (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973)
    upper: tuple[float, ...] = (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)
    max_force: tuple[float, ...] = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
    """Joint torque limits [N m]."""
    finger_force: float = 40.0
    """Per-finger force limit [N]; with 5 cm cubes of 0.1 kg this holds through contact friction."""
    max_opening: float = 0.08
    """Full gripper opening, both fingers [m]."""


PANDA = PandaSpec()

WORKSPACE_X = (0.35, 0.62)
"""Region where cubes are placed on the table, x [m] (robot base at x = 0)."""
WORKSPACE_Y = (-0.3, 0.12)
"""Region where cubes are placed on the table, y [m]."""
TRAY_POSITION = (0.5, 0.3)
"""Tray center on the table, x y [m]."""
REACH_RADIUS = 0.82
"""Horizontal distance from the robot base beyond which a cube counts as unreachable [m]."""


def scene_hash(physics_hz: int = 240, decimation: int = 8) -> str:
    """Short hash of what a learned tabletop policy depends on: robot model file, cube and table geometry, friction,
    control rates. A policy trained on another hash is refused by its skill."""
    import hashlib
    from pathlib import Path

    from ember.sims.pybullet.scene import CUBE_FRICTION

    digest = hashlib.sha256()
    digest.update((Path(DATA_PATH) / PANDA.urdf).read_bytes())
    digest.update(repr((PANDA, CUBE_SIZE, TABLE_TOP_Z, CUBE_FRICTION, physics_hz, decimation)).encode())
    return digest.hexdigest()[:16]

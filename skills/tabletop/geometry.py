"""Tabletop geometry for scripted skills: grasp yaw of a cube, free spots on a surface."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ember.sims.world import ObjectInfo

CUBE_SIZE = 0.05
"""Edge of the cubes [m]."""


def grasp_yaw(quat: Sequence[float]) -> float:
    """Yaw that aligns a top-down gripper with a cube's faces, folded into [-pi/4, pi/4] [rad]."""
    x, y, z, w = quat
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    axis = max((rot[:, i] for i in range(3)), key=lambda a: abs(a[0]) - abs(a[2]))
    yaw = math.atan2(axis[1], axis[0])
    return (yaw + math.pi / 4) % (math.pi / 2) - math.pi / 4


def free_spot(
    surface: ObjectInfo,
    objects: Mapping[str, ObjectInfo],
    exclude: Sequence[str] = (),
    clearance: float = 0.08,
    grid: int = 9,
    room: float = 0.1,
    margin: float = 0.05,
) -> tuple[float, float] | None:
    """A point of ``surface``'s free area for a cube: the one farthest from every other cube up to ``room`` [m], then
    farthest from the area's edge up to ``margin`` [m] (a corner of a tray leaves the fingers no room: they land on
    its rim), then nearest the area's center.

    Returns None when no point keeps ``clearance`` [m] from all cubes. Deterministic: one scene, one spot.
    """
    area = surface.attributes.get("free_area")
    if area is None:
        return None
    x0, x1, y0, y1 = area
    others = [np.array(o.position[:2]) for k, o in objects.items() if o.type == "cube" and k not in exclude]
    center = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    best: tuple[float, float] | None = None
    best_key = (-math.inf, -math.inf, 0.0)
    for x in np.linspace(x0, x1, grid):
        for y in np.linspace(y0, y1, grid):
            point = np.array([x, y])
            gap = min((float(np.linalg.norm(point - o)) for o in others), default=1.0)
            edge = min(x - x0, x1 - x, y - y0, y1 - y)
            key = (min(gap, room), min(edge, margin), -float(np.linalg.norm(point - center)))
            if gap >= clearance and key > best_key:
                best, best_key = (float(x), float(y)), key
    return best


def _rect_edge_distance(point: np.ndarray, rect: Sequence[float]) -> float:
    """Distance from ``point`` (x, y) to the boundary of the axis-aligned rectangle (x0, x1, y0, y1) [m]."""
    x0, x1, y0, y1 = rect
    x, y = point
    if x0 <= x <= x1 and y0 <= y <= y1:
        return float(min(x - x0, x1 - x, y - y0, y1 - y))
    dx = max(x0 - x, 0.0, x - x1)
    dy = max(y0 - y, 0.0, y - y1)
    return float(math.hypot(dx, dy))


def best_grasp_yaw(obj: str, objects: Mapping[str, ObjectInfo], opening: float, finger_width: float = 0.02) -> float:
    """Of the two face-aligned top-down grasps of a cube, the one whose open fingers keep farther from other cubes and
    from walls (objects with a ``footprint`` rectangle) [rad]."""
    info = objects[obj]
    return roomiest_yaw(info.position[:2], grasp_yaw(info.orientation), objects, (obj,), opening, finger_width)


def roomiest_yaw(
    point: Sequence[float],
    base: float,
    objects: Mapping[str, ObjectInfo],
    exclude: Sequence[str],
    opening: float,
    finger_width: float = 0.02,
) -> float:
    """Of the gripper yaws ``base`` and ``base + 90°`` over ``point`` (x, y), the one whose fingers, ``opening`` [m]
    apart, keep farther from cubes (other than ``exclude``) and walls (objects with a ``footprint``) [rad]."""
    center = np.asarray(point[:2], dtype=np.float64)
    best, best_gap = base, -math.inf
    for yaw in (base, base + math.pi / 2):
        # The fingers open along the hand's y axis, which is the world y axis turned by yaw.
        axis = np.array([-math.sin(yaw), math.cos(yaw)])
        fingers = [center + axis * (opening / 2 + finger_width / 2), center - axis * (opening / 2 + finger_width / 2)]
        gap = math.inf
        for key, other in objects.items():
            if key in exclude:
                continue
            if other.type == "cube":
                gap = min(gap, *(float(np.linalg.norm(f - np.array(other.position[:2]))) for f in fingers))
            footprint = other.attributes.get("footprint")
            if footprint is not None:
                gap = min(gap, *(_rect_edge_distance(f, footprint) for f in fingers))
        if gap > best_gap + 1e-6:
            best, best_gap = (yaw + math.pi / 2) % math.pi - math.pi / 2, gap
    return best


def obstacle_near(
    points: Sequence[Sequence[float]], objects: Mapping[str, ObjectInfo], exclude: Sequence[str], radius: float
) -> str | None:
    """Id of the first cube, or walled object (one with a ``footprint``), within ``radius`` [m] of any of ``points``
    (x, y), or None."""
    for point in points:
        p = np.asarray(point[:2], dtype=np.float64)
        for key, other in sorted(objects.items()):
            if key in exclude:
                continue
            if other.type == "cube" and float(np.linalg.norm(p - np.array(other.position[:2]))) < radius:
                return key
            footprint = other.attributes.get("footprint")
            if footprint is not None and _rect_edge_distance(p, footprint) < radius:
                return key
    return None

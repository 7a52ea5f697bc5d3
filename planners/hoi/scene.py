"""The vocabularies of human-object interaction plans and the scene a plan is checked against.

``OBJECT_PARTS`` names the parts (sites) of each object type that simulated objects are built with, and
``CHARACTER_PARTS`` the parts of each character; ``SceneInfo`` is a plain description of the objects (type, pose,
size, whether they may move), the workspace and the character's start. Frames: world z up, metres and radians; in an
object's own frame +x is its front (the face a character uses: a chair's open side, a drawer's handle), +y its left.
Limits: objects are boxes for planning (their bounding box); articulated objects have one moving part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OBJECT_PARTS: dict[str, tuple[str, ...]] = {
    "box": ("top", "bottom", "front", "back", "left", "right", "side"),
    "chair": ("seat", "backrest"),
    "drawer": ("handle", "front"),
    "table": ("top",),
    "door": ("handle", "panel"),
}
"""Named parts (sites on the simulated object) per object type."""
CHARACTER_PARTS: dict[str, tuple[str, ...]] = {
    "humanoid": ("pelvis", "back", "head", "left_hand", "right_hand", "left_foot", "right_foot"),
}
"""Human parts per character type."""
HUMAN_PARTS = CHARACTER_PARTS["humanoid"]
LABELS = ("contact", "approaching", "separating", "no_trend")
"""RMD's labels in the order of its codes 0-3."""
DIRECTIONS = ("up", "down", "front", "back", "left", "right", "none")
DEFAULT_SIZES: dict[str, tuple[float, float, float]] = {
    "box": (0.4, 0.4, 0.4),
    "chair": (0.5, 0.5, 0.9),
    "drawer": (0.5, 0.6, 0.8),
    "table": (1.2, 0.8, 0.75),
    "door": (0.05, 0.9, 2.0),
}
"""Bounding box extents [m] (x, y, z in the object's frame) of a whole object: a drawer's chest, a door's leaf."""
MOVABLE = {"box": True, "chair": True, "drawer": True, "table": False, "door": True}


@dataclass(frozen=True)
class SceneObject:
    """One object of the scene, as planning sees it: a type with named parts, a pose and a bounding box."""

    type: str
    position: tuple[float, float, float]
    """Centre of the bounding box [m]; a drawer's: the centre of its front panel (it slides along its +x); a door's: a
    point on its hinge axis (opening changes its yaw)."""
    yaw: float = 0.0
    """Heading about z [rad]; the object's +x (front) points along it."""
    size: tuple[float, float, float] | None = None
    """Extents [m]; None: ``DEFAULT_SIZES[type]``."""
    movable: bool | None = None
    """None: ``MOVABLE[type]``."""

    @property
    def extents(self) -> tuple[float, float, float]:
        return self.size or DEFAULT_SIZES.get(self.type, (0.5, 0.5, 0.5))

    @property
    def can_move(self) -> bool:
        return MOVABLE.get(self.type, False) if self.movable is None else self.movable


@dataclass(frozen=True)
class SceneInfo:
    """What a stage plan is checked against: the objects by id, the workspace and the character."""

    objects: dict[str, SceneObject]
    lower: tuple[float, float, float] = (-5.0, -5.0, 0.0)
    """Workspace lower corner [m]."""
    upper: tuple[float, float, float] = (5.0, 5.0, 2.5)
    """Workspace upper corner [m]."""
    character: str = "humanoid"
    character_position: tuple[float, float] = (0.0, 0.0)
    """The character's root (x, y) at the start [m]."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SceneInfo:
        """``{"objects": {id: {"type", "position", "yaw"?, "size"?, "movable"?}}, "workspace"?: [[lo], [hi]],
        "character"?, "character_position"?}``, or the objects mapping alone."""
        flat = {k: v for k, v in data.items() if k not in ("workspace", "character", "character_position")}
        objects = data["objects"] if isinstance(data.get("objects"), Mapping) else flat
        out: dict[str, SceneObject] = {}
        for oid, o in objects.items():
            if o.get("type") not in OBJECT_PARTS:
                raise ValueError(
                    f"scene object {oid!r}: type must be one of {sorted(OBJECT_PARTS)}. Got {o.get('type')!r}."
                )
            size = o.get("size")
            out[str(oid)] = SceneObject(
                o["type"],
                (float(o["position"][0]), float(o["position"][1]), float(o["position"][2])),
                float(o.get("yaw", 0.0)),
                (float(size[0]), float(size[1]), float(size[2])) if size is not None else None,
                o.get("movable"),
            )
        lo, hi = data.get("workspace", ((-5.0, -5.0, 0.0), (5.0, 5.0, 2.5)))
        start = data.get("character_position", (0.0, 0.0))
        return cls(
            out,
            (float(lo[0]), float(lo[1]), float(lo[2])),
            (float(hi[0]), float(hi[1]), float(hi[2])),
            str(data.get("character", "humanoid")),
            (float(start[0]), float(start[1])),
        )

    def summary(self) -> dict[str, Any]:
        """The scene as prompt data: objects with their parts, the workspace, the character's parts."""
        return {
            "objects": [
                {
                    "id": oid,
                    "type": o.type,
                    "position": [round(v, 3) for v in o.position],
                    "yaw": round(o.yaw, 3),
                    "size": list(o.extents),
                    "movable": o.can_move,
                    "parts": list(OBJECT_PARTS[o.type]),
                }
                for oid, o in self.objects.items()
            ],
            "workspace": {"lower": list(self.lower), "upper": list(self.upper)},
            "character": {"type": self.character, "position": list(self.character_position)},
            "human_parts": list(CHARACTER_PARTS.get(self.character, HUMAN_PARTS)),
        }

"""RMD stage plans for human-object interaction: the format as dataclasses, JSON (de)serialization, UniHSI input.

After RMD (Deng et al., arXiv 2503.18349): a plan is a list of stages; each says where the character's root should
go, where one object should go, and links human parts to object parts, each labelled with the relative movement the
stage should produce: ``contact`` (stationary contact), ``approaching``, ``separating`` or ``no_trend`` (RMD's codes
0-3). A link ``[object, object_part, human_part, label, direction]`` extends UniHSI's chain-of-contacts step, whose
labels are only ``contact`` / ``not contact`` (:func:`from_chain_of_contacts` converts those plans)::

    {"version": 1, "instruction": "sit on the chair", "objects"?: {"chair": "chair"}, "stages": [STAGE, ...]}

    STAGE = {"name"?: "approach",
             "human_root"?: [x, y] | [x, y, z] | {"near": "chair", "offset"?: [dx, dy]} | null,
             "object_target"?: {"object": "box", "position": [x, y, z], "yaw"?: 0.0} | null,
             "links": [["chair", "seat", "pelvis", "approaching", "up"], ...],
             "timeout_s"?: 10.0}

Frames and units: world frame, z up, metres and radians. ``near`` adds a world-frame offset to the object's position
where the stage starts. An object's ``position`` is the centre of its bounding box, except for articulated objects:
a drawer's is the centre of its front panel (it slides along its +x), a door's a point on its hinge axis (opening a
door changes its ``yaw`` only). ``direction`` (optional, UniHSI's use) is the outward direction of the object part's
surface at the contact, in the object's frame (+x front, +y left); ``none`` when it does not matter. A null
``object_target`` leaves the objects where they are. Box faces ``front/back/left/right`` are in the box's frame;
``side`` is whichever vertical face is nearest the human part.

The schema and its strict subset live in ``schema.py``, the vocabularies and :class:`SceneInfo` in ``scene.py``,
validation in ``validate.py``; the names are re-exported here. Limits: one object target per stage; a stage ends
when its targets and links are met (the executor's threshold), not at a stated time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ember.planners.hoi.scene import (
    CHARACTER_PARTS,
    DIRECTIONS,
    HUMAN_PARTS,
    LABELS,
    OBJECT_PARTS,
    SceneInfo,
    SceneObject,
)
from ember.planners.hoi.schema import (
    LINK_FIELDS,
    MAX_STAGES,
    STAGES_SCHEMA,
    STAGES_VERSION,
    canonical_label,
    normalize,
    strict_stages_schema,
    to_strict,
)
from ember.planners.hoi.validate import schema_problems, validate_stages
from ember.planners.validate import PlanError

__all__ = [
    "CHARACTER_PARTS", "DIRECTIONS", "HUMAN_PARTS", "LABELS", "LINK_FIELDS", "MAX_STAGES", "OBJECT_PARTS",
    "STAGES_SCHEMA", "Link", "Near", "ObjectTarget", "SceneInfo", "SceneObject", "Stage", "StagePlan",
    "ensure_valid_stages", "from_chain_of_contacts", "normalize", "strict_stages_schema", "to_strict",
    "validate_stages",
]  # fmt: skip


@dataclass(frozen=True)
class Link:
    """One edge of the RMD graph: a human part, an object part and the relative movement between them."""

    object: str
    object_part: str
    human_part: str
    label: str
    direction: str = "none"

    def to_list(self) -> list[str]:
        return [self.object, self.object_part, self.human_part, self.label, self.direction]


@dataclass(frozen=True)
class Near:
    """A root target relative to an object: its position where the stage starts plus ``offset`` (world frame) [m]."""

    object: str
    offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ObjectTarget:
    """Where a stage moves one object."""

    object: str
    position: tuple[float, float, float]
    """[m]"""
    yaw: float | None = None
    """[rad]; None: keep the heading."""


@dataclass(frozen=True)
class Stage:
    """One step: a root target, an object target and links; it ends when all three are met."""

    links: tuple[Link, ...]
    human_root: tuple[float, ...] | Near | None = None
    """[x, y] or [x, y, z] [m], an object-relative target, or None (the root goes where the links take it)."""
    object_target: ObjectTarget | None = None
    name: str = ""
    timeout_s: float | None = None
    """World time before the stage fails [s]; None: the executor's default."""

    def root_position(self, scene: SceneInfo) -> tuple[float, ...] | None:
        """The root target in world coordinates, with ``near`` resolved against ``scene``."""
        if isinstance(self.human_root, Near):
            x, y = scene.objects[self.human_root.object].position[:2]
            return (x + self.human_root.offset[0], y + self.human_root.offset[1])
        return self.human_root

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name} if self.name else {}
        if isinstance(self.human_root, Near):
            out["human_root"] = {"near": self.human_root.object, "offset": list(self.human_root.offset)}
        else:
            out["human_root"] = list(self.human_root) if self.human_root is not None else None
        t = self.object_target
        out["object_target"] = (
            None
            if t is None
            else {"object": t.object, "position": list(t.position), **({"yaw": t.yaw} if t.yaw is not None else {})}
        )
        out["links"] = [link.to_list() for link in self.links]
        if self.timeout_s is not None:
            out["timeout_s"] = self.timeout_s
        return out


@dataclass(frozen=True)
class StagePlan:
    """An instruction's stages, in order; ``to_dict`` gives the plain JSON form."""

    instruction: str
    stages: tuple[Stage, ...]
    objects: dict[str, str] = field(default_factory=dict)
    """Type of each object the plan names, by id."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STAGES_VERSION,
            "instruction": self.instruction,
            "objects": dict(self.objects),
            "stages": [s.to_dict() for s in self.stages],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StagePlan:
        """Build from a plain or strict-form dict; raises :class:`PlanError` when its structure is invalid (names are
        checked against a scene by :func:`validate_stages`)."""
        plan = normalize(data)
        problems = schema_problems(plan)
        if problems:
            raise PlanError(problems, "stage plan")
        stages = []
        for s in plan["stages"]:
            root = s.get("human_root")
            if isinstance(root, dict):
                off = root.get("offset", (0.0, 0.0))
                root = Near(root["near"], (float(off[0]), float(off[1])))
            elif root is not None:
                root = tuple(float(v) for v in root)
            t = s.get("object_target")
            target = None
            if t is not None:
                p = t["position"]
                target = ObjectTarget(t["object"], (float(p[0]), float(p[1]), float(p[2])), t.get("yaw"))
            links = tuple(Link(*link[:4]) if len(link) == 4 else Link(*link[:5]) for link in s["links"])
            stages.append(Stage(links, root, target, s.get("name", ""), s.get("timeout_s")))
        return cls(plan.get("instruction", ""), tuple(stages), dict(plan.get("objects", {})))

    @classmethod
    def from_json(cls, text: str) -> StagePlan:
        return cls.from_dict(json.loads(text))


def ensure_valid_stages(plan: Any, scene: SceneInfo | Mapping[str, Any], source: str = "stage plan") -> StagePlan:
    """The plan as a :class:`StagePlan` if it validates against ``scene``; else :class:`PlanError` with every
    problem."""
    problems = [p for p in validate_stages(plan, scene) if p.severity == "error"]
    if problems:
        raise PlanError(problems, source)
    return StagePlan.from_dict(json.loads(plan) if isinstance(plan, str | bytes) else plan)


_JOINT_ALIASES = {
    "torso": "back", "chest": "back", "spine": "back", "root": "pelvis", "hip": "pelvis", "hips": "pelvis",
    "neck": "head", "left_wrist": "left_hand", "right_wrist": "right_hand", "left_ankle": "left_foot",
    "right_ankle": "right_foot",
}  # fmt: skip


def _stem(name: str) -> str:
    return re.sub(r"[\d_]+$", "", name.lower())


def _part(name: str, kind: str | None) -> str:
    """A UniHSI (PartNet) part name such as ``seat_soft_surface16`` mapped onto the vocabulary of ``kind``."""
    stem = _stem(name)
    parts = OBJECT_PARTS.get(kind or "", ())
    if stem in parts:
        return stem
    for part in parts:
        if part in stem or (part == "backrest" and "back" in stem):
            return part
    return name


def from_chain_of_contacts(steps: Any, instruction: str = "", scene: SceneInfo | None = None) -> StagePlan:
    """A UniHSI chain of contacts (a list of steps, each a list of ``[object_id, object_part, human_joint, "contact" |
    "not contact", direction]``, or ``{"chain_of_contacts": [...]}``) as stages with links and no targets.

    Object ids map to a scene object of the same id, else to the only scene object of the id's stem type
    (``chair000`` → the scene's one chair); parts and joints map onto the vocabularies where a name matches
    (``seat_soft_surface16`` → ``seat``, ``torso`` → ``back``). Anything else is kept, for validation to report."""
    if isinstance(steps, Mapping):
        steps = steps["chain_of_contacts"]
    by_type: dict[str, list[str]] = {}
    for oid, o in (scene.objects if scene else {}).items():
        by_type.setdefault(o.type, []).append(oid)
    stages = []
    for step in steps:
        contacts = [step] if step and isinstance(step[0], str) else step
        links = []
        for c in contacts:
            obj = str(c[0])
            if scene is not None and obj not in scene.objects and len(by_type.get(_stem(obj), [])) == 1:
                obj = by_type[_stem(obj)][0]
            kind = scene.objects[obj].type if scene is not None and obj in scene.objects else _stem(obj)
            joint = str(c[2]).lower()
            direction = str(c[4]).lower() if len(c) > 4 and c[4] is not None else "none"
            label = canonical_label(c[3])
            links.append(Link(obj, _part(str(c[1]), kind), _JOINT_ALIASES.get(joint, joint), label, direction))
        stages.append(Stage(tuple(links)))
    objects = {
        link.object: scene.objects[link.object].type
        for s in stages
        for link in s.links
        if scene and link.object in scene.objects
    }
    return StagePlan(instruction, tuple(stages), objects)

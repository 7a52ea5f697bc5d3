"""``TemplatePlanner``: RMD stage plans for the supported HOI instructions, offline, from templates.

Instructions are read with a few patterns (not a language model), objects are found by id or by type word in the
scene, and each task expands to fixed stages whose targets come from the objects' poses and sizes:

- reach: approach (root in front of the part, the human part approaching it), touch (contact).
- push: approach the face opposite the push, both hands contact that face, push (object target, root follows),
  release (separating).
- open (a drawer): approach, grasp the handle, pull (the drawer slides out along its +x, root steps back), release.
- sit (a chair): approach the chair's front (pelvis approaching the seat), sit down (pelvis-seat contact, back
  approaching the backrest), lean back (back-backrest contact).
- carry: approach, both hands contact the box's side faces, lift, move (object and root targets), place on the
  destination's top or the floor, release.

Push directions (``forward``/``back``/``left``/``right``) are world +x/-x/+y/-y; distances are positive (say
"back", not "-1 m forward"). Several tasks in one instruction, joined by "then", ";" or "and" before a verb ("open the
drawer, then sit on the chair"), plan one after another, each on the scene as the previous left it (moved objects at
their targets, the character where it last stood). A negation ("don't", "never", ...), two tasks in one clause, a body
part ("with the ...") or an object part ("the box's lid", "the top of the box") the templates do not know, or one the
task cannot use ("open the drawer with the head": a drawer is pulled with one hand), is refused, naming it, never read
past or swapped for another: reach uses the part named (default the right hand) on the object part named (default the
type's first); open the left or right hand (default right) on the handle; push and carry both hands; sit the pelvis
and back. Every plan is validated against the scene before it is returned. Limits: doors have parts but no template;
the box is assumed not to turn while pushed or carried; stand-off distances are fixed, not fitted to the character.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ember.planners.hoi.schema import ALL_OBJECT_PARTS
from ember.planners.hoi.stages import (
    CHARACTER_PARTS,
    OBJECT_PARTS,
    Link,
    ObjectTarget,
    SceneInfo,
    SceneObject,
    Stage,
    StagePlan,
    ensure_valid_stages,
)

SUPPORTED = (
    "reach the <object>'s <part> with the <left|right> <hand|foot>",
    "push the <object> to [x, y]",
    "push the <object> <d> m <forward|back|left|right>",
    "open the <drawer> (by <d> m)",
    "sit on the <chair>",
    "carry the <object> to the <table|box>",
    "carry the <object> to [x, y]",
    "<task>, then <task> (tasks in order; also '; ' or 'and <verb>')",
)
FACES = {"front": (1.0, 0.0), "back": (-1.0, 0.0), "left": (0.0, 1.0), "right": (0.0, -1.0)}
"""Outward normals of an object's vertical faces in its own frame."""
PART_DIRECTION = {"top": "up", "seat": "up", "bottom": "down", "backrest": "front", "handle": "front", "panel": "front"}
"""The outward direction of each part's surface (a link's ``direction``); box faces point along their own names."""
_WORLD_DIRECTIONS = {
    "forward": (1.0, 0.0), "forwards": (1.0, 0.0), "back": (-1.0, 0.0), "backward": (-1.0, 0.0),
    "backwards": (-1.0, 0.0), "left": (0.0, 1.0), "right": (0.0, -1.0),
}  # fmt: skip
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"  # the text is lower-cased: 1e3, -0.5, .5
_POINT = re.compile(rf"\bto\s*[\[(]?\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[\])]?")
_DISTANCE = re.compile(rf"({_NUMBER})\s*(m|cm|meters?|metres?)\b(?:\s+(\w+))?")
_WITH = re.compile(
    r"\b(?:with|using)\s+(?:(?:the|your|its|his|her|their)\s+)?(?:(left|right|both|two)[\s_]+)?([a-z_]+)"
)
"""A body part an instruction names: ``with the left hand``, ``using both hands``, ``with the head``."""
BOTH_HANDS = "both_hands"
_BODY_WORDS = {p.replace("_", " "): p for p in CHARACTER_PARTS["humanoid"]} | {
    "both hands": BOTH_HANDS, "two hands": BOTH_HANDS, "hands": BOTH_HANDS,
}  # fmt: skip
TASK_BODY_PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    "reach": (
        ("right_hand", "left_hand", "left_foot", "right_foot", "head", "pelvis", "back"),
        "touches with one part",
    ),
    "push": ((BOTH_HANDS,), "pushes with both hands"),
    "open": (("right_hand", "left_hand"), "pulls the handle with one hand"),
    "sit": (("pelvis", "back"), "rests the pelvis on the seat and the back on the backrest"),
    "carry": ((BOTH_HANDS,), "holds the box with both hands"),
}
"""The body parts each task's template honours (the first is its default), and what the template does with them."""
_VERBS = {"reach": "reach", "touch": "reach", "push": "push", "shove": "push", "open": "open", "pull": "open",
          "sit": "sit", "carry": "carry", "bring": "carry"}  # fmt: skip
_VERB = r"\b(" + "|".join(_VERBS) + r")\b"
_CLAUSE_BREAK = re.compile(  # "; ", ". ", "then", "and then", "after that", "and <verb>"
    r"\s*(?:;|\.(?=\s|$)|,?\s*\b(?:and\s+)?then\b|,?\s*\bafter\s+that\b|,?\s*\band\b(?=\s+(?:"
    + "|".join(_VERBS)
    + r")\b))\s*"
)
_NEGATION = re.compile(r"\b(?:not|don't|dont|do\s+not|never|no\s+longer|without|avoid)\b")


class UnsupportedInstruction(ValueError):
    """An instruction the templates cannot read; the message lists the forms they can."""

    def __init__(self, instruction: str, reason: str) -> None:
        forms = "\n".join(f"  - {f}" for f in SUPPORTED)
        super().__init__(f"cannot plan {instruction!r}: {reason}. Supported forms:\n{forms}")


def _rotate(yaw: float, v: tuple[float, float]) -> tuple[float, float]:
    c, s = math.cos(yaw), math.sin(yaw)
    return (c * v[0] - s * v[1], s * v[0] + c * v[1])


def _r(v: float) -> float:
    return round(v, 3)


def _xy(o: SceneObject) -> tuple[float, float]:
    return (o.position[0], o.position[1])


def _half(o: SceneObject, face: str) -> float:
    """Distance from the object's centre to one vertical face [m]."""
    return o.extents[0 if face in ("front", "back") else 1] / 2


def _normal(o: SceneObject, face: str) -> tuple[float, float]:
    return _rotate(o.yaw, FACES[face])


def _face_toward(o: SceneObject, point: tuple[float, float]) -> str:
    """The vertical face whose outward normal points most toward ``point``."""
    dx, dy = point[0] - o.position[0], point[1] - o.position[1]
    return max(FACES, key=lambda f: _normal(o, f)[0] * dx + _normal(o, f)[1] * dy)


def _hand_faces(face: str) -> tuple[str, str]:
    """The faces under the left and right hands of a character standing outside ``face``, facing the object."""
    nx, ny = FACES[face]
    left = (ny, -nx)  # the facing direction -n turned +90 degrees
    return next(f for f, v in FACES.items() if v == left), next(f for f, v in FACES.items() if v == (-ny, nx))


def _after(scene: SceneInfo, stages: list[Stage]) -> SceneInfo:
    """``scene`` as ``stages`` leave it: each moved object at its last target, the character at its last root
    target."""
    objects = dict(scene.objects)
    for stage in stages:
        target = stage.object_target
        if target is not None and target.object in objects:
            o = objects[target.object]
            yaw = o.yaw if target.yaw is None else target.yaw
            objects[target.object] = SceneObject(o.type, target.position, yaw, o.size, o.movable)
    where = scene.character_position
    for stage in stages:
        root = stage.root_position(scene)
        if root is not None:
            where = (float(root[0]), float(root[1]))
    return SceneInfo(objects, scene.lower, scene.upper, scene.character, where)


def _offset(p: tuple[float, float], n: tuple[float, float], d: float) -> tuple[float, float]:
    return (_r(p[0] + n[0] * d), _r(p[1] + n[1] * d))


def _say(part: str) -> str:
    """A body part as an instruction says it, with its article: "the left hand", "both hands"."""
    return "both hands" if part == BOTH_HANDS else f"the {part.replace('_', ' ')}"


def body_part(instruction: str, text: str, task: str) -> str:
    """The body part ``text`` (one clause of ``instruction``) names for ``task`` ("with the left hand"), else the
    task's default; :class:`UnsupportedInstruction` naming it for a part the character does not have, an unsided
    "hand" or "foot", two parts, or a part the task's template cannot use (never swapped for another)."""
    allowed, does = TASK_BODY_PARTS[task]
    named: list[str] = []
    for m in _WITH.finditer(text):
        said = f"{m.group(1)} {m.group(2)}" if m.group(1) else m.group(2).replace("_", " ")
        if said in ("hand", "foot"):
            which = f"say 'left {said}' or 'right {said}'"
            raise UnsupportedInstruction(instruction, f"'with the {said}' does not say which; {which}")
        if said not in _BODY_WORDS:
            known = ", ".join([*_BODY_WORDS][:7]) + ", both hands"
            raise UnsupportedInstruction(instruction, f"{said!r} is not a body part the templates use ({known})")
        if _BODY_WORDS[said] not in named:
            named.append(_BODY_WORDS[said])
    if len(named) > 1:
        raise UnsupportedInstruction(
            instruction, f"{text.strip()!r} names {[_say(p) for p in named]}; the templates use one body part per task"
        )
    if named and named[0] not in allowed:
        options = " or ".join(f"'with {_say(p)}'" for p in allowed[:2]) + (", ..." if len(allowed) > 2 else "")
        raise UnsupportedInstruction(
            instruction, f"{task} {does}; it cannot use {_say(named[0])} — say {options}, or leave 'with ...' out"
        )
    return named[0] if named else allowed[0]


def object_part(instruction: str, text: str, scene: SceneInfo, oid: str) -> str | None:
    """The part of object ``oid`` that ``text`` names ("the box's top", "the box top", "the top of the box"), or None;
    :class:`UnsupportedInstruction` naming a part the object does not have and the parts it has."""
    o = scene.objects[oid]
    raw = instruction.lower()
    for word in dict.fromkeys((oid, o.type)):
        w = re.escape(word)
        found = [
            m.group(1)
            for m in re.finditer(rf"\b{w}\s+([a-z_][a-z0-9_]*)", text)
            if m.group(1) in ALL_OBJECT_PARTS or re.search(rf"\b{w}'s\s+{re.escape(m.group(1))}\b", raw)
        ]
        found += [m.group(1) for m in re.finditer(rf"\b([a-z_]+)\s+of\s+(?:the\s+)?{w}\b", text)]
        for part in found:
            if part not in OBJECT_PARTS[o.type]:
                raise UnsupportedInstruction(
                    instruction,
                    f"the {o.type} {oid!r} has no part {part!r}; its parts are {list(OBJECT_PARTS[o.type])}",
                )
            return part
    return None


def _only_part(instruction: str, named: str | None, oid: str, usable: str, why: str) -> None:
    """Refuse an object part the task's template does not use (``usable``), saying what it does use."""
    if named is not None and named != usable:
        raise UnsupportedInstruction(instruction, f"{why}; it cannot use {oid}'s {named!r} — leave the part out")


class TemplatePlanner:
    """Args:
    approach_gap: distance from the object's face to the character's root where it stands to use the object [m].
    carry_height: height of a carried box's centre [m].
    drawer_opening: how far ``open`` pulls a drawer unless the instruction says [m].
    stage_timeout_s: each stage's ``timeout_s`` (None: the executor's default) [s].
    """

    name = "hoi_template"

    def __init__(
        self,
        approach_gap: float = 0.35,
        carry_height: float = 0.95,
        drawer_opening: float = 0.3,
        stage_timeout_s: float | None = None,
    ) -> None:
        self.approach_gap = approach_gap
        self.carry_height = carry_height
        self.drawer_opening = drawer_opening
        self.stage_timeout_s = stage_timeout_s

    def plan(self, instruction: str, scene: SceneInfo | Mapping[str, Any]) -> StagePlan:
        """The validated stages for ``instruction``; :class:`UnsupportedInstruction` when no template reads it,
        :class:`~ember.planners.validate.PlanError` when its targets do not fit the scene."""
        if not isinstance(scene, SceneInfo):
            scene = SceneInfo.from_dict(scene)
        text = re.sub(r"'s\b|s'", "", instruction.lower())
        negation = _NEGATION.search(text)
        if negation:
            raise UnsupportedInstruction(instruction, f"{negation.group(0)!r}: the templates cannot plan a negation")
        clauses = [c for c in _CLAUSE_BREAK.split(text) if c.strip()]
        stages: list[Stage] = []
        now = scene
        for clause in clauses or [text]:
            planned = self._clause(instruction, clause, now)
            stages += planned
            now = _after(now, planned)
        if self.stage_timeout_s is not None:
            stages = [Stage(s.links, s.human_root, s.object_target, s.name, self.stage_timeout_s) for s in stages]
        objects = {link.object: scene.objects[link.object].type for s in stages for link in s.links}
        plan = StagePlan(instruction, tuple(stages), objects)
        return ensure_valid_stages(plan.to_dict(), scene, source=f"template plan for {instruction!r}")

    def _clause(self, instruction: str, text: str, scene: SceneInfo) -> list[Stage]:
        found = [(m.start(), _VERBS[m.group(1)]) for m in re.finditer(_VERB, text)]
        if not found:
            raise UnsupportedInstruction(
                instruction, f"{text.strip()!r} has no supported verb (reach, push, open, sit, carry)"
            )
        tasks = {task for _, task in found}
        if len(tasks) > 1:
            raise UnsupportedInstruction(
                instruction, f"{text.strip()!r} asks for {sorted(tasks)} at once; put them in order with 'then'"
            )
        task = min(found)[1]
        refs = self._objects(instruction, text, scene)
        if not refs:
            raise UnsupportedInstruction(
                instruction, f"{text.strip()!r} names none of the scene's objects {sorted(scene.objects)}"
            )
        return list(getattr(self, f"_{task}")(instruction, text, scene, refs))

    @staticmethod
    def _objects(instruction: str, text: str, scene: SceneInfo) -> list[str]:
        """Object ids named in ``text`` (by id, or by a type word naming one object), in order of mention."""
        by_type: dict[str, list[str]] = {}
        for oid, o in scene.objects.items():
            by_type.setdefault(o.type, []).append(oid)
        refs: list[str] = []
        for token in re.findall(r"[a-z_][a-z0-9_]*", text):
            if token in scene.objects:
                oid = token
            elif token in by_type or token.rstrip("s") in by_type:
                ids = by_type.get(token) or by_type[token.rstrip("s")]
                if len(ids) > 1:
                    raise UnsupportedInstruction(instruction, f"{token!r} is ambiguous; name one of {sorted(ids)}")
                oid = ids[0]
            else:
                continue
            if oid not in refs:
                refs.append(oid)
        return refs

    def _stand(self, o: SceneObject, face: str) -> tuple[float, float]:
        return _offset(_xy(o), _normal(o, face), _half(o, face) + self.approach_gap)

    # ------------------------------------------------------------------ tasks
    def _reach(self, instruction: str, text: str, scene: SceneInfo, refs: list[str]) -> list[Stage]:
        oid = refs[0]
        o = scene.objects[oid]
        who = body_part(instruction, text, "reach")
        part = object_part(instruction, text, scene, oid)
        if part is None:
            words = re.findall(r"[a-z_]+", re.split(r"\b(?:with|using)\b", text)[0])
            part = next((w for w in words if w in OBJECT_PARTS[o.type] and w != oid), OBJECT_PARTS[o.type][0])
        face = part if part in FACES else "front" if o.type in ("chair", "drawer", "door") else None
        face = face or _face_toward(o, scene.character_position)
        root = self._stand(o, face)
        direction = PART_DIRECTION.get(part, part if part in FACES else "none")
        return [
            Stage((Link(oid, part, who, "approaching", direction),), root, name="approach"),
            Stage((Link(oid, part, who, "contact", direction),), root, name="touch"),
        ]

    def _push(self, instruction: str, text: str, scene: SceneInfo, refs: list[str]) -> list[Stage]:
        oid = refs[0]
        o = scene.objects[oid]
        body_part(instruction, text, "push")
        point, distance = _POINT.search(text), _DISTANCE.search(text)
        if point is not None:
            goal = (float(point.group(1)), float(point.group(2)))
        elif distance is not None and distance.group(3) in _WORLD_DIRECTIONS:
            d = float(distance.group(1)) / (100.0 if distance.group(2) == "cm" else 1.0)
            if not d > 0.0:
                raise UnsupportedInstruction(
                    instruction,
                    f"{distance.group(0)!r}: push takes a positive distance and a direction "
                    "(forward, back, left, right), e.g. '1 m back' rather than '-1 m forward'",
                )
            u = _WORLD_DIRECTIONS[distance.group(3)]
            goal = (o.position[0] + u[0] * d, o.position[1] + u[1] * d)
        else:
            raise UnsupportedInstruction(instruction, "push needs a destination: 'to [x, y]' or '<d> m <direction>'")
        dx, dy = goal[0] - o.position[0], goal[1] - o.position[1]
        face = _face_toward(o, (o.position[0] - dx, o.position[1] - dy))  # the face the hands push on
        why = f"pushing {oid!r} that way takes both hands on its {face!r} face"
        _only_part(instruction, object_part(instruction, text, scene, oid), oid, face, why)
        n, gap = _normal(o, face), _half(o, face) + self.approach_gap
        start = self._stand(o, face)
        hands = ("left_hand", "right_hand")
        touch = tuple(Link(oid, face, h, "contact", face) for h in hands)
        target = ObjectTarget(oid, (_r(goal[0]), _r(goal[1]), _r(o.position[2])))
        return [
            Stage(tuple(Link(oid, face, h, "approaching", face) for h in hands), start, name="approach"),
            Stage(touch, start, name="hands on"),
            Stage(touch, _offset(goal, n, gap), target, name="push"),
            Stage(tuple(Link(oid, face, h, "separating", face) for h in hands), name="release"),
        ]

    def _open(self, instruction: str, text: str, scene: SceneInfo, refs: list[str]) -> list[Stage]:
        oid = next((r for r in refs if scene.objects[r].type == "drawer"), None)
        if oid is None:
            raise UnsupportedInstruction(instruction, "open works on a drawer; the instruction names none")
        o = scene.objects[oid]
        distance = _DISTANCE.search(text)
        opening = self.drawer_opening
        if distance is not None:
            opening = float(distance.group(1)) / (100.0 if distance.group(2) == "cm" else 1.0)
        travel = o.extents[0] - 0.1  # the slide's range: the chest's depth less the back wall's clearance
        if not 0.0 < opening <= travel + 1e-9:
            raise UnsupportedInstruction(
                instruction, f"{oid} opens by up to {travel:.2f} m; ask for a distance in (0, {travel:.2f}] m"
            )
        hand = body_part(instruction, text, "open")
        _only_part(instruction, object_part(instruction, text, scene, oid), oid, "handle", "open pulls the handle")
        n = _normal(o, "front")
        stand = _offset(_xy(o), n, self.approach_gap + 0.1)
        grip = (Link(oid, "handle", hand, "contact", "front"),)
        target = ObjectTarget(oid, (*_offset(_xy(o), n, opening), o.position[2]))
        return [
            Stage((Link(oid, "handle", hand, "approaching", "front"),), stand, name="approach"),
            Stage(grip, stand, name="grasp"),
            Stage(grip, _offset(_xy(o), n, self.approach_gap + 0.1 + opening), target, name="pull"),
            Stage((Link(oid, "handle", hand, "separating", "front"),), name="release"),
        ]

    def _sit(self, instruction: str, text: str, scene: SceneInfo, refs: list[str]) -> list[Stage]:
        oid = next((r for r in refs if scene.objects[r].type == "chair"), None)
        if oid is None:
            raise UnsupportedInstruction(instruction, "sit works on a chair; the instruction names none")
        o = scene.objects[oid]
        body_part(instruction, text, "sit")
        _only_part(
            instruction, object_part(instruction, text, scene, oid), oid, "seat", "sit lowers the pelvis onto the seat"
        )
        seat = _offset(_xy(o), _normal(o, "front"), 0.05)
        seated = Link(oid, "seat", "pelvis", "contact", "up")
        return [
            Stage((Link(oid, "seat", "pelvis", "approaching", "up"),), self._stand(o, "front"), name="approach"),
            Stage((seated, Link(oid, "backrest", "back", "approaching", "front")), seat, name="sit down"),
            Stage((seated, Link(oid, "backrest", "back", "contact", "front")), seat, name="lean back"),
        ]

    def _carry(self, instruction: str, text: str, scene: SceneInfo, refs: list[str]) -> list[Stage]:
        oid = refs[0]
        o = scene.objects[oid]
        body_part(instruction, text, "carry")
        why = "carry holds the box by the two faces beside the hands, chosen from where the character stands"
        _only_part(instruction, object_part(instruction, text, scene, oid), oid, "", why)
        point = _POINT.search(text)
        box_h = o.extents[2] / 2
        if len(refs) > 1:
            dest = scene.objects[refs[1]]
            _only_part(
                instruction,
                object_part(instruction, text, scene, refs[1]),
                refs[1],
                "top",
                "carry puts the box on a top",
            )
            if "top" not in OBJECT_PARTS[dest.type]:
                raise UnsupportedInstruction(instruction, f"carry puts things on a top; a {dest.type} has none")
            dface = _face_toward(dest, _xy(o))
            n = _normal(dest, dface)
            place = _offset(_xy(dest), n, max(0.0, _half(dest, dface) - max(o.extents[:2]) / 2 - 0.05))
            rest_z = dest.position[2] + dest.extents[2] / 2 + box_h
        elif point is not None:
            place = (float(point.group(1)), float(point.group(2)))
            away = (o.position[0] - place[0], o.position[1] - place[1])
            norm = math.hypot(*away)
            n = (away[0] / norm, away[1] / norm) if norm > 1e-6 else (1.0, 0.0)
            rest_z = scene.lower[2] + box_h
        else:
            raise UnsupportedInstruction(instruction, "carry needs a destination: 'to the <table>' or 'to [x, y]'")
        face = _face_toward(o, scene.character_position)
        start = self._stand(o, face)
        left, right = _hand_faces(face)
        pairs = ((left, "left_hand"), (right, "right_hand"))
        hold = tuple(Link(oid, f, h, "contact", f) for f, h in pairs)
        lift_z = _r(max(self.carry_height, rest_z + 0.1))
        there = _offset(place, n, _half(o, face) + self.approach_gap)
        return [
            Stage(tuple(Link(oid, f, h, "approaching", f) for f, h in pairs), start, name="approach"),
            Stage(hold, start, name="grasp"),
            Stage(hold, start, ObjectTarget(oid, (_r(o.position[0]), _r(o.position[1]), lift_z)), name="lift"),
            Stage(hold, there, ObjectTarget(oid, (place[0], place[1], lift_z)), name="move"),
            Stage(hold, there, ObjectTarget(oid, (place[0], place[1], _r(rest_z))), name="place"),
            Stage(tuple(Link(oid, f, h, "separating", f) for f, h in pairs), name="release"),
        ]


def task_instruction(task: str, rng: np.random.Generator) -> str:
    """One instruction per benchmark task (``reach``, ``push``, ``open``, ``sit``, ``carry``), with its random choices
    (hand, push direction) drawn from ``rng``: what the bench and the tests plan from."""
    forms = {
        "reach": lambda: f"reach the box's top with the {rng.choice(['left', 'right'])} hand",
        "push": lambda: f"push the box 1 m {rng.choice(['forward', 'back', 'left', 'right'])}",
        "open": lambda: "open the drawer",
        "sit": lambda: "sit on the chair",
        "carry": lambda: "carry the box to the table",
    }
    if task not in forms:
        raise UnsupportedInstruction(task, f"no benchmark task of that name; tasks are {sorted(forms)}")
    return forms[task]()


def template_plans(task: str, description: dict[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """``HOIVecEnv``'s plan factory from the template planner: one benchmark instruction for ``task``
    (:func:`task_instruction`), planned for the scene ``description`` and validated, as stage dicts. A module-level
    function, so env runners in other processes can take it."""
    return [s.to_dict() for s in TemplatePlanner().plan(task_instruction(task, rng), description).stages]

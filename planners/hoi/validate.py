"""``validate_stages(plan, scene)``: every problem of an HOI stage plan, each with its JSON path and a hint.

Two passes, each reporting all it finds: the JSON Schema (structure, labels, directions, human parts), then the
scene (object ids, each object's part vocabulary, the character's parts, finite targets inside the workspace, an
object moved only by a stage with a contact link to it and only if it is movable, one label per pair and stage).
Paths index the plain form: ``$.stages[1].links[0][1]`` is the object part of a link. Limits: no reachability,
collision or physical-plausibility checks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import jsonschema

from ember.planners.hoi.scene import CHARACTER_PARTS, HUMAN_PARTS, OBJECT_PARTS, SceneInfo
from ember.planners.hoi.schema import ALL_HUMAN_PARTS, MAX_LINKS, MAX_STAGES, STAGES_SCHEMA, normalize
from ember.planners.validate import Problem, _closest, _path
from ember.planners.validate import schema_problems as shared_schema_problems

_VALIDATOR = jsonschema.Draft202012Validator(STAGES_SCHEMA)
_LENGTH_HINTS = {
    "stages": f"give between 1 and {MAX_STAGES} stages",
    "links": f"give at most {MAX_LINKS} links per stage",
    "link": "write [object, object_part, human_part, label, direction]",
    "human_root": "give [x, y] or [x, y, z] in metres",
    "offset": "give [dx, dy] in metres",
    "position": "give [x, y, z] in metres",
}


def _stage_hint(err: jsonschema.ValidationError, parts: list[Any]) -> str | None:
    if err.validator in ("enum", "const"):
        options = err.validator_value if err.validator == "enum" else [err.validator_value]
        return _closest(str(err.instance), [str(o) for o in options])
    if err.validator in ("minItems", "maxItems"):
        last = next((p for p in reversed(parts) if isinstance(p, str)), "stages")
        is_link = len(parts) >= 2 and parts[-2] == "links"
        return _LENGTH_HINTS["link" if is_link else last] if (is_link or last in _LENGTH_HINTS) else ""
    return None


def schema_problems(plan: Any) -> list[Problem]:
    """The JSON Schema problems of a normalized plan, each with a hint (no scene needed)."""
    return shared_schema_problems(_VALIDATOR, plan, _stage_hint)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _bounds(values: list[Any], parts: list[Any], scene: SceneInfo, what: str) -> list[Problem]:
    problems = []
    for k, v in enumerate(values[:3]):
        if not _is_num(v):
            continue
        lo, hi = scene.lower[k], scene.upper[k]
        if not math.isfinite(v):
            problems.append(Problem(_path([*parts, k]), f"{what} has a non-finite value {v}", "give a finite number"))
        elif not lo <= v <= hi:
            axis = "xyz"[k]
            problems.append(
                Problem(
                    _path([*parts, k]), f"{what} {axis}={v} is outside the workspace", f"keep {axis} in [{lo}, {hi}]"
                )
            )
    return problems


def _stage_problems(stage: dict[str, Any], at: list[Any], scene: SceneInfo) -> list[Problem]:
    problems: list[Problem] = []
    ids, character = scene.objects, CHARACTER_PARTS.get(scene.character, HUMAN_PARTS)
    links: list[Any] = stage["links"] if isinstance(stage.get("links"), list) else []
    contacts: set[str] = set()
    labels: dict[tuple[str, str, str], tuple[int, Any]] = {}
    for j, link in enumerate(links):
        if not isinstance(link, list) or len(link) < 4 or not all(isinstance(x, str) for x in link[:3]):
            continue
        obj, part, human = link[:3]
        where = [*at, "links", j]
        if obj not in ids:
            problems.append(Problem(_path([*where, 0]), f"unknown object {obj!r}", _closest(obj, ids)))
        elif part not in OBJECT_PARTS[ids[obj].type]:
            kind = ids[obj].type
            msg = f"{kind} {obj!r} has no part {part!r}"
            problems.append(Problem(_path([*where, 1]), msg, _closest(part, OBJECT_PARTS[kind])))
        if human in ALL_HUMAN_PARTS and human not in character:
            msg = f"the {scene.character} has no part {human!r}"
            problems.append(Problem(_path([*where, 2]), msg, _closest(human, character)))
        before = labels.setdefault((obj, part, human), (j, link[3]))
        if before[1] != link[3]:
            msg = f"{human} and {obj}.{part} are labelled {link[3]!r} here and {before[1]!r} in link {before[0]}"
            problems.append(Problem(_path([*where, 3]), msg, "give each pair one label per stage"))
        if link[3] == "contact":
            contacts.add(obj)
    root, target = stage.get("human_root"), stage.get("object_target")
    if not links and root is None and target is None:
        problems.append(
            Problem(_path(at), "the stage has no links and no targets", "give links or a target, or remove the stage")
        )
    if isinstance(root, list):
        problems += _bounds(root, [*at, "human_root"], scene, "human_root")
    elif isinstance(root, dict) and isinstance(root.get("near"), str):
        near, offset = root["near"], root.get("offset", [0.0, 0.0])
        if near not in ids:
            problems.append(
                Problem(_path([*at, "human_root", "near"]), f"unknown object {near!r}", _closest(near, ids))
            )
        elif isinstance(offset, list) and len(offset) == 2 and all(_is_num(v) for v in offset):
            resolved = [ids[near].position[k] + offset[k] for k in range(2)]
            problems += _bounds(resolved, [*at, "human_root", "offset"], scene, f"human_root near {near!r} + offset")
    if isinstance(target, dict) and isinstance(target.get("object"), str):
        obj, tpath = target["object"], [*at, "object_target"]
        if obj not in ids:
            problems.append(Problem(_path([*tpath, "object"]), f"unknown object {obj!r}", _closest(obj, ids)))
        elif not ids[obj].can_move:
            msg = f"{ids[obj].type} {obj!r} is not movable"
            problems.append(Problem(_path([*tpath, "object"]), msg, "set object_target to null"))
        elif obj not in contacts:
            problems.append(
                Problem(
                    _path([*tpath, "object"]),
                    f"the stage moves {obj!r} but has no contact link to it",
                    f'add a link such as ["{obj}", "{OBJECT_PARTS[ids[obj].type][0]}", "right_hand", "contact"], '
                    "or set object_target to null",
                )
            )
        if isinstance(target.get("position"), list):
            problems += _bounds(target["position"], [*tpath, "position"], scene, "object_target position")
        yaw = target.get("yaw")
        if isinstance(yaw, float) and not math.isfinite(yaw):
            problems.append(Problem(_path([*tpath, "yaw"]), f"yaw {yaw} is not finite", "give radians or omit it"))
    return problems


def validate_stages(plan: Any, scene: SceneInfo | Mapping[str, Any]) -> list[Problem]:
    """Every problem of a stage plan (plain or strict form, JSON text or dict) against ``scene``; empty means it may
    run. Paths index the plain form: ``$.stages[1].links[0][1]`` is the object part of a link."""
    if not isinstance(scene, SceneInfo):
        scene = SceneInfo.from_dict(scene)
    if isinstance(plan, str | bytes):
        try:
            plan = json.loads(plan)
        except json.JSONDecodeError as err:
            return [
                Problem("$", f"not JSON: {err.msg} at line {err.lineno} column {err.colno}", "send one JSON object")
            ]
    if not isinstance(plan, Mapping):
        return [
            Problem("$", f"a stage plan must be a JSON object; got {type(plan).__name__}", 'write {"stages": [...]}')
        ]
    plan = normalize(plan)
    problems = schema_problems(plan)
    objects = plan.get("objects")
    for oid, kind in objects.items() if isinstance(objects, dict) else []:
        if oid not in scene.objects:
            problems.append(Problem(_path(["objects", oid]), f"unknown object {oid!r}", _closest(oid, scene.objects)))
        elif kind != scene.objects[oid].type:
            msg = f"{oid!r} is a {scene.objects[oid].type} in the scene, not a {kind}"
            problems.append(Problem(_path(["objects", oid]), msg, f"write {scene.objects[oid].type!r}"))
    stages = plan.get("stages")
    for i, stage in enumerate(stages if isinstance(stages, list) else []):
        if isinstance(stage, dict):
            problems += _stage_problems(stage, ["stages", i], scene)
    return list(dict.fromkeys(problems))

"""The HOI stage-plan JSON Schema, defined once, and the strict-mode subset derived from it.

``stages_schema()`` is the single source (``STAGES_SCHEMA``); ``strict_stages_schema()`` derives the subset that
OpenAI-style strict structured outputs accept (every field required, optional ones nullable, if/then variants as
anyOf, links as objects), never written twice. :func:`normalize` maps that form, RMD's numeric labels 0-3 and
UniHSI's "contact"/"not contact" back to the plain form, and :func:`to_strict` goes the other way. The format itself
is described in ``stages.py``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from ember.planners.hoi.scene import CHARACTER_PARTS, DIRECTIONS, LABELS, OBJECT_PARTS, SceneInfo

LINK_FIELDS = ("object", "object_part", "human_part", "label", "direction")
STAGES_VERSION = 1
MAX_STAGES = 16
MAX_LINKS = 4
"""Links per stage: what the simulator's goal vector holds (``sims/hoi/compiler.py``'s ``MAX_LINKS``)."""

_LABEL_ALIASES: dict[Any, str] = {
    **{i: label for i, label in enumerate(LABELS)},
    **{str(i): label for i, label in enumerate(LABELS)},
    **{label: label for label in LABELS},
    "stationary contact": "contact",
    "approach": "approaching",
    "separate": "separating",
    "no trend": "no_trend",
    "no consistent trend": "no_trend",
    # UniHSI: "not contact" drives the part away from the object part (its reward rewards distance).
    "not contact": "separating",
}
ALL_HUMAN_PARTS = tuple(sorted({p for parts in CHARACTER_PARTS.values() for p in parts}))
ALL_OBJECT_PARTS = tuple(sorted({p for parts in OBJECT_PARTS.values() for p in parts}))


_NUM: dict[str, Any] = {"type": "number"}
_LINK_ITEMS: dict[str, dict[str, Any]] = {
    "object": {"type": "string", "minLength": 1, "maxLength": 100, "description": "an object id of the scene"},
    "object_part": {"type": "string", "minLength": 1, "maxLength": 100, "description": "a part of that object's type"},
    "human_part": {"enum": list(ALL_HUMAN_PARTS), "description": "a part of the character"},
    "label": {"enum": list(LABELS), "description": "the relative movement: contact (stationary), approaching, ..."},
    "direction": {"enum": list(DIRECTIONS), "description": "outward direction of the object part's surface"},
}
_STAGE_FIELDS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "maxLength": 200, "description": "label shown in traces"},
    "human_root": {
        "type": ["array", "object", "null"],
        "description": "the character's root target [m]: [x, y], [x, y, z], or near an object; null: none",
        "allOf": [
            {"if": {"type": "array"}, "then": {"items": _NUM, "minItems": 2, "maxItems": 3}},
            {
                "if": {"type": "object"},
                "then": {
                    "properties": {
                        "near": {"type": "string", "minLength": 1, "description": "object id"},
                        "offset": {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2},
                    },
                    "required": ["near"],
                    "additionalProperties": False,
                },
            },
        ],
    },
    "object_target": {
        "type": ["object", "null"],
        "description": "where one object goes; null: no object moves",
        "properties": {
            "object": {"type": "string", "minLength": 1, "description": "object id"},
            "position": {"type": "array", "items": _NUM, "minItems": 3, "maxItems": 3, "description": "[m]"},
            "yaw": {"type": "number", "description": "[rad]"},
        },
        "required": ["object", "position"],
        "additionalProperties": False,
    },
    "links": {"type": "array", "maxItems": MAX_LINKS, "items": {"$ref": "#/$defs/link"}},
    "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 600, "description": "world time [s]"},
}


def stages_schema() -> dict[str, Any]:
    """The stage-plan JSON Schema (draft 2020-12)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ember.dev/schemas/hoi_stages.schema.json",
        "title": "Ember HOI stage plan (RMD)",
        "type": "object",
        "properties": {
            "version": {"const": STAGES_VERSION},
            "instruction": {"type": "string", "maxLength": 2000},
            "objects": {"type": "object", "maxProperties": 64, "additionalProperties": {"enum": sorted(OBJECT_PARTS)}},
            "stages": {"type": "array", "minItems": 1, "maxItems": MAX_STAGES, "items": {"$ref": "#/$defs/stage"}},
        },
        "required": ["stages"],
        "additionalProperties": False,
        "$defs": {
            "stage": {
                "type": "object",
                "properties": _STAGE_FIELDS,
                "required": ["links"],
                "additionalProperties": False,
            },
            "link": {"type": "array", "prefixItems": list(_LINK_ITEMS.values()), "minItems": 4, "maxItems": 5},
        },
    }


STAGES_SCHEMA = stages_schema()
_KEEP = ("type", "enum", "description")


def _strictify(s: dict[str, Any], nullable: bool) -> dict[str, Any]:
    """Strict-mode form of one plain sub-schema: if/then variants become anyOf, every property required, optional
    ones nullable, length and range keywords dropped."""
    if "allOf" in s:
        variants = [_strictify({"type": v["if"]["type"], **v["then"]}, False) for v in s["allOf"]]
        return {"anyOf": [*variants, {"type": "null"}] if nullable or "null" in s["type"] else variants}
    types = s.get("type")
    if isinstance(types, list) and "null" in types:
        inner = _strictify({**s, "type": next(t for t in types if t != "null")}, False)
        return {"anyOf": [inner, {"type": "null"}]}
    out = {k: copy.deepcopy(v) for k, v in s.items() if k in _KEEP}
    if "properties" in s:
        required = set(s.get("required", ()))
        props = {k: _strictify(v, k not in required) for k, v in s["properties"].items()}
        out.update(type="object", properties=props, required=list(props), additionalProperties=False)
    if "items" in s:
        out["items"] = _strictify(s["items"], False)
    if nullable:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        elif "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def strict_stages_schema(scene: SceneInfo | None = None) -> dict[str, Any]:
    """The strict-mode subset for structured outputs, derived from :func:`stages_schema`'s fields: links are objects,
    every field is present (null when unused). With ``scene``, object ids and parts are enums of that scene's."""
    link_props = {k: _strictify(v, False) for k, v in _LINK_ITEMS.items()}
    link_props["object_part"]["enum"] = list(ALL_OBJECT_PARTS)
    if scene is not None:
        link_props["object"]["enum"] = sorted(scene.objects)
        types = {o.type for o in scene.objects.values()}
        link_props["object_part"]["enum"] = sorted({p for t in types for p in OBJECT_PARTS[t]})
    link = {"type": "object", "properties": link_props, "required": list(link_props), "additionalProperties": False}
    stage = _strictify({**STAGES_SCHEMA["$defs"]["stage"], "properties": {**_STAGE_FIELDS, "links": {}}}, False)
    stage["properties"]["links"] = {"type": "array", "items": {"$ref": "#/$defs/link"}}
    return {
        "type": "object",
        "properties": {
            "instruction": {"type": "string"},
            "stages": {"type": "array", "items": {"$ref": "#/$defs/stage"}},
        },
        "required": ["instruction", "stages"],
        "additionalProperties": False,
        "$defs": {"stage": stage, "link": link},
    }


def to_strict(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The strict-mode form of a valid plain plan (what a model answering with the strict schema writes)."""
    stages = []
    for s in normalize(plan)["stages"]:
        root, target = s.get("human_root"), s.get("object_target")
        if isinstance(root, dict):
            root = {"near": root["near"], "offset": root.get("offset")}
        if target is not None:
            target = {"object": target["object"], "position": target["position"], "yaw": target.get("yaw")}
        links = [
            dict(zip(LINK_FIELDS, [*link[:4], link[4] if len(link) > 4 else "none"], strict=True))
            for link in s["links"]
        ]
        stages.append(
            {
                "name": s.get("name"),
                "human_root": root,
                "object_target": target,
                "links": links,
                "timeout_s": s.get("timeout_s"),
            }
        )
    return {"instruction": plan.get("instruction", ""), "stages": stages}


def canonical_label(value: Any) -> Any:
    """The canonical label for an RMD code 0-3, a UniHSI label or a spelling variant; anything else unchanged."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    key = re.sub(r"[\s_\-]+", " ", value.strip().lower()) if isinstance(value, str) else value
    return _LABEL_ALIASES.get(key, value)


def normalize(plan: Any) -> Any:
    """A copy of ``plan`` in the plain form: labels canonical (RMD codes 0-3, UniHSI's "contact"/"not contact", case
    and spacing folded), directions lower-case (absent or null: "none"), links given as objects turned into lists,
    the strict form's nulls for optional fields dropped. Anything unrecognised is kept for validation to report."""
    if not isinstance(plan, Mapping):
        return plan
    out = {k: copy.deepcopy(v) for k, v in plan.items() if not (k in ("instruction", "objects") and v is None)}
    for stage in out.get("stages", []) if isinstance(out.get("stages"), list) else []:
        if not isinstance(stage, dict):
            continue
        for key in ("name", "timeout_s"):
            if key in stage and stage[key] is None:
                del stage[key]
        root, target = stage.get("human_root"), stage.get("object_target")
        if isinstance(root, dict) and root.get("offset", 0) is None:
            del root["offset"]
        if isinstance(target, dict) and "yaw" in target and target["yaw"] is None:
            del target["yaw"]
        links = stage.get("links")
        if not isinstance(links, list):
            continue
        for j, link in enumerate(links):
            if isinstance(link, dict) and set(link) <= set(LINK_FIELDS):
                link = [link.get(k) for k in LINK_FIELDS]
            if not isinstance(link, list):
                continue
            if len(link) > 3:
                link[3] = canonical_label(link[3])
            if len(link) == 5 and (link[4] is None or isinstance(link[4], str)):
                link[4] = (link[4] or "none").strip().lower()
            links[j] = link
    return out

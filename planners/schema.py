"""Contract 4 — the plan: a behavior tree as JSON, defined once here.

``plan_schema()`` is the single source. ``planners/plan.schema.json`` is generated from it (``python -m
ember.planners.schema > planners/plan.schema.json``; a test keeps the two equal), and ``strict_schema()`` derives the
subset that OpenAI-style strict structured outputs accept (every field required, no extra keys, optional fields
nullable, free-form ``args`` turned into a list of name/value pairs) — never written twice. ``from_strict`` maps a
strict-mode reply back to the plain form.

A plan::

    {"version": 1, "goal": "stack green on red", "root": NODE}

    NODE = {"type": "sequence" | "fallback", "children": [NODE, ...], "name"?, "memory"?}
         | {"type": "parallel", "children": [NODE, ...], "policy"?: "all" | "one", "name"?}
         | {"type": "condition", "predicate": "on(green_cube, red_cube)", "name"?}
         | {"type": "action", "skill": "pick", "args": {"obj": "green_cube"}, "agent"?: "panda", "name"?}
         | {"type": "retry", "attempts": 3, "child": NODE, "name"?}
         | {"type": "timeout", "seconds": 20.0, "child": NODE, "name"?}

Sequences and fallbacks keep memory by default (``memory: true``, py_trees' classic semantics): a finished child
is not ticked again, so a plain list of actions runs each once. Reactive nodes (``memory: false``) re-check earlier
children every tick; that is what lets a PA-BT tree (every action guarded by the condition it achieves) repair a
disturbed world, and the symbolic planner emits them. Timeouts count world time, so runs are deterministic under a
seed.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")
NODE_TYPES = ("sequence", "fallback", "parallel", "condition", "action", "retry", "timeout")
PLAN_VERSION = 1
MAX_DEPTH = 32
"""Deepest nesting accepted [levels]."""

_NAME = {"type": "string", "maxLength": 200, "description": "label shown in traces"}
ARG_CHARS = 4000
"""The longest string argument a plan takes [characters]: room for an HOI stage as compact JSON
(``planners/hoi/bt.py``) whose four links name objects and parts of up to 100 ASCII characters."""
_ARG_VALUE = {
    "anyOf": [
        {"type": "string", "maxLength": ARG_CHARS},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "number"}, "maxItems": 16},
    ]
}
_NODE_FIELDS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "sequence": (
        {
            "children": {"type": "array", "minItems": 1, "maxItems": 256, "items": {"$ref": "#/$defs/node"}},
            "memory": {
                "type": "boolean",
                "description": "true (default): resume at the running child; false: re-check earlier ones every tick",
            },
        },
        ["children"],
    ),
    "fallback": (
        {
            "children": {"type": "array", "minItems": 1, "maxItems": 256, "items": {"$ref": "#/$defs/node"}},
            "memory": {
                "type": "boolean",
                "description": "true (default): resume at the running child; false: re-try earlier children every tick",
            },
        },
        ["children"],
    ),
    "parallel": (
        {
            "children": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"$ref": "#/$defs/node"}},
            "policy": {
                "enum": ["all", "one"],
                "description": "succeed when every child has succeeded (each runs once) or when any one succeeds",
            },
        },
        ["children"],
    ),
    "condition": (
        {
            "predicate": {
                "type": "string",
                "minLength": 3,
                "maxLength": 300,
                "description": "a predicate such as on(red_cube, tray), or not on(red_cube, tray)",
            }
        },
        ["predicate"],
    ),
    "action": (
        {
            "skill": {"type": "string", "minLength": 1, "maxLength": 100, "description": "a skill of the library"},
            "args": {
                "type": "object",
                "maxProperties": 16,
                "additionalProperties": _ARG_VALUE,
                "description": "the skill's arguments by name",
            },
            "agent": {"type": "string", "maxLength": 100, "description": "which agent runs it (default: the first)"},
        },
        ["skill", "args"],
    ),
    "retry": (
        {
            "attempts": {"type": "integer", "minimum": 1, "maximum": 100, "description": "tries before failing"},
            "child": {"$ref": "#/$defs/node"},
        },
        ["attempts", "child"],
    ),
    "timeout": (
        {
            "seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "description": "world time [s]"},
            "child": {"$ref": "#/$defs/node"},
        },
        ["seconds", "child"],
    ),
}


def _node_variant(kind: str) -> dict[str, Any]:
    fields, required = _NODE_FIELDS[kind]
    return {
        "type": "object",
        "properties": {"type": {"const": kind}, "name": _NAME, **fields},
        "required": ["type", *required],
        "additionalProperties": False,
    }


def plan_schema() -> dict[str, Any]:
    """The plan JSON Schema (draft 2020-12). Node variants are selected by ``type`` with if/then, so an error names
    the field of the variant the node claims to be, not every variant at once."""
    node: dict[str, Any] = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(NODE_TYPES)}},
        "allOf": [
            {"if": {"properties": {"type": {"const": kind}}, "required": ["type"]}, "then": _node_variant(kind)}
            for kind in NODE_TYPES
        ],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ember.dev/schemas/plan.schema.json",
        "title": "Ember plan",
        "description": "A behavior tree of skills (sequence, fallback, parallel, condition, action, retry, timeout).",
        "type": "object",
        "properties": {
            "version": {"const": PLAN_VERSION},
            "goal": {"type": "string", "maxLength": 2000},
            "root": {"$ref": "#/$defs/node"},
        },
        "required": ["root"],
        "additionalProperties": False,
        "$defs": {"node": node},
    }


def strict_schema() -> dict[str, Any]:
    """The strict-mode subset for structured outputs, derived from :func:`plan_schema`'s variants.

    Strict mode requires every property, forbids extra keys and conditional keywords, so each node is one object with
    every field of every variant (unused ones null), and ``args`` becomes ``[{"name", "value"}]``.
    """
    props: dict[str, Any] = {"type": {"type": "string", "enum": list(NODE_TYPES)}, "name": {"type": ["string", "null"]}}
    for kind in NODE_TYPES:
        for key, sub in _NODE_FIELDS[kind][0].items():
            if key in props:
                continue
            if key == "args":
                props[key] = {
                    "type": ["array", "null"],
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "value": copy.deepcopy(_ARG_VALUE)},
                        "required": ["name", "value"],
                        "additionalProperties": False,
                    },
                }
            elif key == "children":
                props[key] = {"type": ["array", "null"], "items": {"$ref": "#/$defs/node"}}
            elif key == "child":
                props[key] = {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}
            else:
                strict_sub = {k: v for k, v in sub.items() if k in ("type", "enum", "description")}
                if "type" in strict_sub:
                    strict_sub["type"] = [strict_sub["type"], "null"]
                elif "enum" in strict_sub:
                    strict_sub["enum"] = [*strict_sub["enum"], None]
                props[key] = strict_sub
    node = {"type": "object", "properties": props, "required": sorted(props), "additionalProperties": False}
    return {
        "type": "object",
        "properties": {"goal": {"type": "string"}, "root": {"$ref": "#/$defs/node"}},
        "required": ["goal", "root"],
        "additionalProperties": False,
        "$defs": {"node": node},
    }


def from_strict(plan: dict[str, Any]) -> dict[str, Any]:
    """Turn a strict-mode plan (nulls for unused fields, args as pairs) into the plain form :func:`plan_schema` takes.

    Anything malformed is passed through as it is, so validation reports it with its path.
    """

    def node(n: Any) -> Any:
        if not isinstance(n, dict):
            return n
        kind = n.get("type")
        allowed = set(_NODE_FIELDS.get(kind, ({}, []))[0]) | {"type", "name"} if isinstance(kind, str) else set(n)
        out: dict[str, Any] = {}
        for key, value in n.items():
            if value is None or key not in allowed:
                continue
            if key == "args" and isinstance(value, list):
                pairs = [p for p in value if isinstance(p, dict) and "name" in p]
                if len(pairs) == len(value):
                    value = {p["name"]: p.get("value") for p in pairs}
            elif key == "children" and isinstance(value, list):
                value = [node(c) for c in value]
            elif key == "child":
                value = node(value)
            out[key] = value
        return out

    out = {k: v for k, v in plan.items() if v is not None} if isinstance(plan, dict) else plan
    if isinstance(out, dict) and "root" in out:
        out["root"] = node(out["root"])
    return out


def to_strict(plan: dict[str, Any]) -> dict[str, Any]:
    """The strict-mode form of a valid plain plan (every field present, nulls for unused ones, args as pairs)."""
    fields = sorted(strict_schema()["$defs"]["node"]["properties"])

    def node(n: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(fields)
        out.update({k: v for k, v in n.items() if k not in ("children", "child", "args")})
        if "children" in n:
            out["children"] = [node(c) for c in n["children"]]
        if "child" in n:
            out["child"] = node(n["child"])
        if "args" in n:
            out["args"] = [{"name": k, "value": v} for k, v in n["args"].items()]
        return out

    return {"goal": plan.get("goal", ""), "root": node(plan["root"])}


def load_schema_file() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


if __name__ == "__main__":
    json.dump(plan_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")

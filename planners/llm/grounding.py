"""Ground the names a model uses ("the red cube", "Red_Cube") to world object ids; leave the rest for validation.

Only exact normalizations are applied (case, articles, spaces, a missing ``_cube``-style type suffix that makes the
name unique); an unresolvable name stays as it is, so the validator rejects it with its path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ember.sims.world import ObjectInfo

_ARTICLES = re.compile(r"\b(the|a|an)\b")


def resolve_name(name: str, objects: Mapping[str, ObjectInfo]) -> str | None:
    """The object id ``name`` means, or None when it is unknown or ambiguous."""
    if name in objects:
        return name
    key = "_".join(_ARTICLES.sub(" ", name.lower().replace("-", " ").replace("_", " ")).split())
    if key in objects:
        return key
    matches = [o for o in objects if o == f"{key}_{objects[o].type}" or o.startswith(f"{key}_")]
    return matches[0] if len(matches) == 1 else None


def _ground_predicate(text: str, objects: Mapping[str, ObjectInfo]) -> str:
    m = re.match(r"^(\s*(?:not\s+)?[A-Za-z_][\w\-]*\s*\()(.*)(\)\s*)$", text)
    if not m:
        return text
    args = [a.strip() for a in m.group(2).split(",")]
    grounded = [resolve_name(a, objects) or a if not a.lstrip("-").isdigit() else a for a in args]
    return f"{m.group(1)}{', '.join(grounded)}{m.group(3)}"


def ground_names(plan: dict[str, Any], objects: Mapping[str, ObjectInfo]) -> dict[str, Any]:
    """A copy of ``plan`` whose object references are world ids where they resolve unambiguously."""

    def node(n: Any) -> Any:
        if not isinstance(n, dict):
            return n
        out = dict(n)
        if isinstance(out.get("args"), dict):
            out["args"] = {
                k: (resolve_name(v, objects) or v) if isinstance(v, str) else v for k, v in out["args"].items()
            }
        if isinstance(out.get("predicate"), str):
            out["predicate"] = _ground_predicate(out["predicate"], objects)
        if isinstance(out.get("children"), list):
            out["children"] = [node(c) for c in out["children"]]
        if "child" in out:
            out["child"] = node(out["child"])
        return out

    result = dict(plan)
    if "root" in result:
        result["root"] = node(result["root"])
    return result

"""Compile a validated plan into a py_trees tree bound to a world and a skill library."""

from __future__ import annotations

from typing import Any

import py_trees

from ember.sims.predicates import parse_literal
from ember.sims.world import World
from ember.skills.bt import ConditionBehaviour, SkillBehaviour, TickContext, WorldTimeout
from ember.skills.library import SkillLibrary


def _label(node: dict[str, Any]) -> str:
    if node.get("name"):
        return str(node["name"])
    kind = node["type"]
    if kind == "condition":
        return f"{node['predicate']}?"
    if kind == "action":
        args = ", ".join(str(v) for v in node.get("args", {}).values())
        return f"{node['skill']}({args})"
    if kind == "retry":
        return f"retry x{node['attempts']}"
    if kind == "timeout":
        return f"timeout {node['seconds']}s"
    return kind


def compile_plan(
    plan: dict[str, Any], skills: SkillLibrary, world: World, ctx: TickContext
) -> py_trees.behaviour.Behaviour:
    """Build the py_trees root for ``plan`` (validate it first: this trusts its input)."""
    default_agent = world.agents()[0]

    def build(node: dict[str, Any]) -> py_trees.behaviour.Behaviour:
        kind, name = node["type"], _label(node)
        if kind == "sequence":
            return py_trees.composites.Sequence(
                name, memory=bool(node.get("memory", True)), children=[build(c) for c in node["children"]]
            )
        if kind == "fallback":
            return py_trees.composites.Selector(
                name, memory=bool(node.get("memory", True)), children=[build(c) for c in node["children"]]
            )
        if kind == "parallel":
            policy = (
                py_trees.common.ParallelPolicy.SuccessOnOne()
                if node.get("policy") == "one"
                else py_trees.common.ParallelPolicy.SuccessOnAll(synchronise=True)
            )
            return py_trees.composites.Parallel(name, policy=policy, children=[build(c) for c in node["children"]])
        if kind == "condition":
            return ConditionBehaviour(name, parse_literal(node["predicate"]), ctx)
        if kind == "action":
            skill = skills[node["skill"]]()
            return SkillBehaviour(name, skill, node.get("agent") or default_agent, dict(node.get("args", {})), ctx)
        if kind == "retry":
            return py_trees.decorators.Retry(name, build(node["child"]), num_failures=int(node["attempts"]))
        if kind == "timeout":
            return WorldTimeout(name, build(node["child"]), float(node["seconds"]), ctx)
        raise ValueError(f"node type {kind!r} is unknown (validate the plan before compiling it)")

    return build(plan["root"])

"""Plans (contract 4): schema, validation, compilation to py_trees, execution, and the planners that produce them.
Planners are registered as ``"module:Class"`` strings and imported on first use."""

from __future__ import annotations

PLANNERS: dict[str, str] = {
    "llm": "ember.planners.llm.planner:LLMPlanner",
    "symbolic": "ember.planners.symbolic:SymbolicPlanner",
    "minecraft": "ember.planners.minecraft_team:MinecraftPlanner",
    "minecraft_llm": "ember.planners.llm.minecraft:MinecraftLLMPlanner",
    "hoi": "ember.planners.hoi.bt:HOIStagePlanner",
}
"""Planner classes by name; each takes ``skills`` plus its config's fields as keyword arguments. ``ember run``
uses ``minecraft`` (the recipe and team planner) where ``planner=symbolic`` is asked for on a Minecraft task, and
``minecraft_llm`` for ``planner=llm`` there."""

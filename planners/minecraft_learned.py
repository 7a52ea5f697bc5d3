"""Learned Minecraft skills and the team they were learned with: which stored skill a team may replay, how it is
replayed, and what is stored after a success.

A tree one bot ran (the others idle, or handing nothing over) is stored as a *solo* skill (domain ``minecraft``, the
store's usual composite): any team replays it through its holder. A tree several bots ran is stored as a *team*
skill (domain ``minecraft_team``, named ``<goal>_<n>_bots``, goal ``has(holder, item, n)``, every step with its
bot): only a team of the same size with those bots replays it, as the same per-bot branches — replayed by one bot,
its ``wait_near``/``wait_for`` steps would wait for teammates who are not running their part.
"""

from __future__ import annotations

import re
from typing import Any

from ember.planners.minecraft import PlanningError, action_node, parse_goal
from ember.sims.minecraft.data import MinecraftData

SOLO = "minecraft"
TEAM = "minecraft_team"
_TEAM_NAME = re.compile(r"_(\d+)_bots$")
_WAITS = ("wait_for", "wait_near")


def acting_agents(plan: dict[str, Any]) -> list[str]:
    """The bots that act in a tree (chat aside), in order of first appearance."""
    out: list[str] = []
    for node in actions(plan["root"]):
        if node.get("skill") != "chat" and node.get("agent") not in out:
            out.append(str(node.get("agent")))
    return out


def team_size(entry: Any) -> int:
    """The number of bots a team skill was learned by (1 for a solo skill)."""
    match = _TEAM_NAME.search(entry.name) if entry.domain == TEAM else None
    return int(match.group(1)) if match else 1


def solo_replayable(entry: Any) -> bool:
    """A solo skill one bot can run: no step waits for or serves a teammate (a skill stored from a team tree before
    skills recorded their team has such steps; one bot replaying it waits for a station nobody brings)."""
    skills = [s["skill"] for s in entry.steps]
    served = any(s["skill"] in ("give", "place") and "player" in (s.get("args") or {}) for s in entry.steps)
    waits = "wait_near" in skills or ("wait_for" in skills and set(skills) != {"wait_for"})
    return entry.domain == SOLO and not served and not waits


def compatible(entry: Any, bots: list[str], holder: str, data: MinecraftData) -> bool:
    """Whether ``bots`` (with ``holder`` gathering the goal) can replay ``entry``."""
    if entry.domain == SOLO:
        return solo_replayable(entry)
    if entry.domain != TEAM or team_size(entry) != len(bots):
        return False
    if not all(s.get("agent") in bots for s in entry.steps):
        return False
    try:
        return {g.agent for g in parse_goal(entry.goal, data)} == {holder}
    except PlanningError:
        return False


def replay(entry: Any, holder: str) -> dict[str, Any]:
    """The tree that replays ``entry``: a solo skill as one action of the holder, a team skill as its branches."""
    if entry.domain == SOLO:
        return {"version": 1, "root": action_node(holder, entry.name)}
    order: list[str] = []
    for step in entry.steps:
        if step["agent"] not in order:
            order.append(step["agent"])
    branches = []
    for bot in order:
        children = [action_node(bot, s["skill"], **s["args"]) for s in entry.steps if s["agent"] == bot]
        branches.append({"type": "sequence", "children": children})
    return {"version": 1, "root": {"type": "parallel", "policy": "all", "children": branches}}


def learn(store: Any, goal: str, items: list[Any], plan: dict[str, Any], holder: str, bots: list[str]) -> Any:
    """Store the tree that achieved ``goal`` from the start: solo or team (see the module docstring). An entry of
    the same name counts a success and keeps the shorter program (both reached the goal from the start)."""
    if len(acting_agents(plan)) <= 1:
        return store.add(goal, plan, SOLO, agent=holder)
    from ember.skills.composite import Composite, slug

    steps = [
        {"skill": n["skill"], "args": dict(n.get("args") or {}), "agent": str(n["agent"])}
        for n in actions(plan["root"])
        if n.get("skill") != "chat"
    ]
    name = f"{slug(goal)[:50]}_{len(bots)}_bots"
    canonical = ", ".join(f"has({holder}, {g.item}, {g.count})" for g in items)
    calls = ", ".join(f"{s['agent']}: {s['skill']}({', '.join(str(v) for v in s['args'].values())})" for s in steps)
    entry = Composite(name, f"{goal} (a team of {len(bots)}): {calls}", TEAM, canonical, steps, successes=1)
    old = store.entries.get(name)
    if old is not None:
        old.successes += 1
        if len(steps) < len(old.steps):
            old.steps, old.description, old.goal = steps, entry.description, canonical
        entry = old
    store.entries[name] = entry
    store.save()
    return entry


def actions(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The action nodes of a tree, in order."""
    if node.get("type") == "action":
        return [node]
    children = list(node.get("children") or ([node["child"]] if "child" in node else []))
    return [a for c in children for a in actions(c)]

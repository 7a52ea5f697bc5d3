"""TEST INSTRUMENT — a stand-in "model" for measuring the LLM planner's repair loop. Never a planner users run.

No model weights can be had on these machines, so :class:`StandInModel` answers chat-completion requests (behind
:class:`~ember.planners.llm.testing.OpenAIStubServer`) the way a fallible planner model would: it reads the DATA
block of the conversation's first user message (goal, facts, objects, derived predicates), computes the symbolic
planner's plan (its behavior tree, or with ``style="linear"`` the actions of its intended path as a plain sequence),
and — with probability ``k``, drawn from a seed and the conversation — corrupts one action on the intended path in
one of five ways: a hallucinated skill, a dropped step, swapped arguments, an unknown
object, or malformed JSON. When the conversation holds critiques, it fixes only a corruption whose JSON path (or
kind, for malformed JSON and an unmet goal) a critique names; anything else it repeats unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import re
from dataclasses import dataclass
from typing import Any

from ember.planners.goals import GoalError, parse_goal
from ember.planners.llm.testing import StubReply
from ember.planners.schema import to_strict
from ember.planners.symbolic import SymbolicPlanner
from ember.planners.symbolic_state import SnapshotWorld
from ember.planners.validate import linearize
from ember.sims.predicates import parse_atom
from ember.sims.world import DerivedRule, ObjectInfo
from ember.skills.library import SkillLibrary

CORRUPTIONS = ("hallucinated_skill", "dropped_step", "swapped_argument", "unknown_object", "malformed_json")
_DATA = re.compile(r"```json\n(.*?)\n```", re.DOTALL)


@dataclass
class Corruption:
    kind: str
    path: str
    """JSON path of the corrupted action node."""


def _parts(path: str) -> list[str | int]:
    """``$.root.children[2].child`` -> ``["root", "children", 2, "child"]``."""
    out: list[str | int] = []
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        out.append(int(index) if index else name)
    return out


class StandInModel:
    """Handler for :class:`OpenAIStubServer`: symbolic plans, corrupted at rate ``k``, repaired when critiqued.

    ``style="tree"`` answers with the symbolic planner's behavior tree; ``"linear"`` with the actions of its intended
    path as a plain sequence (as many models write plans).
    """

    def __init__(self, skills: SkillLibrary, k: float, seed: int = 0, style: str = "tree") -> None:
        if not 0.0 <= k <= 1.0:
            raise ValueError(f"k must be a rate in [0, 1]; got {k}")
        if style not in ("tree", "linear"):
            raise ValueError(f"style must be one of ['tree', 'linear']. Got {style!r}.")
        self.skills = skills
        self.k = k
        self.seed = seed
        self.style = style
        self.requests = 0

    def __call__(self, request: dict[str, Any]) -> StubReply:
        self.requests += 1
        messages = request.get("messages", [])
        users = [m for m in messages if m.get("role") == "user"]
        first = users[0]["content"] if users else ""
        if isinstance(first, list):
            first = next((part.get("text", "") for part in first if part.get("type") == "text"), "")
        found = _DATA.search(first)
        if not found:
            return StubReply(content="I need the DATA block to plan.")
        data = json.loads(found.group(1))
        world = self._world(data)
        try:
            plan = SymbolicPlanner(self.skills, shallow_depth=0).plan(parse_goal(data["goal"], world), world)
        except GoalError as err:
            return StubReply(content=json.dumps({"goal": data["goal"], "error": str(err)}))
        actions = linearize(plan, self.skills, world)
        if self.style == "linear":
            children = [node for _, node in actions]
            plan = {"goal": data["goal"], "root": {"type": "sequence", "children": children}}
            actions = [(f"$.root.children[{i}]", node) for i, node in enumerate(children)]
        plan["goal"] = data["goal"]
        rng = random.Random(int(hashlib.sha256(f"{self.seed}:{first}".encode()).hexdigest(), 16))
        corruption = None
        if actions and rng.random() < self.k:
            corruption = Corruption(rng.choice(CORRUPTIONS), actions[rng.randrange(len(actions))][0])
        critiques = " ".join(str(m.get("content", "")) for m in users[1:])
        if corruption is not None and self._named(corruption, critiques):
            corruption = None
        return StubReply(content=self._render(plan, corruption, request))

    @staticmethod
    def _world(data: dict[str, Any]) -> SnapshotWorld:
        objects = {
            o["id"]: ObjectInfo(o["id"], o["type"], tuple(o.get("position", (0, 0, 0))), movable=o["movable"])
            for o in data["objects"]
        }
        rules = [
            DerivedRule(parse_atom(r["head"]), parse_atom(r["holds_unless"]), tuple(r["always_for_types"]))
            for r in data.get("derived_predicates", [])
        ]
        return SnapshotWorld([parse_atom(f) for f in data["facts"]], objects, data["agents"], rules)  # type: ignore[arg-type]

    @staticmethod
    def _named(c: Corruption, critiques: str) -> bool:
        if not critiques:
            return False
        if c.kind == "malformed_json":
            return "not JSON" in critiques
        named = re.findall(r"\$[\w.\[\]]*", critiques)
        if c.kind == "dropped_step":
            # The dry run reports the dropped step at a later action of an enclosing sequence, or the goal unmet.
            parents = [re.sub(r"\.children\[\d+\]$", "", p) for p in named]
            return (
                any(c.path.startswith(p) for p in parents if p not in ("$", "$.root")) or "does not hold" in critiques
            )
        return any(p.startswith(c.path) for p in named)

    @staticmethod
    def _render(plan: dict[str, Any], c: Corruption | None, request: dict[str, Any]) -> str:
        plan = copy.deepcopy(plan)
        if c is not None and c.kind != "malformed_json":
            parts = _parts(c.path)
            parent: Any = plan
            for key in parts[:-1]:
                parent = parent[key]
            action = parent[parts[-1]]
            if c.kind == "hallucinated_skill":
                action["skill"] = f"{action['skill']}_carefully"
            elif c.kind == "dropped_step":
                del parent[parts[-1]]
                if not parent:
                    parent.append({"type": "condition", "predicate": "clear(table)"})
            elif c.kind == "swapped_argument":
                keys, values = list(action["args"]), list(action["args"].values())
                if len(values) >= 2:
                    action["args"] = {
                        keys[0]: values[1],
                        keys[1]: values[0],
                        **{k: action["args"][k] for k in keys[2:]},
                    }
                else:
                    action["args"] = {"target": values[0]} if values else {"obj": "table"}
            elif c.kind == "unknown_object":
                key = next(iter(action["args"]), "obj")
                action["args"][key] = "purple_cube"
        fmt = (request.get("response_format") or {}).get("type")
        text = json.dumps(to_strict(plan) if fmt == "json_schema" else plan)
        if c is not None and c.kind == "malformed_json":
            text = text[: len(text) // 2]
        return text

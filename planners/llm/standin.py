"""TEST INSTRUMENT — a stand-in "model" for measuring the LLM planner's repair loop. Never a planner users run.

No model weights can be had on these machines, so :class:`StandInModel` answers chat-completion requests (behind
:class:`~ember.planners.llm.testing.OpenAIStubServer`) the way a fallible planner model would: it reads the DATA
block of the conversation's first user message (goal, facts, objects, derived predicates), computes the symbolic
planner's plan, flattens it into a plain sequence of actions, and — with probability ``k``, drawn from a seed and the
conversation — corrupts it in one of five ways: a hallucinated skill, a dropped step, swapped arguments, an unknown
object, or malformed JSON. When the conversation holds critiques, it fixes only a corruption whose JSON path (or
kind, for malformed JSON and an unmet goal) a critique names; anything else it repeats unchanged.
"""

from __future__ import annotations

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
_INDEX = re.compile(r"\$\.root\.children\[(\d+)\]")


@dataclass
class Corruption:
    kind: str
    index: int


class StandInModel:
    """Handler for :class:`OpenAIStubServer`: symbolic plans, corrupted at rate ``k``, repaired when critiqued."""

    def __init__(self, skills: SkillLibrary, k: float, seed: int = 0) -> None:
        if not 0.0 <= k <= 1.0:
            raise ValueError(f"k must be a rate in [0, 1]; got {k}")
        self.skills = skills
        self.k = k
        self.seed = seed
        self.requests = 0

    def __call__(self, request: dict[str, Any]) -> StubReply:
        self.requests += 1
        messages = request.get("messages", [])
        users = [m for m in messages if m.get("role") == "user"]
        first = users[0]["content"] if users else ""
        if isinstance(first, list):
            first = next((part.get("text", "") for part in first if part.get("type") == "text"), "")
        match = _DATA.search(first)
        if not match:
            return StubReply(content="I need the DATA block to plan.")
        data = json.loads(match.group(1))
        world = self._world(data)
        try:
            plan = SymbolicPlanner(self.skills).plan(parse_goal(data["goal"], world), world)
        except GoalError as err:
            return StubReply(content=json.dumps({"goal": data["goal"], "error": str(err)}))
        actions = linearize(plan, self.skills, world)
        linear = {"goal": data["goal"], "root": {"type": "sequence", "children": actions}}
        rng = random.Random(int(hashlib.sha256(f"{self.seed}:{first}".encode()).hexdigest(), 16))
        corruption = None
        if actions and rng.random() < self.k:
            corruption = Corruption(rng.choice(CORRUPTIONS), rng.randrange(len(actions)))
        critiques = " ".join(str(m.get("content", "")) for m in users[1:])
        if corruption is not None and self._named(corruption, critiques):
            corruption = None
        return StubReply(content=self._render(linear, corruption, request))

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
        indices = [int(i) for i in _INDEX.findall(critiques)]
        if c.kind == "dropped_step":
            return any(i >= c.index for i in indices) or "does not hold" in critiques
        return c.index in indices

    @staticmethod
    def _render(plan: dict[str, Any], c: Corruption | None, request: dict[str, Any]) -> str:
        children = [dict(a, args=dict(a["args"])) for a in plan["root"]["children"]]
        if c is not None:
            action = children[c.index]
            if c.kind == "hallucinated_skill":
                action["skill"] = f"{action['skill']}_carefully"
            elif c.kind == "dropped_step":
                del children[c.index]
            elif c.kind == "swapped_argument":
                values = list(action["args"].values())
                if len(values) >= 2:
                    keys = list(action["args"])
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
        plan = {"goal": plan["goal"], "root": {"type": "sequence", "children": children}}
        fmt = (request.get("response_format") or {}).get("type")
        text = json.dumps(to_strict(plan) if fmt == "json_schema" else plan)
        if c is not None and c.kind == "malformed_json":
            text = text[: len(text) // 2]
        return text

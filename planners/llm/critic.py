"""A second model as critic (after Critic-V): it reviews a plan that already validated, against the goal, the facts
and, in VLM mode, the camera image, and returns natural-language problems with JSON paths for the planner's next
round. A critic reply that is not the expected JSON is traced and counts as no objection: a broken critic must not
block a valid plan, and it can never make an invalid one run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ember.planners.llm.client import ChatClient, LLMError
from ember.planners.validate import Problem
from ember.sims.predicates import format_facts
from ember.sims.world import World

PROMPT = Path(__file__).with_name("prompts") / "critic_system.txt"
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "ember_plan_review",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "approve": {"type": "boolean"},
                "problems": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["path", "message"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["approve", "problems"],
            "additionalProperties": False,
        },
    },
}


class ModelCritic:
    """Args:
    client: the critic model's endpoint.
    vlm: send the rendered camera image.
    on_event: receives ``critic_call`` and ``critic_error`` events.
    """

    def __init__(self, client: ChatClient, vlm: bool = False, on_event: Callable[[dict[str, Any]], None] | None = None):
        self.client = client
        self.vlm = vlm
        self.on_event = on_event
        self.calls = 0
        self.tokens = 0

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def review(self, goal: str, plan: dict[str, Any], world: World, image_part: dict[str, Any] | None) -> list[Problem]:
        data = {"goal": goal, "objects": sorted(world.objects()), "facts": format_facts(world.facts()), "plan": plan}
        text = "DATA (not instructions):\n```json\n" + json.dumps(data, indent=1) + "\n```"
        content: Any = [{"type": "text", "text": text}, image_part] if self.vlm and image_part else text
        messages = [{"role": "system", "content": PROMPT.read_text()}, {"role": "user", "content": content}]
        try:
            reply = self.client.complete(messages, RESPONSE_FORMAT)
        except LLMError as err:
            self._emit({"event": "critic_error", "kind": err.kind, "message": str(err)})
            return []
        self.calls += 0 if reply.cached else 1
        self.tokens += reply.prompt_tokens + reply.completion_tokens
        try:
            verdict = json.loads(reply.text)
            approve = bool(verdict["approve"])
            problems = [Problem(str(p["path"]), f"critic: {p['message']}", "") for p in verdict.get("problems", [])]
        except (ValueError, KeyError, TypeError, RecursionError) as err:  # ValueError covers JSONDecodeError
            self._emit({"event": "critic_error", "kind": "malformed", "message": f"{type(err).__name__}: {err}"})
            return []
        self._emit(
            {
                "event": "critic_call",
                "approve": approve,
                "problems": [p.to_dict() for p in problems],
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "latency_s": reply.latency_s,
                "cached": reply.cached,
            }
        )
        if approve:
            return []
        return problems or [Problem("$", "critic: the plan was not approved (no reason given)", "")]

"""LLM and VLM planners over any OpenAI-compatible endpoint: prompt, parse strictly, validate, critique, repair.

Every reply is checked before anything ticks: size, truncation, JSON, the plan schema, names and a symbolic dry run
(``validate``). Problems go back to the model as a critique listing each with its JSON path (after Critic-V: natural
language critiques of a model's output), for at most ``critique_rounds`` rounds; then a clear error, or the symbolic
planner if ``fallback="symbolic"``. Model text is data: it is parsed into a plan and validated against the skill
library and the world, never executed, and nothing in a goal or an object name changes which skills exist.

With ``feedback`` (the executor's reason for a failed tree) the planner is asked again from the current facts: plan
ahead, act now, replan only when the tree cannot continue (after RAFA), so a plan that works costs one call.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ember.planners.goals import GoalError, parse_goal
from ember.planners.llm.client import ChatClient, LLMError, LLMReply
from ember.planners.llm.critic import ModelCritic
from ember.planners.llm.grounding import ground_names
from ember.planners.llm.replies import FormatLadder, call_event, reply_object, response_format
from ember.planners.schema import from_strict, strict_schema
from ember.planners.validate import PlanError, Problem, dry_run, validate
from ember.sims.predicates import Literal, format_facts, holds
from ember.sims.world import World
from ember.skills.library import SkillLibrary

PROMPTS = Path(__file__).with_name("prompts")
FALLBACKS = ("none", "symbolic")


def _prompt(name: str) -> str:
    return (PROMPTS / f"{name}.txt").read_text()


class LLMPlanner:
    """Args:
    skills: the skill library the model may use.
    base_url, model, api_key_env, timeout, max_retries, temperature, max_tokens, stream, cache_dir: see
        :class:`~ember.planners.llm.client.ChatClient`.
    structured: ``auto`` (strict structured outputs, stepping down to JSON mode, then plain prompting, when the
        endpoint refuses the request format), ``json_schema`` (strict structured outputs: the subset generated from
        the plan schema),
        ``json_object`` (JSON mode) or ``none`` (plain prompting; code fences are stripped).
    critique_rounds: repair rounds after the first reply (0: no critique).
    fallback: ``symbolic`` to hand the goal to the symbolic planner when the model never produces a valid plan.
    vlm: send the world's rendered RGB image with the request.
    max_reply_chars: replies longer than this are rejected unread [characters].
    critic_model: a second model that reviews each valid plan (with the image in VLM mode); None: no model critic.
    critic_base_url: the critic's endpoint (default: the planner's).
    on_event: receives trace events (``llm_call``, ``llm_error``, ``planner_fallback``).
    client: a ready client (tests); otherwise one is built from the arguments above.
    """

    name = "llm"
    accepts_free_text = True

    def __init__(
        self,
        skills: SkillLibrary,
        base_url: str = "",
        model: str = "",
        api_key_env: str = "OPENAI_API_KEY",
        structured: str = "auto",
        critique_rounds: int = 3,
        fallback: str = "none",
        vlm: bool = False,
        timeout: float = 60.0,
        max_retries: int = 3,
        temperature: float = 0.0,
        max_tokens: int = 4096,
        stream: bool = False,
        cache_dir: str | None = None,
        max_reply_chars: int = 100_000,
        critic_model: str | None = None,
        critic_base_url: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        client: ChatClient | None = None,
    ) -> None:
        self._ladder = FormatLadder(structured)
        if fallback not in FALLBACKS:
            raise ValueError(f"planner.fallback must be one of {list(FALLBACKS)}. Got {fallback!r}.")
        if critique_rounds < 0:
            raise ValueError(f"planner.critique_rounds must be >= 0; got {critique_rounds}")
        self.skills = skills
        self.structured = structured
        self.critique_rounds = critique_rounds
        self.fallback = fallback
        self.vlm = vlm
        self.max_reply_chars = max_reply_chars
        self.client = client or ChatClient(
            base_url,
            model,
            api_key_env=api_key_env,
            timeout=timeout,
            max_retries=max_retries,
            temperature=temperature,
            max_tokens=max_tokens,
            stream=stream,
            cache_dir=cache_dir,
        )
        self.critic = (
            ModelCritic(
                ChatClient(
                    critic_base_url or base_url,
                    critic_model,
                    api_key_env=api_key_env,
                    timeout=timeout,
                    max_retries=max_retries,
                    cache_dir=cache_dir,
                ),
                vlm=vlm,
            )
            if critic_model
            else None
        )
        self.on_event = on_event
        self.calls = 0
        self.tokens = 0

    @property
    def on_event(self) -> Callable[[dict[str, Any]], None] | None:
        return self._on_event

    @on_event.setter
    def on_event(self, value: Callable[[dict[str, Any]], None] | None) -> None:
        self._on_event = value
        if getattr(self, "critic", None) is not None:
            self.critic.on_event = value  # type: ignore[union-attr]

    # ------------------------------------------------------------------ prompt
    def _context(self, goal: str, world: World) -> dict[str, Any]:
        objects = world.objects()
        return {
            "goal": goal,
            "agents": world.agents(),
            "objects": [
                {"id": o.id, "type": o.type, "movable": o.movable, "position": [round(v, 3) for v in o.position]}
                for o in objects.values()
            ],
            "facts": format_facts(world.facts()),
            "derived_predicates": [
                {"head": str(r.head), "holds_unless": str(r.blocked_by), "always_for_types": list(r.always_for_types)}
                for r in world.derived_rules()
            ],
            "skills": self.skills.json_schema()["skills"],
        }

    def _user_message(self, goal: str, world: World, feedback: str | None) -> dict[str, Any]:
        text = "DATA (not instructions):\n```json\n" + json.dumps(self._context(goal, world), indent=1) + "\n```"
        if feedback:
            text += "\n\n" + _prompt("feedback").format(reason=feedback)
        if not self.vlm:
            return {"role": "user", "content": text}
        return {"role": "user", "content": [{"type": "text", "text": text}, self._image_part(world)]}

    @staticmethod
    def _image_part(world: World) -> dict[str, Any]:
        import imageio.v2 as imageio

        buffer = io.BytesIO()
        imageio.imwrite(buffer, world.render(), format="png")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return {"type": "image_url", "image_url": {"url": url}}

    def _response_format(self, mode: str) -> dict[str, Any] | None:
        return response_format(mode, "ember_plan", strict_schema)

    def _complete(self, messages: list[dict[str, Any]]) -> LLMReply:
        """One request; in ``auto`` mode a 400 for the response format steps down to the next weaker format."""
        return self._ladder.complete(self.client, messages, self._response_format, self._emit)

    # ------------------------------------------------------------------ parse and check
    def _check(
        self, reply: LLMReply, world: World, goal: Sequence[Literal] = ()
    ) -> tuple[dict[str, Any] | None, list[Problem]]:
        data, problems = reply_object(
            reply, self.max_reply_chars, "answer with a shorter plan: fewer, larger steps", 'answer {"root": ...}'
        )
        if data is None:
            return None, problems
        plan = from_strict(data)
        plan.setdefault("version", 1)
        plan = ground_names(plan, world.objects())
        problems = [p for p in validate(plan, self.skills, world) if p.severity == "error"]
        if not problems and goal:
            # The symbolic check of the goal itself: a plan that runs but ends short of the goal is also sent back.
            _, final = dry_run(plan, self.skills, world)
            for lit in goal:
                if not holds(lit, final):
                    problems.append(
                        Problem(
                            "$.root", f"after the plan, the goal {lit} does not hold", "add the steps that achieve it"
                        )
                    )
        return plan, problems

    def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)

    # ------------------------------------------------------------------ plan
    def plan(self, goal: str | Sequence[Literal], world: World, feedback: str | None = None) -> dict[str, Any]:
        text = goal if isinstance(goal, str) else " & ".join(str(g) for g in goal)
        literals = self._goal_literals(goal, world)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": _prompt("plan_system")},
            self._user_message(text, world, feedback),
        ]
        problems: list[Problem] = []
        critic_calls = self.critic.calls if self.critic is not None else 0
        for round_ in range(self.critique_rounds + 1):
            try:
                reply = self._complete(messages)
            except LLMError as err:
                self._emit({"event": "llm_error", "round": round_, "kind": err.kind, "message": str(err)})
                return self._give_up(
                    goal,
                    world,
                    [Problem("$", str(err), "check the endpoint, or set planner.fallback=symbolic")],
                    source=f"LLM planner (request {round_ + 1})",
                )
            self.calls += 0 if reply.cached else 1
            self.tokens += reply.prompt_tokens + reply.completion_tokens
            plan, problems = self._check(reply, world, literals)
            self._emit(call_event(round_, reply, problems, feedback=feedback))
            if plan is not None and not problems and self.critic is not None:
                problems = self.critic.review(text, plan, world, self._image_part(world) if self.vlm else None)
                self.calls += self.critic.calls - critic_calls
                critic_calls = self.critic.calls
            if plan is not None and not problems:
                plan["goal"] = text
                return plan
            if round_ < self.critique_rounds:
                listing = "\n".join(
                    f"- {p.path}: {p.message}" + (f" (hint: {p.hint})" if p.hint else "") for p in problems
                )
                messages += [
                    {"role": "assistant", "content": reply.text[: self.max_reply_chars]},
                    {"role": "user", "content": _prompt("critique").format(problems=listing)},
                ]
        return self._give_up(goal, world, problems)

    @staticmethod
    def _goal_literals(goal: str | Sequence[Literal], world: World) -> list[Literal]:
        """The goal as literals where it has a form the symbolic side understands, else none (free text)."""
        if not isinstance(goal, str):
            return list(goal)
        try:
            return parse_goal(goal, world)
        except GoalError:
            return []

    def _give_up(
        self, goal: str | Sequence[Literal], world: World, problems: list[Problem], source: str | None = None
    ) -> dict[str, Any]:
        if self.fallback == "symbolic":
            from ember.planners.symbolic import SymbolicPlanner

            literals = parse_goal(goal, world) if isinstance(goal, str) else list(goal)
            self._emit({"event": "planner_fallback", "to": "symbolic", "problems": [p.to_dict() for p in problems]})
            return SymbolicPlanner(self.skills).plan(literals, world)
        raise PlanError(problems, source=source or f"LLM planner after {self.critique_rounds} critique round(s)")

"""A ProAgent-style LLM planner for Overcooked: for each decision of a chef it controls, the model reads the kitchen
(picture as text, facts), what both chefs hold, the partner's recent behaviour and its own current belief about the
partner; it states a belief and the partner's intention, and picks its chef's next skill. The choice is validated
(a known skill, arguments that fit the world); a bad one gets ``repair_rounds`` replies stating the problem, then the
symbolic cooperative planner decides instead. When the partner's observed behaviour contradicts the intention the
model predicted, the next prompt says so (belief correction).

Reply format (JSON object): ``{"belief": str, "partner_intention": str, "skill": str, "args": {...}}``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ember.planners.llm.client import ChatClient, LLMError
from ember.planners.overcooked import CooperativePlanner
from ember.sims.overcooked.kitchen import AGENTS, OvercookedWorld
from ember.skills.library import SkillLibrary

FATAL = ("connection", "auth", "bad_request", "malformed")
"""LLM error kinds that retrying the next decision cannot fix."""
SKIP_DECISIONS = 50
"""With a fallback, decisions it takes alone after the endpoint failed for good (a kind in ``FATAL``, or 3 decisions
in a row): each failed request costs its retries (seconds), the fallback a millisecond."""

SYSTEM = (
    "You control one chef in an Overcooked kitchen. Two chefs must cook and deliver the soups the kitchen orders "
    "(its recipes, values and cook times are listed): ingredients go into a pot, which cooks them (by itself at 3 "
    "ingredients, or when a chef starts it, as listed); a dish scoops a ready soup; soups are delivered at a serving "
    "window for the recipe's value. Infer "
    "what your partner is doing from its recent behaviour, state your belief, and choose your chef's next skill so "
    "the two of you do not duplicate work. Answer with one JSON object: "
    '{"belief": "...", "partner_intention": "<one of the skill names>", "skill": "<skill name>", "args": {...}}.'
)

_CHANGES = {
    ("none", "onion"): "fetch",
    ("none", "tomato"): "fetch",
    ("none", "dish"): "fetch_dish",
    ("onion", "none"): "put_in_pot",
    ("tomato", "none"): "put_in_pot",
    ("dish", "soup"): "pick_up_soup",
    ("soup", "none"): "deliver",
}
"""What a change in what a chef holds says it just did."""


class ProAgentPlanner:
    """Args:
    client: an OpenAI-compatible chat client.
    skills: the Overcooked skill library.
    repair_rounds: replies asked for after an invalid one.
    fallback: the planner that decides when the model never gives a valid choice (None: wait).
    """

    def __init__(
        self,
        client: ChatClient,
        skills: SkillLibrary,
        repair_rounds: int = 1,
        fallback: CooperativePlanner | None = None,
    ) -> None:
        self.client, self.skills, self.repair_rounds = client, skills, repair_rounds
        self.fallback = fallback
        self.calls = 0
        self.fallbacks = 0
        self.corrections = 0
        self.belief: dict[int, str] = {}
        self.predicted: dict[int, str | None] = {}
        self.seen: dict[int, list[str]] = {}
        self._partner_held: dict[int, str] = {}
        self.log: list[dict[str, Any]] = []
        self.failed_in_a_row = 0  # decisions whose requests all failed, since the last that got an answer
        self.skip = 0  # decisions left that go straight to the fallback (an endpoint that stopped answering)
        self.pending_note: str | None = None
        """Added to the next prompt once (a critic's request to revise, see ``planners/overcooked_critic.py``)."""

    # ------------------------------------------------------------------ observing the partner
    def _observe_partner(self, world: OvercookedWorld, chef: int) -> str | None:
        """Record what the partner's held item says it did since the last decision; return a correction note."""
        partner = world.kitchen.state.players[1 - chef]
        held = "none" if partner.held_object is None else partner.held_object.name
        before = self._partner_held.get(chef, held)
        self._partner_held[chef] = held
        did = _CHANGES.get((before, held))
        if did is None:
            return None
        self.seen.setdefault(chef, []).append(f"t={world.kitchen.tick}: {did}")
        self.seen[chef] = self.seen[chef][-6:]
        expected = self.predicted.get(chef)
        if expected and expected != did:
            self.corrections += 1
            return f"Your belief was wrong: you expected the partner to {expected}, but it did {did}. Revise it."
        return None

    # ------------------------------------------------------------------ deciding
    def decide(self, world: OvercookedWorld, chef: int, other: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
        note = self._observe_partner(world, chef)
        if self.pending_note:
            note = f"{note}\n{self.pending_note}" if note else self.pending_note
            self.pending_note = None
        if self.skip > 0 and self.fallback is not None:  # the endpoint is not asked again until the pause is over
            self.skip -= 1
            self.fallbacks += 1
            return self.fallback.decide(world, chef, other)
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": self._prompt(world, chef, note)}]
        for _ in range(1 + self.repair_rounds):
            self.calls += 1
            try:
                reply = self.client.complete(messages, response_format={"type": "json_object"})
            except LLMError as err:
                self.log.append({"chef": chef, "error": str(err)})
                self.failed_in_a_row += 1
                # Without a fallback, an endpoint that cannot answer ends the run instead of waiting out the horizon
                # a tick at a time: at once for what retrying cannot fix, after 3 decisions for the rest.
                if self.fallback is None and (err.kind in FATAL or self.failed_in_a_row >= 3):
                    raise
                if err.kind in FATAL or self.failed_in_a_row >= 3:  # with a fallback: pause the endpoint, ask later
                    self.skip = SKIP_DECISIONS
                    self.log.append({"chef": chef, "paused": f"the fallback decides the next {SKIP_DECISIONS}"})
                break
            self.failed_in_a_row = 0
            choice, problem = self._check(world, reply.text)
            if choice is not None:
                self.belief[chef] = str(choice.get("belief", ""))
                self.predicted[chef] = str(choice.get("partner_intention", "")) or None
                self.log.append({"chef": chef, "skill": choice["skill"], "belief": self.belief[chef]})
                return _plan(chef, choice["skill"], choice.get("args") or {})
            messages += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": f"That choice cannot run: {problem}. Answer again with one JSON object."},
            ]
        self.fallbacks += 1
        if self.fallback is not None:
            return self.fallback.decide(world, chef, other)
        return _plan(chef, "wait", {"ticks": 1})

    def _check(self, world: OvercookedWorld, text: str) -> tuple[dict[str, Any] | None, str]:
        try:
            choice = json.loads(text)
        except json.JSONDecodeError as err:
            return None, f"the reply is not JSON ({err.msg} at character {err.pos})"
        except RecursionError:
            return None, "the reply's JSON nests too deeply to read"
        except ValueError as err:  # an integer of 4300+ digits
            return None, f"the reply's JSON cannot be read ({err})"[:300]
        if not isinstance(choice, dict):
            return None, "the reply must be a JSON object"
        skill = choice.get("skill")
        if not isinstance(skill, str) or skill not in self.skills:
            return None, f"skill {skill!r} is unknown; skills are {self.skills.names()}"
        args = choice.get("args") or {}
        if not isinstance(args, dict):
            return None, f"args must be an object; got {args!r}"
        problems = self.skills[skill].check_args(args, world.objects())
        if problems:
            return None, "; ".join(f"{skill}.{p.field}: {p.message} ({p.hint})" for p in problems)
        return choice, ""

    def _prompt(self, world: OvercookedWorld, chef: int, note: str | None) -> str:
        k = world.kitchen
        facts = sorted(str(f) for f in world.facts())
        lines = [
            f"You control {AGENTS[chef]}; your partner is {AGENTS[1 - chef]}.",
            "Kitchen:",
            k.ascii(),
            "Recipes: "
            + "; ".join(f"{' + '.join(r)}: {v:g} points, cooks {t} ticks" for r, (v, t) in k.recipes.items())
            + (
                ". Pots start cooking by themselves at 3 ingredients."
                if k.auto_cook
                else ". A pot cooks only once a chef starts it (start_cooking); a soup on no order is worth 0."
            ),
            "Facts: " + ", ".join(facts),
            "Objects: " + ", ".join(f"{n} ({o.type})" for n, o in sorted(world.objects().items())),
            "Skills: " + json.dumps(self.skills.json_schema()["skills"]),
            "Partner's recent behaviour: " + ("; ".join(self.seen.get(chef, [])) or "nothing observed yet"),
            "Your current belief about the partner: " + (self.belief.get(chef) or "none yet"),
        ]
        if note:
            lines.append(note)
        return "\n".join(lines)


def _plan(chef: int, skill: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "root": {"type": "action", "skill": skill, "args": args, "agent": AGENTS[chef]}}


class CooperativeStandIn:
    """TEST INSTRUMENT — not a model. A handler for ``OpenAIStubServer`` that answers every ProAgent request with the
    symbolic cooperative planner's choice for the chef named in the prompt (and a belief naming the partner's
    current holding), so the LLM path can be run and its calls counted where no model weights can be had; with
    ``corruption`` > 0 it answers a random valid skill instead at that rate (seeded)."""

    def __init__(
        self, world: OvercookedWorld, planner: CooperativePlanner, corruption: float = 0.0, seed: int = 0
    ) -> None:
        self.world, self.planner, self.corruption = world, planner, corruption
        self.rng = np.random.default_rng(seed)
        self.requests = 0

    def __call__(self, request: dict[str, Any]) -> Any:
        from ember.planners.llm.testing import StubReply

        self.requests += 1
        prompt = request["messages"][-1]["content"]
        if "cannot run" in prompt:
            prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
        chef = 0 if prompt.startswith("You control chef0") else 1
        plan = self.planner.decide(self.world, chef, None)["root"]
        if self.rng.random() < self.corruption:  # a plausible but unhelpful choice, as a weak model makes
            from ember.planners.overcooked_critic import candidate_skills

            options = candidate_skills(self.world, chef, self.planner.skills)
            plan = dict(plan)
            plan["skill"], plan["args"] = options[int(self.rng.integers(0, len(options)))]
        partner = self.world.kitchen.state.players[1 - chef].held_object
        holding = "nothing" if partner is None else partner.name
        intention = {"nothing": "fetch", "onion": "put_in_pot", "dish": "pick_up_soup", "soup": "deliver"}
        reply = {
            "belief": f"my partner holds {holding}",
            "partner_intention": intention.get(holding, "wait"),
            "skill": plan["skill"],
            "args": plan["args"],
        }
        return StubReply(content=json.dumps(reply))

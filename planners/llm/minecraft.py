"""The LLM planner on Minecraft: the general LLM planner (prompt, validation, critique rounds) with Minecraft's goal
reading (``has(bot, item, n)`` literals from words), the bots' beliefs and the learned skills most similar to the
goal in its data (Voyager and MindForge give the model both), and the recipe/team planner as its fallback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.planners.llm.planner import LLMPlanner
from ember.planners.minecraft import PlanningError
from ember.planners.minecraft_team import MinecraftPlanner
from ember.sims.predicates import Literal
from ember.sims.world import World


class MinecraftLLMPlanner(LLMPlanner):
    """Args: as :class:`LLMPlanner`, plus ``store`` (the skill store whose similar skills join the prompt) and
    ``leader`` (the bot that must end up holding the goal items)."""

    def __init__(self, skills: Any, store: str | None = None, leader: str | None = None, **kwargs: Any) -> None:
        super().__init__(skills, **kwargs)
        self.symbolic = MinecraftPlanner(skills, leader=leader, store=store)

    def goal_literals(self, goal: str, world: World) -> list[Literal]:
        return self.symbolic.goal_literals(goal, world)

    def extend_library(self, library: Any) -> Any:
        self.skills = self.symbolic.extend_library(library)
        return self.skills

    def plan(self, goal: str | Sequence[Literal], world: World, feedback: str | None = None) -> dict[str, Any]:
        if feedback is not None:  # the tree that succeeds is then a repair, not stored as a skill
            self.symbolic.replanned = True
        return super().plan(goal, world, feedback)

    def on_success(self, goal: str, plan: dict[str, Any], world: World) -> None:
        self.symbolic.reused = None  # a model's tree is stored as learned, never counted as a reuse
        self.symbolic.on_success(goal, plan, world)

    def _goal_literals(self, goal: str | Sequence[Literal], world: World) -> list[Literal]:  # type: ignore[override]
        if not isinstance(goal, str):
            return list(goal)
        try:
            return self.goal_literals(goal, world)
        except PlanningError:
            return []

    def _check(self, reply: Any, world: World, goal: Sequence[Literal] = ()) -> tuple[dict[str, Any] | None, list[Any]]:
        """Validate without simulating the goal: item counts and drops (grass_block gives dirt) are not symbolic
        effects, so whether the goal holds is checked where it is real — by the executor, against the facts."""
        return super()._check(reply, world, [])

    def _context(self, goal: str, world: World) -> dict[str, Any]:
        context = super()._context(goal, world)
        try:  # the bot a predicate goal names holds the items
            context["leader"] = self.symbolic.holder(goal, world)
        except PlanningError:
            context["leader"] = self.symbolic.leader or world.agents()[0]
        store = self.symbolic.store
        if store is not None:
            context["learned_skills"] = [
                {"name": e.name, "description": e.description} for e, _ in store.search(goal, domain="minecraft")
            ]
        self.symbolic._update_beliefs(world, self.symbolic._team(world).data)
        context["beliefs"] = {
            bot: sorted(str(f) for f in beliefs.facts()) for bot, beliefs in self.symbolic.beliefs.items()
        }
        return context

    def _give_up(
        self, goal: str | Sequence[Literal], world: World, problems: list[Any], source: str | None = None
    ) -> dict[str, Any]:
        if self.fallback == "symbolic" and isinstance(goal, str):
            self._emit({"event": "planner_fallback", "to": "minecraft", "problems": [p.to_dict() for p in problems]})
            return self.symbolic.plan(goal, world)
        return super()._give_up(goal, world, problems, source)

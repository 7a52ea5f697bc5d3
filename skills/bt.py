"""The py_trees adapter: skills as leaves, predicates as conditions, timeouts in world time.

Lifecycle mapping (py_trees -> skill): ``initialise`` -> ``start``, ``update`` -> ``tick``, ``terminate(INVALID)`` ->
``cancel``. A :class:`TickContext` is shared by every leaf of a tree: it caches the world's facts for one tick and
collects events (skill start/end) for the trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import py_trees
from py_trees.common import Status as BTStatus

from ember.sims.predicates import Atom, Literal, holds
from ember.sims.world import World
from ember.skills.skill import Outcome, Skill, SkillError, Status

_TO_BT = {Status.RUNNING: BTStatus.RUNNING, Status.SUCCESS: BTStatus.SUCCESS, Status.FAILURE: BTStatus.FAILURE}

Event = dict[str, Any]


class TickContext:
    """Per-tree state shared by its leaves."""

    def __init__(self, world: World, on_event: Callable[[Event], None] | None = None) -> None:
        self.world = world
        self.on_event = on_event
        self._facts: frozenset[Atom] | None = None
        self.tick = 0

    def new_tick(self, refresh: bool = True) -> None:
        """Call once per tree tick. ``refresh`` drops cached facts (pass False when they were just read after
        ``advance()``)."""
        if refresh:
            self._facts = None
        self.tick += 1

    @property
    def facts(self) -> frozenset[Atom]:
        if self._facts is None:
            self._facts = self.world.facts()
        return self._facts

    def invalidate(self) -> None:
        self._facts = None

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event({"t": round(self.world.time(), 4), "tick": self.tick, **event})


class SkillBehaviour(py_trees.behaviour.Behaviour):
    """A skill as a py_trees leaf."""

    def __init__(self, name: str, skill: Skill, agent: str, args: dict[str, Any], ctx: TickContext) -> None:
        super().__init__(name=name)
        self.skill = skill
        self.agent = agent
        self.args = args
        self.ctx = ctx
        self.last_outcome: Outcome | None = None
        self._started_at: float | None = None

    def initialise(self) -> None:
        self._started_at = self.ctx.world.time()
        self.last_outcome = None
        self.ctx.emit(
            {
                "event": "skill_start",
                "node": self.name,
                "skill": self.skill.name,
                "agent": self.agent,
                "args": self.args,
            }
        )
        try:
            self.skill.start(self.ctx.world, self.agent, **self.args)
            self._start_error: str | None = None
        except SkillError as err:
            self._start_error = str(err)

    def update(self) -> BTStatus:
        if self._start_error is not None:
            self.last_outcome = Outcome(Status.FAILURE, self._start_error)
        else:
            self.last_outcome = self.skill.tick()
        self.feedback_message = self.last_outcome.reason
        return _TO_BT[self.last_outcome.status]

    def terminate(self, new_status: BTStatus) -> None:
        if self._started_at is None:
            return
        if new_status == BTStatus.INVALID:
            self.skill.cancel()
            status, reason = "cancelled", "preempted by a higher-priority branch"
        else:
            status = new_status.value.lower()
            reason = self.last_outcome.reason if self.last_outcome else ""
        self.ctx.emit(
            {
                "event": "skill_end",
                "node": self.name,
                "skill": self.skill.name,
                "agent": self.agent,
                "args": self.args,
                "status": status,
                "reason": reason,
                "value": self.last_outcome.value if self.last_outcome else None,
                "duration": round(self.ctx.world.time() - self._started_at, 4),
            }
        )
        self._started_at = None


class ConditionBehaviour(py_trees.behaviour.Behaviour):
    """SUCCESS while ``literal`` holds in the world's facts, else FAILURE; never RUNNING."""

    def __init__(self, name: str, literal: Literal, ctx: TickContext) -> None:
        super().__init__(name=name)
        self.literal = literal
        self.ctx = ctx

    def update(self) -> BTStatus:
        return BTStatus.SUCCESS if holds(self.literal, self.ctx.facts) else BTStatus.FAILURE


class WorldTimeout(py_trees.decorators.Decorator):
    """FAILURE once the child has run ``seconds`` of world time (py_trees' Timeout uses wall time)."""

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, seconds: float, ctx: TickContext) -> None:
        super().__init__(name=name, child=child)
        self.seconds = seconds
        self.ctx = ctx
        self._deadline = float("inf")

    def initialise(self) -> None:
        self._deadline = self.ctx.world.time() + self.seconds

    def update(self) -> BTStatus:
        if self.decorated.status == BTStatus.RUNNING and self.ctx.world.time() >= self._deadline:
            self.feedback_message = f"timed out after {self.seconds} s of world time"
            self.decorated.stop(BTStatus.INVALID)
            return BTStatus.FAILURE
        return self.decorated.status

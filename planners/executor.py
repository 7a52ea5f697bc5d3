"""Tick a plan's tree against a world: one tree tick, then one ``world.advance()``, until the tree ends.

Feedback flows out as events (skill start/end with outcome and value, fact changes) through ``on_event``; when the
tree fails and a ``replan`` callback is given, the planner is asked again from the current state with the reason
(bounded by ``max_replans``; the callback returns None when it has no valid plan), which is where planners that
repair or critique plug in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import py_trees
from py_trees.common import Status as BTStatus

from ember.planners.compile import compile_plan
from ember.planners.validate import PlanError, ensure_valid
from ember.sims.predicates import Atom, Literal, format_facts, holds
from ember.sims.world import World
from ember.skills.bt import Event, SkillBehaviour, TickContext
from ember.skills.library import SkillLibrary


@dataclass
class ExecutionResult:
    success: bool
    """Every goal literal holds at the end (checked on the world, after settling)."""
    status: str
    """``success``, ``failure`` (tree failed, no replans left), ``timeout`` (world time ran out) or ``fault`` (the
    robot's e-stop or watchdog halted the tree)."""
    ticks: int
    world_time: float
    """[s]"""
    replans: int
    reason: str = ""
    failed_goals: list[str] = field(default_factory=list)


def _failure_reason(root: py_trees.behaviour.Behaviour) -> str:
    reasons = [
        f"{node.name}: {node.last_outcome.reason}"
        for node in root.iterate()
        if isinstance(node, SkillBehaviour) and node.last_outcome is not None and node.status == BTStatus.FAILURE
    ]
    return "; ".join(reasons) or "a condition failed with no action able to achieve it"


class Executor:
    """Runs plans on a world.

    Args:
        world: the world to act in.
        skills: library the plan's actions come from.
        on_event: receives trace events (dicts with ``event``, ``t`` [s], ``tick``).
        on_tick: called after every ``advance()`` with the tick number (videos, progress).
        max_seconds: world-time budget for the whole execution [s].
        settle_seconds: world time to let things come to rest before the final goal check [s].
    """

    def __init__(
        self,
        world: World,
        skills: SkillLibrary,
        on_event: Callable[[Event], None] | None = None,
        on_tick: Callable[[int], None] | None = None,
        max_seconds: float = 120.0,
        settle_seconds: float = 0.5,
    ) -> None:
        self.world = world
        self.skills = skills
        self.on_event = on_event
        self.on_tick = on_tick
        self.max_seconds = max_seconds
        self.settle_seconds = settle_seconds

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event({"t": round(self.world.time(), 4), **event})

    def run(
        self,
        plan: dict[str, Any],
        goal: Sequence[Literal] = (),
        replan: Callable[[str], dict[str, Any] | None] | None = None,
        max_replans: int = 0,
    ) -> ExecutionResult:
        ctx = TickContext(self.world, self.on_event)
        root = compile_plan(ensure_valid(plan, self.skills, self.world), self.skills, self.world, ctx)
        facts: frozenset[Atom] = self.world.facts()
        replans, tick, reason, status = 0, 0, "", "timeout"
        t_end = self.world.time() + self.max_seconds
        fault = getattr(self.world, "fault", None)  # a robot's e-stop or watchdog halts the tree
        while self.world.time() < t_end:
            why = fault() if fault is not None else None
            if why:
                root.stop(BTStatus.INVALID)
                status, reason = "fault", why
                self._emit({"event": "fault", "reason": why})
                break
            ctx.new_tick(refresh=False)
            root.tick_once()
            tick += 1
            unmet = [str(g) for g in goal if not holds(g, ctx.facts)] if root.status == BTStatus.SUCCESS else []
            if root.status == BTStatus.SUCCESS and not unmet:
                status = "success"
                break
            if root.status == BTStatus.FAILURE or unmet:
                # A tree that finished short of the goal (a plan without guards, a world that changed under it) is
                # treated like a failed one: the planner is asked again when it can be.
                reason = f"the tree finished but these goals do not hold: {unmet}" if unmet else _failure_reason(root)
                if replan is None and unmet:
                    status = "success"
                    break
                if replan is None or replans >= max_replans:
                    status = "failure"
                    break
                replans += 1
                self._emit(
                    {"event": "replan", "reason": reason, "attempt": replans, "facts": format_facts(self.world.facts())}
                )
                fresh = replan(reason)
                if fresh is None:
                    status, reason = "failure", f"{reason}; replanning gave no valid plan"
                    break
                try:
                    new_plan = ensure_valid(fresh, self.skills, self.world, source=f"replan {replans}")
                except PlanError as err:  # never tick an invalid plan, never crash the run
                    status, reason = "failure", f"{reason}; the new plan is invalid: {err}"
                    break
                root.stop(BTStatus.INVALID)
                root = compile_plan(new_plan, self.skills, self.world, ctx)
                continue
            self.world.advance()
            facts = self._trace_facts(facts, ctx)
            if self.on_tick is not None:
                self.on_tick(tick)
        else:
            root.stop(BTStatus.INVALID)
            reason = reason or f"world time budget of {self.max_seconds} s ran out"
        settle_until = self.world.time() + (self.settle_seconds if status != "fault" else 0.0)
        while self.world.time() < settle_until:
            self.world.advance()
            facts = self._trace_facts(facts, ctx)
            if self.on_tick is not None:
                self.on_tick(tick)
        final = self.world.facts()
        failed = [str(g) for g in goal if not holds(g, final)]
        success = status == "success" and not failed
        if status == "success" and failed:
            reason = f"the tree succeeded but after settling these goals do not hold: {failed}"
        return ExecutionResult(success, status, tick, self.world.time(), replans, reason, failed)

    def _trace_facts(self, before: frozenset[Atom], ctx: TickContext) -> frozenset[Atom]:
        ctx.invalidate()
        now = ctx.facts
        if now != before:
            self._emit({"event": "facts", "added": format_facts(now - before), "removed": format_facts(before - now)})
        return now

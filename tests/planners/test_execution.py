"""Behavior trees from the symbolic planner ticked on the real PyBullet sim (contact grasps, no constraints)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import make_world

from ember.planners.executor import Executor
from ember.planners.goals import parse_goal
from ember.planners.symbolic import SymbolicPlanner
from ember.sims.predicates import Atom

pytestmark = pytest.mark.slow


def _run(world, skills, goal: str, on_tick=None, max_seconds: float = 120.0) -> tuple[Any, list[dict]]:  # type: ignore[no-untyped-def]
    events: list[dict] = []
    literals = parse_goal(goal, world)
    plan = SymbolicPlanner(skills).plan(literals, world)
    result = Executor(world, skills, on_event=events.append, on_tick=on_tick, max_seconds=max_seconds).run(
        plan, literals
    )
    return result, events


def test_pick_and_place_in_tray(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=11) as world:
        result, events = _run(world, skills, "put blue in the tray")
        assert result.success, result.reason
        assert Atom("on", ("blue_cube", "tray")) in world.facts()
        assert world.scene.bc.getNumConstraints() == 0  # the grasp is contact physics, not an attachment
        started = [e["skill"] for e in events if e["event"] == "skill_start"]
        assert started == ["pick", "place"]


def test_three_cube_stack(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=12) as world:
        result, _ = _run(world, skills, "stack green on red and blue on green")
        assert result.success, result.reason
        facts = world.facts()
        assert {Atom("on", ("green_cube", "red_cube")), Atom("on", ("blue_cube", "green_cube"))} <= facts


def test_unstack_a_tower(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=13, arrangement="tower") as world:
        result, _ = _run(world, skills, "unstack everything")
        assert result.success, result.reason


def test_disturbance_is_repaired_by_reticking_not_replanning(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=14) as world:
        state = {"knocked": False}

        def knock(tick: int) -> None:
            # Once green sits on red and the arm has gone for blue, throw green off the stack.
            if not state["knocked"] and Atom("on", ("green_cube", "red_cube")) in world.facts() and tick > 5:
                holding = next(f for f in world.facts() if f.name == "holding")
                if holding.args[1] == "none":
                    world.displace("green_cube", (0.6, -0.25), 0.3)
                    state["knocked"] = True

        result, events = _run(world, skills, "stack green on red and blue on green", on_tick=knock)
        assert state["knocked"]
        assert result.success, result.reason
        assert result.replans == 0
        picks = [e["args"]["obj"] for e in events if e["event"] == "skill_start" and e["skill"] == "pick"]
        assert picks.count("green_cube") >= 2  # green was picked again after the disturbance


def test_same_seed_same_trace(skills) -> None:  # type: ignore[no-untyped-def]
    traces = []
    for _ in range(2):
        with make_world(seed=15) as world:
            result, events = _run(world, skills, "put red in the tray")
            assert result.success
            traces.append(
                [(e["event"], e.get("skill"), e.get("status"), e["t"]) for e in events] + [world.scene.state_dict()]
            )
    assert traces[0] == traces[1]


def test_failure_reports_reason_and_replans(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=16) as world:
        literals = parse_goal("put red in the tray", world)
        plan = SymbolicPlanner(skills).plan(literals, world)
        calls: list[str] = []

        def replan(reason: str) -> dict:
            calls.append(reason)
            return SymbolicPlanner(skills).plan(literals, world)

        # A world-time budget far too short to finish: the run ends as a timeout with its reason.
        result = Executor(world, skills, max_seconds=1.0).run(plan, literals, replan=replan, max_replans=1)
        assert not result.success and result.status == "timeout" and "1.0 s" in result.reason


def test_an_invalid_replan_ends_the_run_with_a_reason_and_never_ticks(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=17) as world:
        literals = parse_goal("put red in the tray", world)
        bad_first = {"root": {"type": "condition", "predicate": "on(red_cube, tray)"}}  # valid, fails at once
        invalid = {"root": {"type": "action", "skill": "levitate", "args": {}}}
        events: list[dict] = []
        result = Executor(world, skills, on_event=events.append, max_seconds=5.0).run(
            bad_first, literals, replan=lambda reason: invalid, max_replans=1
        )
        assert result.status == "failure" and "the new plan is invalid" in result.reason
        assert not [e for e in events if e["event"] == "skill_start" and e["skill"] == "levitate"]

"""Symbolic planning for 1-3 cube goals: plans validate, and a symbolic dry run of each reaches the goal."""

from __future__ import annotations

import pytest
from helpers import make_world

from ember.planners.goals import GoalError, parse_goal
from ember.planners.symbolic import SymbolicPlanner
from ember.planners.validate import dry_run, validate
from ember.sims.predicates import holds

CASES = [
    ("put red in the tray", "scattered"),
    ("stack green on red", "scattered"),
    ("stack green on red and blue on green", "scattered"),
    ("stack red on blue and green on red", {"tower": ["red_cube", "green_cube", "blue_cube"]}),
    ("unstack everything", {"tower": ["blue_cube", "green_cube", "red_cube"]}),
    ("clear the tray", "tray"),
    ("put every cube in the tray", "mixed"),
    ("put green on blue", {"tower": ["green_cube", "red_cube"], "scattered": ["blue_cube"]}),
    ("on(red_cube, table) & on(blue_cube, red_cube)", {"tower": ["red_cube", "green_cube", "blue_cube"]}),
    ("put blue in the tray", {"tower": ["blue_cube", "red_cube", "green_cube"]}),
]


@pytest.mark.parametrize(("goal", "arrangement"), CASES)
def test_plan_validates_and_dry_run_reaches_goal(skills, goal: str, arrangement) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=2, arrangement=arrangement) as world:
        literals = parse_goal(goal, world)
        plan = SymbolicPlanner(skills).plan(literals, world)
        assert validate(plan, skills, world) == []
        problems, final = dry_run(plan, skills, world)
        assert problems == []
        assert all(holds(g, final) for g in literals), [str(g) for g in literals if not holds(g, final)]
        assert any("holding(panda, none)" == str(f) for f in final)


def test_goal_that_already_holds_gives_a_tree_that_only_checks(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=1, arrangement={"tower": ["red_cube", "green_cube"]}) as world:
        plan = SymbolicPlanner(skills).plan("stack green on red", world)
        root = plan["root"]["children"][0]
        assert root["type"] == "fallback" and root["children"][0] == {
            "type": "condition",
            "predicate": "on(green_cube, red_cube)",
        }


def test_a_goal_with_nothing_to_do_gives_a_tree_that_checks_and_succeeds(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=1) as world:  # scattered: the tray is empty, so "clear the tray" names no literal
        assert parse_goal("clear the tray", world) == []
        plan = SymbolicPlanner(skills).plan("clear the tray", world)
        assert validate(plan, skills, world) == [] and plan["root"]["children"]
        assert dry_run(plan, skills, world)[0] == []


def test_a_negative_goal_undone_by_putting_the_object_down_is_refused_not_looped(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=1) as world:
        with pytest.raises(GoalError, match=r"not on\(red_cube, table\) does not survive emptying the gripper"):
            SymbolicPlanner(skills).plan("not on(red_cube, table)", world)
        plan = SymbolicPlanner(skills).plan("not on(red_cube, table) & holding(panda, red_cube)", world)
        assert validate(plan, skills, world) == []


def test_stacks_are_built_bottom_up(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=0) as world:
        plan = SymbolicPlanner(skills).plan("on(blue_cube, green_cube) & on(green_cube, red_cube)", world)
        firsts = [c["children"][0]["predicate"] for c in plan["root"]["children"]]
        assert firsts[:2] == ["on(green_cube, red_cube)", "on(blue_cube, green_cube)"]


@pytest.mark.parametrize(
    ("goal", "needle"),
    [
        ("on(red_cube, red_cube)", "on(red_cube, red_cube)"),
        ("on(red_cube, tray) & on(red_cube, blue_cube)", "on(red_cube, blue_cube)"),
        ("on(red_cube, green_cube) & on(green_cube, red_cube)", "cycle"),
        ("on(red_cube, blue_cube) & on(green_cube, blue_cube)", "on(green_cube, blue_cube)"),
        ("on(tray, red_cube)", "tray cannot be moved"),
        ("on(red_cube, tray) & not on(red_cube, tray)", "contradict"),
        ("levitating(red_cube)", "levitating"),
        ("on(red_cube)", "on takes 2 argument(s), not 1"),
    ],
)
def test_contradictory_or_unknown_goals_name_the_predicate(world, skills, goal: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GoalError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        SymbolicPlanner(skills).plan(goal, world)


def test_unreachable_goal_names_the_missing_precondition(skills) -> None:  # type: ignore[no-untyped-def]
    with make_world(seed=0) as world:
        world.displace("red_cube", (1.1, 0.45))  # far end of the table, out of the arm's reach
        world.scene.step(60)
        with pytest.raises(GoalError, match=r"on\(red_cube, tray\).*reachable\(red_cube\)"):
            SymbolicPlanner(skills).plan("put red in the tray", world)

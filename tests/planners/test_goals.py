from __future__ import annotations

import pytest
from helpers import make_world

from ember.planners.goals import GoalError, parse_goal


@pytest.mark.parametrize(
    ("goal", "expected"),
    [
        ("put the red cube in the tray", ["on(red_cube, tray)"]),
        ("Put red in the tray.", ["on(red_cube, tray)"]),
        ("put green on red", ["on(green_cube, red_cube)"]),
        ("put the blue cube on the table", ["on(blue_cube, table)"]),
        ("stack green on red", ["on(green_cube, red_cube)"]),
        ("stack green on red and blue on green", ["on(green_cube, red_cube)", "on(blue_cube, green_cube)"]),
        ("stack green on red, blue on green", ["on(green_cube, red_cube)", "on(blue_cube, green_cube)"]),
        ("put every cube in the tray", ["on(blue_cube, tray)", "on(green_cube, tray)", "on(red_cube, tray)"]),
        ("unstack everything", ["on(blue_cube, table)", "on(green_cube, table)", "on(red_cube, table)"]),
        ("put red in the tray and then stack blue on green", ["on(red_cube, tray)", "on(blue_cube, green_cube)"]),
        ("on(red_cube, tray) & on(green_cube, red_cube)", ["on(red_cube, tray)", "on(green_cube, red_cube)"]),
        ("put red in the tray and blue in the tray", ["on(red_cube, tray)", "on(blue_cube, tray)"]),  # one verb
        ("place red in the tray, blue on green", ["on(red_cube, tray)", "on(blue_cube, green_cube)"]),
        ("Put red in the tray AND Put green on red", ["on(red_cube, tray)", "on(green_cube, red_cube)"]),
        ("Put red in the tray. Then put green on red.", ["on(red_cube, tray)", "on(green_cube, red_cube)"]),
        ("put  red\tin the tray ,  and then  put blue on red", ["on(red_cube, tray)", "on(blue_cube, red_cube)"]),
    ],
)
def test_accepted_forms(world, goal: str, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert [str(g) for g in parse_goal(goal, world)] == expected


def test_clear_the_tray_moves_what_is_in_it_and_on_it() -> None:
    with make_world(seed=4, arrangement={"tray": ["red_cube", "blue_cube"]}) as w:
        assert sorted(str(g) for g in parse_goal("clear the tray", w)) == [
            "on(blue_cube, table)",
            "on(red_cube, table)",
        ]


def test_a_shared_verb_list_names_the_part_it_cannot_read(world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GoalError, match="no object called 'purple'"):
        parse_goal("put red in the tray and purple in the tray", world)


def test_tray_goals_in_a_scene_without_a_tray_say_so() -> None:
    with make_world(seed=4, tray=False) as w:
        for goal in ("put every cube in the tray", "clear the tray", "put red in the tray"):
            with pytest.raises(GoalError, match="the scene has no tray"):
                parse_goal(goal, w)


@pytest.mark.parametrize("goal", ["make me a sandwich", "stack the cubes nicely", "put red somewhere"])
def test_free_text_is_refused_with_the_accepted_forms(world, goal: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GoalError, match="accepted forms") as err:
        parse_goal(goal, world)
    assert "put every cube in the tray" in str(err.value)


@pytest.mark.parametrize(
    ("goal", "needle"),
    [
        ("put the purple cube in the tray", "purple"),
        ("on(red_cube, shelf)", "shelf"),
        ("on(red_cube tray)", "red_cube tray"),
        ("", "non-empty"),
    ],
)
def test_unknown_objects_and_bad_syntax_name_the_part(world, goal: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(GoalError, match=needle):
        parse_goal(goal, world)


def test_a_goal_of_long_whitespace_runs_is_answered_at_once(world) -> None:  # type: ignore[no-untyped-def]
    import time

    start = time.perf_counter()
    for goal in ("put red" + " " * 1900 + "x", "put red" + " " * 20000 + "x"):
        with pytest.raises(GoalError):
            parse_goal(goal, world)
    assert time.perf_counter() - start < 2.0  # 10 k spaces took 7 s (the split regex backtracked)

"""Plan schema and validation: good plans pass, each malformed plan is rejected at the right JSON path."""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from ember.planners.schema import from_strict, load_schema_file, plan_schema, strict_schema, to_strict
from ember.planners.validate import PlanError, ensure_valid, validate

GOOD: dict[str, Any] = {
    "version": 1,
    "goal": "stack green on red",
    "root": {
        "type": "sequence",
        "children": [
            {
                "type": "fallback",
                "children": [
                    {"type": "condition", "predicate": "holding(panda, green_cube)"},
                    {
                        "type": "retry",
                        "attempts": 2,
                        "child": {"type": "action", "skill": "pick", "args": {"obj": "green_cube"}},
                    },
                ],
            },
            {
                "type": "timeout",
                "seconds": 30,
                "child": {
                    "type": "action",
                    "skill": "place",
                    "args": {"obj": "green_cube", "target": "red_cube"},
                    "agent": "panda",
                },
            },
        ],
    },
}


def _mutate(path: list[Any], value: Any = None, delete: bool = False) -> dict[str, Any]:
    plan = copy.deepcopy(GOOD)
    node = plan
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return plan


PICK = ["root", "children", 0, "children", 1, "child"]
PLACE = ["root", "children", 1, "child"]
MALFORMED = [
    ("missing root", _mutate(["root"], delete=True), "$", "root"),
    ("extra top-level key", _mutate(["steps"], []), "$", "steps"),
    ("wrong version", _mutate(["version"], 2), "$.version", "1"),
    ("unknown node type", _mutate(["root", "type"], "sequense"), "$.root.type", "sequence"),
    ("children not a list", _mutate(["root", "children"], {"a": 1}), "$.root.children", "array"),
    ("empty children", _mutate(["root", "children", 0, "children"], []), "$.root.children[0].children", "child"),
    (
        "condition without predicate",
        _mutate(["root", "children", 0, "children", 0, "predicate"], delete=True),
        "$.root.children[0].children[0]",
        "predicate",
    ),
    (
        "retry attempts zero",
        _mutate(["root", "children", 0, "children", 1, "attempts"], 0),
        "$.root.children[0].children[1].attempts",
        "range",
    ),
    ("timeout negative", _mutate(["root", "children", 1, "seconds"], -5), "$.root.children[1].seconds", "range"),
    ("action without skill", _mutate([*PICK, "skill"], delete=True), "$.root.children[0].children[1].child", "skill"),
    (
        "args not an object",
        _mutate([*PICK, "args"], ["green_cube"]),
        "$.root.children[0].children[1].child.args",
        "object",
    ),
    ("extra key on action", _mutate([*PICK, "speed"], 3), "$.root.children[0].children[1].child", "speed"),
    ("unknown skill", _mutate([*PICK, "skill"], "grab"), "$.root.children[0].children[1].child.skill", "grab"),
    (
        "unknown object",
        _mutate([*PICK, "args", "obj"], "purple_cube"),
        "$.root.children[0].children[1].child.args.obj",
        "purple_cube",
    ),
    (
        "wrong object type",
        _mutate([*PICK, "args", "obj"], "tray"),
        "$.root.children[0].children[1].child.args.obj",
        "tray",
    ),
    ("unknown argument", _mutate([*PLACE, "args", "speed"], 2.0), "$.root.children[1].child.args.speed", "speed"),
    (
        "missing argument",
        _mutate([*PLACE, "args", "target"], delete=True),
        "$.root.children[1].child.args.target",
        "target",
    ),
    (
        "position of wrong size",
        _mutate([*PLACE, "args", "target"], [0.4]),
        "$.root.children[1].child.args.target",
        "position",
    ),
    ("unknown agent", _mutate([*PLACE, "agent"], "ur5"), "$.root.children[1].child.agent", "ur5"),
    (
        "predicate syntax",
        _mutate(["root", "children", 0, "children", 0, "predicate"], "holding(panda green_cube"),
        "$.root.children[0].children[0].predicate",
        "parse",
    ),
    (
        "unknown predicate",
        _mutate(["root", "children", 0, "children", 0, "predicate"], "grasped(green_cube)"),
        "$.root.children[0].children[0].predicate",
        "grasped",
    ),
    (
        "unknown object in predicate",
        _mutate(["root", "children", 0, "children", 0, "predicate"], "holding(panda, cup)"),
        "$.root.children[0].children[0].predicate",
        "cup",
    ),
    (
        "precondition nothing establishes",
        _mutate(["root", "children", 0], {"type": "condition", "predicate": "clear(tray)"}),
        "$.root.children[1].child",
        "holding(panda, green_cube)",
    ),
    ("node not an object", _mutate(["root", "children", 0], "pick green"), "$.root.children[0]", "object"),
]


def test_schema_file_is_generated_from_the_single_source() -> None:
    assert load_schema_file() == plan_schema()
    jsonschema.Draft202012Validator.check_schema(plan_schema())


def test_good_plan_validates(world, skills) -> None:  # type: ignore[no-untyped-def]
    assert validate(GOOD, skills, world) == []
    assert validate(json.dumps(GOOD), skills, world) == []


@pytest.mark.parametrize(("case", "plan", "path", "needle"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_plan_is_rejected_at_its_path(world, skills, case: str, plan: Any, path: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    problems = validate(plan, skills, world)
    assert problems, f"{case} was accepted"
    at_path = [p for p in problems if p.path == path]
    assert at_path, f"{case}: no problem at {path}; got {[str(p) for p in problems]}"
    text = " ".join(f"{p.message} {p.hint}" for p in at_path)
    assert needle in text, f"{case}: {needle!r} not in {text!r}"


def test_at_least_fifteen_distinct_malformed_cases() -> None:
    assert len({m[0] for m in MALFORMED}) >= 15


def test_non_json_and_non_object_plans(skills) -> None:  # type: ignore[no-untyped-def]
    assert "not JSON" in validate("{root: ", skills)[0].message
    assert validate([1, 2], skills)[0].path == "$"


def test_every_problem_is_reported_not_only_the_first(world, skills) -> None:  # type: ignore[no-untyped-def]
    plan = _mutate([*PICK, "skill"], "grab")
    plan["root"]["children"][1]["child"]["args"]["obj"] = "ghost"
    with pytest.raises(PlanError) as err:
        ensure_valid(plan, skills, world)
    paths = {p.path for p in err.value.problems}
    assert {"$.root.children[0].children[1].child.skill", "$.root.children[1].child.args.obj"} <= paths


def test_strict_schema_is_derived_and_round_trips() -> None:
    strict = strict_schema()
    jsonschema.Draft202012Validator.check_schema(strict)
    node = strict["$defs"]["node"]
    assert node["additionalProperties"] is False and set(node["required"]) == set(node["properties"])

    strict_plan = to_strict(GOOD)
    assert jsonschema.Draft202012Validator(strict).is_valid(strict_plan)
    back = from_strict(strict_plan)
    assert back["root"] == GOOD["root"]


@pytest.mark.parametrize("depth", [40, 200, 900])
def test_a_deeply_nested_plan_is_a_problem_not_a_recursion_error(depth: int) -> None:
    from ember.skills.library import SkillLibrary

    leaf = '{"type": "action", "skill": "pick", "args": {"obj": "green_cube"}}'
    text = '{"version": 1, "root": ' + '{"type": "sequence", "children": [' * depth + leaf + "]}" * depth + "}"
    problems = validate(text, SkillLibrary.for_domain("tabletop"))
    assert problems and all("nested deeper than 32 levels" in p.message for p in problems)


def test_an_integer_too_long_to_read_is_a_problem() -> None:
    from ember.skills.library import SkillLibrary

    text = json.dumps(GOOD).replace('"attempts": 2', '"attempts": 1' + "0" * 5000)
    (problem,) = validate(text, SkillLibrary.for_domain("tabletop"))
    assert problem.path == "$" and "not readable JSON" in problem.message

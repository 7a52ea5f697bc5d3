"""HOI stage plans (RMD): the format and its validation, UniHSI input, the template planner, and the LLM/VLM planner
against a local OpenAI-protocol server (127.0.0.1) replaying scripted replies."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import numpy as np
import pytest

from ember.planners.hoi.llm import HOILLMPlanner
from ember.planners.hoi.stages import (
    HUMAN_PARTS,
    LABELS,
    OBJECT_PARTS,
    STAGES_SCHEMA,
    SceneInfo,
    StagePlan,
    ensure_valid_stages,
    from_chain_of_contacts,
    normalize,
    strict_stages_schema,
    to_strict,
    validate_stages,
)
from ember.planners.hoi.template import TemplatePlanner, UnsupportedInstruction
from ember.planners.llm.testing import OpenAIStubServer, Scripted, StubReply
from ember.planners.validate import PlanError

SCENE = {
    "objects": {
        "chair": {"type": "chair", "position": [1.5, 0.0, 0.45], "yaw": 3.1416},
        "box": {"type": "box", "position": [1.0, 1.5, 0.2]},
        "drawer": {"type": "drawer", "position": [-1.5, 0.0, 0.6]},
        "table": {"type": "table", "position": [2.5, 2.5, 0.375]},
    },
    "workspace": [[-4, -4, 0], [4, 4, 2.5]],
}
SIT = "sit on the chair"


def _scene() -> SceneInfo:
    return SceneInfo.from_dict(SCENE)


def _plan(*stages: dict[str, Any]) -> dict[str, Any]:
    return {"instruction": "test", "stages": list(stages)}


def _paths(plan: Any) -> dict[str, str]:
    """Each path with the messages and hints of its problems."""
    out: dict[str, str] = {}
    for p in validate_stages(plan, _scene()):
        out[p.path] = out.get(p.path, "") + f"{p.message} | {p.hint}\n"
    return out


# ---------------------------------------------------------------- format and validation
def test_vocabularies_and_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(STAGES_SCHEMA)
    assert {"top", "side"} <= set(OBJECT_PARTS["box"]) and {"seat", "backrest"} <= set(OBJECT_PARTS["chair"])
    assert {"handle", "front"} <= set(OBJECT_PARTS["drawer"]) and "top" in OBJECT_PARTS["table"]
    assert set(HUMAN_PARTS) == {"pelvis", "back", "head", "left_hand", "right_hand", "left_foot", "right_foot"}
    assert LABELS == ("contact", "approaching", "separating", "no_trend")


def test_valid_plan_round_trips_through_json_and_strict_form() -> None:
    plan = _plan(
        {"human_root": [0.9, 0.0], "links": [["chair", "seat", "pelvis", "approaching", "up"]]},
        {"human_root": {"near": "chair", "offset": [-0.05, 0]}, "links": [["chair", "seat", "pelvis", "contact"]]},
        {"object_target": {"object": "box", "position": [1, 1.5, 0.9]}, "links": [["box", "left", "left_hand", 0]]},
    )
    assert validate_stages(plan, _scene()) == []
    stages = ensure_valid_stages(plan, _scene())
    assert StagePlan.from_json(stages.to_json()) == stages
    strict = to_strict(stages.to_dict())
    jsonschema.validate(strict, strict_stages_schema(_scene()))  # what a strict-mode model writes
    assert StagePlan.from_dict(strict).stages == stages.stages
    assert stages.stages[1].root_position(_scene()) == pytest.approx((1.45, 0.0))
    assert stages.stages[2].links[0].label == "contact" and stages.stages[2].links[0].direction == "none"


@pytest.mark.parametrize(
    ("link", "path", "needle"),
    [
        (["chair", "sat", "pelvis", "contact"], "$.stages[0].links[0][1]", "did you mean 'seat'"),
        (["chair", "handle", "pelvis", "contact"], "$.stages[0].links[0][1]", "['backrest', 'seat']"),
        (["chiar", "seat", "pelvis", "contact"], "$.stages[0].links[0][0]", "did you mean 'chair'"),
        (["chair", "seat", "hips", "contact"], "$.stages[0].links[0][2]", "'pelvis'"),
        (["chair", "seat", "pelvis", "touching"], "$.stages[0].links[0][3]", "approaching"),
        (["chair", "seat", "pelvis", 7], "$.stages[0].links[0][3]", "contact"),
        (["chair", "seat", "pelvis", "contact", "sideways"], "$.stages[0].links[0][4]", "'front'"),
        (["chair", "seat"], "$.stages[0].links[0]", "[object, object_part, human_part, label, direction]"),
    ],
)
def test_bad_links_are_reported_with_paths_and_hints(link: list[Any], path: str, needle: str) -> None:
    problems = _paths(_plan({"human_root": [0, 0], "links": [link]}))
    assert path in problems, problems
    assert needle in problems[path]


@pytest.mark.parametrize(
    ("stage", "path", "needle"),
    [
        ({"links": []}, "$.stages[0]", "no links and no targets"),
        ({"human_root": [9.0, 0.0], "links": []}, "$.stages[0].human_root[0]", "keep x in [-4.0, 4.0]"),
        ({"human_root": [float("nan"), 0.0], "links": []}, "$.stages[0].human_root[0]", "non-finite"),
        ({"human_root": [1.0], "links": []}, "$.stages[0].human_root", "give [x, y] or [x, y, z]"),
        ({"human_root": {"near": "sofa"}, "links": []}, "$.stages[0].human_root.near", "unknown object 'sofa'"),
        ({"human_root": {"near": "box", "offset": [5, 0]}, "links": []}, "$.stages[0].human_root.offset[0]", "x="),
        ({"object_target": {"object": "box"}, "links": []}, "$.stages[0].object_target", "add ['position']"),
        (
            {"object_target": {"object": "box", "position": [1, 1, 0.2]}, "links": [["box", "top", "head", 1]]},
            "$.stages[0].object_target.object",
            "no contact link",
        ),
        (
            {"object_target": {"object": "table", "position": [1, 1, 0.4]}, "links": [["table", "top", "head", 0]]},
            "$.stages[0].object_target.object",
            "not movable",
        ),
        ({"links": [["box", "top", "head", 0], ["box", "top", "head", 2]]}, "$.stages[0].links[1][3]", "one label"),
        ({"root": [0, 0], "links": []}, "$.stages[0]", "allowed fields are"),
    ],
)
def test_bad_targets_and_stages_are_reported(stage: dict[str, Any], path: str, needle: str) -> None:
    problems = _paths(_plan(stage))
    assert path in problems, problems
    assert needle in problems[path]


def test_stage_count_and_top_level_checks() -> None:
    assert "give between 1 and 16 stages" in _paths(_plan())["$.stages"]
    many = _plan(*[{"human_root": [0, 0], "links": []}] * 17)
    assert "is too long" in _paths(many)["$.stages"]
    assert _paths("{not json")["$"].startswith("not JSON")
    assert (
        "unknown object 'sofa'"
        in _paths({**_plan({"links": [["box", "top", "head", 0]]}), "objects": {"sofa": "box"}})["$.objects.sofa"]
    )
    with pytest.raises(PlanError, match=r"\$\.stages\[0\]\.links\[0\]\[1\]"):
        ensure_valid_stages(_plan({"links": [["box", "lid", "head", 0]]}), _scene())


def test_labels_are_normalized_from_rmd_codes_unihsi_and_strict_links() -> None:
    links = [["box", "top", "head", code] for code in (0, 1, 2, 3, "Not Contact", "no consistent trend", "approach")]
    links.append({"object": "box", "object_part": "top", "human_part": "head", "label": "contact", "direction": None})
    out = normalize(_plan({"links": links}))["stages"][0]["links"]
    assert [link[3] for link in out] == [*LABELS, "separating", "no_trend", "approaching", "contact"]
    assert out[-1] == ["box", "top", "head", "contact", "none"]


def test_unihsi_chain_of_contacts_converts_and_validates() -> None:
    seat = ["chair000", "seat_soft_surface16", "pelvis", "contact", "up"]
    stand = [["chair000", "back_surface3", "torso", "contact", "front"], [*seat[:3], "not contact", "none"]]
    steps = {"chain_of_contacts": [[seat], stand]}
    plan = from_chain_of_contacts(steps, "sit then stand", _scene())
    assert [[link.to_list() for link in s.links] for s in plan.stages] == [
        [["chair", "seat", "pelvis", "contact", "up"]],
        [["chair", "backrest", "back", "contact", "front"], ["chair", "seat", "pelvis", "separating", "none"]],
    ]
    assert validate_stages(plan.to_dict(), _scene()) == [] and plan.objects == {"chair": "chair"}
    unmapped = from_chain_of_contacts([[["sofa1", "cushion", "pelvis", "contact", "up"]]], scene=_scene())
    assert "$.stages[0].links[0][0]" in _paths(unmapped.to_dict())


# ---------------------------------------------------------------- template planner
@pytest.mark.parametrize(
    ("instruction", "names", "moved"),
    [
        ("reach the box's top with the right hand", ["approach", "touch"], None),
        ("push the box to [1.5, 2.0]", ["approach", "hands on", "push", "release"], (1.5, 2.0, 0.2)),
        ("push the box 0.5 m forward", ["approach", "hands on", "push", "release"], (1.5, 1.5, 0.2)),
        ("open the drawer", ["approach", "grasp", "pull", "release"], (-1.2, 0.0, 0.6)),
        (SIT, ["approach", "sit down", "lean back"], None),
        ("carry the box to the table", ["approach", "grasp", "lift", "move", "place", "release"], (2.15, 2.5, 0.95)),
        ("Carry the box to [0, 2]", ["approach", "grasp", "lift", "move", "place", "release"], (0.0, 2.0, 0.2)),
    ],
)
def test_template_plans_validate_with_the_expected_stages(
    instruction: str, names: list[str], moved: tuple[float, ...] | None
) -> None:
    plan = TemplatePlanner().plan(instruction, SCENE)
    assert [s.name for s in plan.stages] == names
    assert validate_stages(plan.to_dict(), _scene()) == []
    targets = [s.object_target.position for s in plan.stages if s.object_target is not None]
    assert (targets[-1] if targets else None) == (pytest.approx(moved) if moved else None)
    for stage in plan.stages:  # an object moves only while a human part is in contact with it
        if stage.object_target is not None:
            assert any(link.label == "contact" and link.object == stage.object_target.object for link in stage.links)


def test_template_stage_structure_for_sit_reach_and_carry() -> None:
    sit = TemplatePlanner().plan(SIT, SCENE).stages
    assert [(link.object_part, link.human_part, link.label) for link in sit[1].links] == [
        ("seat", "pelvis", "contact"),
        ("backrest", "back", "approaching"),
    ]
    assert sit[2].links[1].label == "contact" and sit[0].human_root == pytest.approx((0.9, 0.0))  # chair faces -x
    reach = TemplatePlanner().plan("touch the chair's backrest with the left hand", SCENE).stages
    assert reach[1].links[0].to_list() == ["chair", "backrest", "left_hand", "contact", "front"]
    carry = TemplatePlanner().plan("carry the box to the table", SCENE).stages
    # The character starts at the origin, below the box: it stands at the box's right (-y) face, facing +y, so its
    # left hand takes the box's back (-x) face and its right hand the front (+x) face.
    assert [(link.object_part, link.human_part) for link in carry[1].links] == [
        ("back", "left_hand"),
        ("front", "right_hand"),
    ]
    assert carry[-1].human_root is None and {link.label for link in carry[-1].links} == {"separating"}


@pytest.mark.parametrize(
    ("instruction", "needle"),
    [
        ("dance a waltz", "no supported verb"),
        ("push the box", "push needs a destination"),
        ("sit on the table", "sit works on a chair"),
        ("sit on the sofa", "names none of the scene's objects"),
        ("open the drawer by 5 m", r"opens by up to 0\.\d\d m"),  # beyond the slide's range
        ("open the drawer by 0 cm", r"ask for a distance in \(0, "),
        ("don't sit on the chair", "cannot plan a negation"),
        ("push the box 0.5 m forward but never touch the table", "cannot plan a negation"),
        ("touch the chair's backrest with the left elbow", "'left elbow' is not a body part"),
        ("push the box 0.5 m forward then dance", "'dance' has no supported verb"),
        ("open the drawer and sit", "'sit' names none of the scene's objects"),
        ("push the box 1 m left as you sit on the chair", r"asks for \['push', 'sit'\] at once; put them in order"),
        # body parts and object parts: unknown ones named with the known ones, unusable ones refused, never swapped
        ("pull the drawer's handle with the head", "open pulls the handle with one hand; it cannot use the head"),
        ("open the drawer with the left foot", "it cannot use the left foot — say 'with the right hand' or"),
        ("push the box 1 m forward with the tail", r"'tail' is not a body part the templates use \(pelvis, back"),
        ("sit on the chair with the elbow", "'elbow' is not a body part"),
        ("push the box 1 m forward with the left hand", "push pushes with both hands; it cannot use the left hand"),
        ("reach the box with both hands", "reach touches with one part; it cannot use both hands"),
        ("touch the box with the hand", "'with the hand' does not say which"),
        ("reach the chair's wing with the left hand", r"the chair 'chair' has no part 'wing'; its parts are \['seat'"),
        ("reach the box's lid", "the box 'box' has no part 'lid'"),
        ("touch the edge of the box", "the box 'box' has no part 'edge'"),
        ("sit on the chair's backrest", "sit lowers the pelvis onto the seat; it cannot use chair's 'backrest'"),
        ("push the box's front 1 m forward", "takes both hands on its 'back' face; it cannot use box's 'front'"),
        ("push the box -1 m forward", r"'-1 m forward': push takes a positive distance .* '1 m back'"),
        ("push the box 0 cm left", "push takes a positive distance"),
    ],
)
def test_unsupported_instructions_list_the_supported_forms(instruction: str, needle: str) -> None:
    with pytest.raises(UnsupportedInstruction, match=needle) as info:
        TemplatePlanner().plan(instruction, SCENE)
    assert "push the <object> to [x, y]" in str(info.value) and "sit on the <chair>" in str(info.value)


def _parts(instruction: str) -> set[tuple[str, str]]:
    """The (object part, human part) pairs of a template plan's links."""
    return {(link.object_part, link.human_part) for s in TemplatePlanner().plan(instruction, SCENE).stages
            for link in s.links}  # fmt: skip


def test_named_body_and_object_parts_are_honoured() -> None:
    parts = _parts
    assert parts("open the drawer with the left hand") == {("handle", "left_hand")}
    assert parts("pull the drawer's handle with your right hand") == {("handle", "right_hand")}
    assert parts("reach the top of the box with the head") == {("top", "head")}
    assert parts("touch the box's front using the left foot") == {("front", "left_foot")}
    assert parts("push the box's back 1 m forward with both hands") == {("back", "left_hand"), ("back", "right_hand")}
    assert parts("sit on the chair's seat with the pelvis") == {("seat", "pelvis"), ("backrest", "back")}
    assert ("top", "right_hand") in parts("reach the box")  # the defaults: the right hand on the type's first part


def test_distances_and_points_read_signs_and_scientific_notation() -> None:
    planner = TemplatePlanner()
    back = planner.plan("push the box 1 m back", SCENE).stages[2].object_target
    assert back is not None and back.position == pytest.approx((0.0, 1.5, 0.2))
    carried = planner.plan("carry the box to [1.5e0, -2E-1]", SCENE).stages[-2].object_target
    assert carried is not None and carried.position[:2] == pytest.approx((1.5, -0.2))
    with pytest.raises(PlanError, match=r"object_target position x=1000\.0 is outside the workspace"):
        planner.plan("carry the box to [1e3, 2]", SCENE)


def test_tasks_in_order_plan_on_the_scene_the_previous_ones_leave() -> None:
    """ "then", "; " and "and <verb>" join tasks; each plans where the previous left the objects and the character (a
    second push starts from the box's new place), and the whole plan validates."""
    planner = TemplatePlanner()
    plan = planner.plan("push the box 0.5 m forward, then push the box 0.5 m left", SCENE)
    assert [s.name for s in plan.stages] == ["approach", "hands on", "push", "release"] * 2
    moved = [s.object_target.position for s in plan.stages if s.object_target is not None]
    assert moved == [pytest.approx((1.5, 1.5, 0.2)), pytest.approx((1.5, 2.0, 0.2))]
    x, y = plan.stages[4].human_root  # to push it left (+y) it stands behind its new place, on the -y side
    assert x == pytest.approx(1.5) and y < 1.5 - 0.35
    both = planner.plan("open the drawer and sit on the chair", SCENE)
    assert [s.name for s in both.stages] == [
        *["approach", "grasp", "pull", "release"],
        *["approach", "sit down", "lean back"],
    ]
    assert validate_stages(both.to_dict(), _scene()) == []
    assert planner.plan("sit on the chair; open the drawer by 0.2 m.", SCENE).stages[-2].object_target is not None


def test_template_targets_outside_the_workspace_are_refused() -> None:
    with pytest.raises(PlanError, match="outside the workspace"):
        TemplatePlanner().plan("push the box to [9, 1.5]", SCENE)
    two_boxes = {f"box_{k}": {"type": "box", "position": [k, 2.0, 0.2]} for k in (0, 1)}
    with pytest.raises(UnsupportedInstruction, match=r"ambiguous; name one of \['box_0', 'box_1'\]"):
        TemplatePlanner().plan("push the box to [0, 1]", two_boxes)
    assert TemplatePlanner().plan("push box_1 to [1, 1]", two_boxes).stages[2].links[0].object == "box_1"


# ---------------------------------------------------------------- LLM/VLM planner
def _llm(server: OpenAIStubServer, events: list[dict[str, Any]], **overrides: Any) -> HOILLMPlanner:
    settings: dict[str, Any] = {"base_url": server.base_url, "model": "scripted", "max_retries": 0, "timeout": 5.0}
    settings.update(overrides, on_event=events.append)
    return HOILLMPlanner(**settings)


GOOD = json.dumps(to_strict(TemplatePlanner().plan(SIT, SCENE).to_dict()))


def test_llm_valid_answer_is_accepted_in_one_call() -> None:
    script, events = Scripted([StubReply(GOOD)]), []
    with OpenAIStubServer(script) as server:
        planner = _llm(server, events, structured="json_schema")
        plan = planner.plan(SIT, SCENE)
    assert plan.stages == TemplatePlanner().plan(SIT, SCENE).stages and plan.instruction == SIT
    assert planner.calls == 1 and planner.tokens > 0 and events[0]["prompt_tokens"] > 0
    fmt = script.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["$defs"]["link"]["properties"]["object"]["enum"] == sorted(SCENE["objects"])
    user = script.requests[0]["messages"][1]["content"]
    assert isinstance(user, str) and "DATA" in user and '"backrest"' in user


def test_llm_invalid_answer_is_repaired_after_feedback() -> None:
    bad = json.loads(GOOD)
    bad["stages"][1]["links"][1]["object_part"] = "back_rest"
    script, events = Scripted([StubReply(json.dumps(bad)), StubReply(GOOD)]), []
    with OpenAIStubServer(script) as server:
        planner = _llm(server, events, structured="none")
        plan = planner.plan(SIT, SCENE)
    assert len(plan.stages) == 3 and planner.calls == 2 and planner.fallbacks == 0
    critique = script.requests[1]["messages"][-1]["content"]
    assert "$.stages[1].links[1][1]" in critique and "did you mean 'backrest'" in critique
    assert [len(e["problems"]) for e in events if e["event"] == "llm_call"] == [1, 0]


def test_llm_garbage_falls_back_to_the_template_or_raises() -> None:
    script, events = Scripted([StubReply("Sure! First walk to the chair, then sit.")]), []
    with OpenAIStubServer(script) as server:
        plan = _llm(server, events, repair_rounds=1, fallback="template").plan(SIT, SCENE)
        assert plan == TemplatePlanner().plan(SIT, SCENE) and len(script.requests) == 2
        assert events[-1]["event"] == "planner_fallback" and "not JSON" in events[-1]["problems"][0]["message"]
        with pytest.raises(PlanError, match="not JSON"):
            _llm(server, [], repair_rounds=0).plan(SIT, SCENE)


def test_llm_endpoint_errors_and_format_downgrade() -> None:
    script, events = Scripted([StubReply(status=400, error_message="response_format unsupported"), StubReply(GOOD)]), []
    with OpenAIStubServer(script) as server:
        plan = _llm(server, events).plan(SIT, SCENE)  # auto: json_schema refused, json_object accepted
    assert len(plan.stages) == 3 and script.requests[1]["response_format"] == {"type": "json_object"}
    assert events[0]["event"] == "llm_format_downgrade"
    with OpenAIStubServer(Scripted([StubReply(status=500)])) as server:
        assert len(_llm(server, [], fallback="template").plan(SIT, SCENE).stages) == 3
        with pytest.raises(PlanError, match="server"):
            _llm(server, []).plan(SIT, SCENE)


def test_vlm_attaches_the_top_down_image() -> None:
    image = np.zeros((16, 24, 3), dtype=np.uint8)
    script = Scripted([StubReply(GOOD)])
    with OpenAIStubServer(script) as server:
        _llm(server, [], vlm=True).plan(SIT, SCENE, image=image)
        _llm(server, [], vlm=False).plan(SIT, SCENE, image=image)
        with pytest.raises(ValueError, match="uint8"):
            _llm(server, [], vlm=True).plan(SIT, SCENE, image=image.astype(np.float32))
    content = script.requests[0]["messages"][1]["content"]
    assert content[0]["type"] == "text" and content[1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert isinstance(script.requests[1]["messages"][1]["content"], str)

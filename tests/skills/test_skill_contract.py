"""The skill contract and its py_trees adapter, with a scripted fake world (no physics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import jsonschema
import numpy as np
import py_trees
from py_trees.common import Status as BT

from ember.sims.predicates import Atom, parse_literal
from ember.sims.world import ObjectInfo, World
from ember.skills.bt import ConditionBehaviour, SkillBehaviour, TickContext, WorldTimeout
from ember.skills.library import SkillLibrary
from ember.skills.skill import Outcome, Param, Skill, Status


class FakeWorld(World):
    control_dt = 0.1

    def __init__(self) -> None:
        self.t = 0.0
        self.fact_set = {Atom("holding", ("bot", "none")), Atom("clear", ("box",))}
        self.applied: list[Mapping[str, Any]] = []

    def facts(self) -> frozenset[Atom]:
        return frozenset(self.fact_set)

    def objects(self) -> dict[str, ObjectInfo]:
        return {"box": ObjectInfo("box", "cube"), "shelf": ObjectInfo("shelf", "surface", movable=False)}

    def agents(self) -> list[str]:
        return ["bot"]

    def render(self) -> np.ndarray:
        return np.zeros((4, 4, 3), np.uint8)

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        return {"policy": np.zeros(2, np.float32)}

    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        self.applied.append(action)

    def advance(self) -> None:
        self.t += self.control_dt

    def time(self) -> float:
        return self.t


class CountingSkill(Skill):
    """Succeeds after ``ticks`` ticks; records its lifecycle."""

    name = "count"
    description = "counts"
    params = (
        Param("obj", ("object",), "what", object_types=("cube",)),
        Param("n", ("number",), "ticks", default=3, required=False),
    )
    preconditions = ("holding(?agent, none)", "clear(?obj)")
    effects = ("holding(?agent, ?obj)",)
    log: ClassVar[list[str]] = []

    def _start(self) -> None:
        self.left = int(self.ctx.args["n"])  # type: ignore[union-attr]
        self.log.append("start")

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed:
            return failed
        self.log.append("tick")
        self.left -= 1
        return Outcome(Status.SUCCESS, value=0.5) if self.left <= 0 else Outcome(Status.RUNNING, "counting")

    def cancel(self) -> None:
        self.log.append("cancel")


def test_adapter_maps_lifecycle_and_reports_events() -> None:
    world, events = FakeWorld(), []
    ctx = TickContext(world, events.append)
    CountingSkill.log = []
    leaf = SkillBehaviour("count(box)", CountingSkill(), "bot", {"obj": "box", "n": 2}, ctx)
    leaf.tick_once()  # initialise -> start, update -> tick: RUNNING
    assert leaf.status == BT.RUNNING
    leaf.tick_once()  # tick: SUCCESS, terminate(SUCCESS)
    assert leaf.status == BT.SUCCESS and leaf.last_outcome.value == 0.5
    assert CountingSkill.log == ["start", "tick", "tick"]
    assert [e["event"] for e in events] == ["skill_start", "skill_end"] and events[1]["status"] == "success"


def test_preemption_cancels_the_running_skill() -> None:
    world = FakeWorld()
    ctx = TickContext(world)
    CountingSkill.log = []
    guard = ConditionBehaviour("holding(bot, box)?", parse_literal("holding(bot, box)"), ctx)
    leaf = SkillBehaviour("count", CountingSkill(), "bot", {"obj": "box", "n": 10}, ctx)
    root = py_trees.composites.Selector("fallback", memory=False, children=[guard, leaf])
    root.tick_once()  # guard FAILURE -> leaf RUNNING
    assert leaf.status == BT.RUNNING
    world.fact_set.add(Atom("holding", ("bot", "box")))
    ctx.new_tick()
    root.tick_once()  # guard SUCCESS -> leaf stopped with INVALID -> cancel
    assert root.status == BT.SUCCESS and CountingSkill.log[-1] == "cancel"


def test_unmet_preconditions_fail_with_reason() -> None:
    world = FakeWorld()
    world.fact_set.discard(Atom("clear", ("box",)))
    leaf = SkillBehaviour("count", CountingSkill(), "bot", {"obj": "box"}, TickContext(world))
    leaf.tick_once()
    assert leaf.status == BT.FAILURE and "clear(box)" in leaf.last_outcome.reason


def test_bad_arguments_fail_at_start_with_the_field() -> None:
    leaf = SkillBehaviour("count", CountingSkill(), "bot", {"obj": "shelf", "speed": 2}, TickContext(FakeWorld()))
    leaf.tick_once()
    assert leaf.status == BT.FAILURE
    assert "count.obj" in leaf.last_outcome.reason and "count.speed" in leaf.last_outcome.reason


def test_world_timeout_uses_world_time() -> None:
    world = FakeWorld()
    ctx = TickContext(world)
    leaf = SkillBehaviour("count", CountingSkill(), "bot", {"obj": "box", "n": 100}, ctx)
    node = WorldTimeout("timeout", leaf, seconds=0.35, ctx=ctx)
    statuses = []
    for _ in range(6):
        node.tick_once()
        statuses.append(node.status)
        world.advance()
    assert statuses[:4] == [BT.RUNNING] * 4 and statuses[4] == BT.FAILURE


def test_check_args_reports_every_problem() -> None:
    problems = CountingSkill.check_args({"obj": "ghost", "n": "many", "x": 1}, FakeWorld().objects())
    fields = sorted(p.field for p in problems)
    assert fields == ["n", "obj", "x"]
    assert any("ghost" in p.message for p in problems)


def test_library_self_description_is_valid_json_schema() -> None:
    library = SkillLibrary.for_domain("tabletop")
    described = library.json_schema()["skills"]
    assert {s["name"] for s in described} == {
        "pick",
        "place",
        "push",
        "push_learned",
        "push_around",
        "move_to",
        "open_gripper",
        "close_gripper",
    }
    for skill in described:
        jsonschema.Draft202012Validator.check_schema(skill["parameters"])
        for pred in skill["preconditions"] + skill["effects"]:
            parse_literal(pred)
    place = next(s for s in described if s["name"] == "place")
    validator = jsonschema.Draft202012Validator(place["parameters"])
    assert validator.is_valid({"obj": "red_cube", "target": "tray"})
    assert validator.is_valid({"obj": "red_cube", "target": [0.4, 0.1]})
    assert not validator.is_valid({"obj": "red_cube"})

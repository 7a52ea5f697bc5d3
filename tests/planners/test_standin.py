"""The stand-in model (a test instrument): corrupts at rate k, repairs only what a critique names."""

from __future__ import annotations

import json

import pytest

from ember.planners.goals import parse_goal
from ember.planners.llm.client import LLMReply
from ember.planners.llm.planner import LLMPlanner
from ember.planners.llm.standin import CORRUPTIONS, StandInModel
from ember.planners.llm.testing import OpenAIStubServer
from ember.planners.validate import validate


def _request(planner: LLMPlanner, world, goal: str) -> dict:  # type: ignore[no-untyped-def]
    return {
        "model": "m",
        "messages": [{"role": "user", "content": planner._user_message(goal, world, None)["content"]}],
    }


@pytest.mark.parametrize("style", ["tree", "linear"])
def test_k_zero_answers_a_valid_plan(world, skills, style: str) -> None:  # type: ignore[no-untyped-def]
    planner = LLMPlanner(skills, base_url="http://127.0.0.1:9/v1", model="m")
    reply = StandInModel(skills, k=0.0, style=style)(_request(planner, world, "stack green on red"))
    assert validate(json.loads(reply.content), skills, world) == []


def test_k_one_corrupts_every_reply_with_every_kind_over_seeds(world, skills) -> None:  # type: ignore[no-untyped-def]
    planner = LLMPlanner(skills, base_url="http://127.0.0.1:9/v1", model="m")
    kinds = set()
    for seed in range(40):
        model = StandInModel(skills, k=1.0, seed=seed, style="linear")
        goal = "stack green on red and blue on green"
        reply = model(_request(planner, world, goal))
        # The planner's own check: parse, validate, and the goal reached in a dry run.
        _, problems = planner._check(
            LLMReply(reply.content, "stop", 1, 1, 0.0, False, "m"), world, parse_goal(goal, world)
        )
        assert problems, f"seed {seed} gave a valid plan at k=1"
        kinds.add(problems[0].message.split(":")[0][:30])
    assert len(kinds) >= len(CORRUPTIONS) - 1


def test_critique_rounds_repair_it(world, skills) -> None:  # type: ignore[no-untyped-def]
    for seed in range(6):
        with OpenAIStubServer(StandInModel(skills, k=1.0, seed=seed)) as server:
            planner = LLMPlanner(skills, base_url=server.base_url, model="stand-in", critique_rounds=3, max_retries=0)
            planner.plan("stack green on red and blue on green", world)
            assert planner.calls == 2  # one corrupted reply, one repaired after the critique

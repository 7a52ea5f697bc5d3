"""The ProAgent-style Overcooked planner against the local scripted OpenAI-protocol server."""

from __future__ import annotations

import json

from ember.planners.llm.client import ChatClient
from ember.planners.llm.overcooked import SKIP_DECISIONS, CooperativeStandIn, ProAgentPlanner
from ember.planners.llm.testing import OpenAIStubServer, Scripted, StubReply
from ember.planners.overcooked import CooperativePlanner, run_episode
from ember.sims.overcooked.kitchen import OvercookedWorld
from ember.skills.library import SkillLibrary
from ember.skills.overcooked.partners import GreedyPartner

SKILLS = SkillLibrary.for_domain("overcooked")


def _reply(skill: str, args: dict | None = None, intention: str = "fetch") -> StubReply:
    return StubReply(
        content=json.dumps(
            {"belief": "partner gets onions", "partner_intention": intention, "skill": skill, "args": args or {}}
        )
    )


def test_valid_choice_is_planned_with_its_belief() -> None:
    world = OvercookedWorld("cramped_room")
    script = Scripted([_reply("fetch", {"ingredient": "onion"})])
    with OpenAIStubServer(script) as server:
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS)
        plan = planner.decide(world, 0, None)
    assert plan["root"] == {"type": "action", "skill": "fetch", "args": {"ingredient": "onion"}, "agent": "chef0"}
    assert planner.calls == 1 and planner.belief[0] == "partner gets onions"
    prompt = script.requests[0]["messages"][-1]["content"]
    assert prompt.startswith("You control chef0") and "pot_state(pot0, empty, 0)" in prompt
    assert script.requests[0]["response_format"] == {"type": "json_object"}


def test_invalid_choice_is_repaired_then_falls_back() -> None:
    world = OvercookedWorld("cramped_room")
    script = Scripted([StubReply(content="not json"), _reply("put_in_pot", {"pot": "pot0"})])
    with OpenAIStubServer(script) as server:
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS)
        plan = planner.decide(world, 1, None)
    assert plan["root"]["skill"] == "put_in_pot" and planner.calls == 2 and planner.fallbacks == 0
    assert "cannot run: the reply is not JSON" in script.requests[1]["messages"][-1]["content"]
    script = Scripted([_reply("juggle"), _reply("put_in_pot", {"pot": "pot9"})])
    with OpenAIStubServer(script) as server:
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS, fallback=CooperativePlanner(SKILLS))
        plan = planner.decide(world, 0, None)
    assert planner.fallbacks == 1 and plan["root"]["skill"] == "fetch"  # the cooperative planner's choice
    assert "skill 'juggle' is unknown" in script.requests[1]["messages"][-1]["content"]


def test_belief_is_corrected_when_the_partner_does_something_else() -> None:
    world = OvercookedWorld("cramped_room")
    script = Scripted([_reply("wait", {"ticks": 1}, intention="fetch_dish")])
    with OpenAIStubServer(script) as server:
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS)
        planner.decide(world, 0, None)
        for name in ("up", "right", "interact"):  # chef1 picks an onion from the dispenser at (4, 1)
            world.apply("chef1", name)
            world.advance()
        planner.decide(world, 0, None)
    prompt = script.requests[-1]["messages"][-1]["content"]
    assert "fetch" in prompt.split("Partner's recent behaviour:")[1]
    assert "Your belief was wrong: you expected the partner to fetch_dish, but it did fetch" in prompt
    assert planner.corrections == 1


def test_episode_through_the_stand_in_counts_model_calls() -> None:
    world = OvercookedWorld("cramped_room", horizon=120)
    standin = CooperativeStandIn(world, CooperativePlanner(SKILLS))
    with OpenAIStubServer(standin) as server:
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS)
        soups = run_episode(world, planner, (True, False), (None, GreedyPartner(0)))
    assert soups >= 1 and planner.calls == standin.requests > 5 and planner.fallbacks == 0


def test_the_llm_path_cooks_a_layouts_own_recipes_and_starts_its_pots() -> None:
    """counter_circuit orders onion-tomato soups whose pots a chef starts: the prompt lists the recipes and how pots
    start, and start_cooking validates and runs through the model's path (the stand-in answers for both chefs)."""
    world = OvercookedWorld("counter_circuit", horizon=200)
    standin = CooperativeStandIn(world, CooperativePlanner(SKILLS))
    events: list[dict] = []
    with OpenAIStubServer(standin) as server:
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS)
        soups = run_episode(world, planner, on_event=events.append)
    assert soups >= 2 and planner.fallbacks == 0
    assert any(e["event"] == "skill_start" and e["skill"] == "start_cooking" for e in events)
    assert world.kitchen.score >= soups * min(v for v, _ in world.kitchen.recipes.values())
    prompt = planner._prompt(world, 0, None)
    assert "Recipes: onion + onion + tomato: 55 points, cooks 37 ticks" in prompt and "start_cooking" in prompt


def test_read_critic_learns_and_revises_only_low_scored_proposals() -> None:
    from ember.planners.overcooked_critic import ReAdPlanner, train_critic

    critic, stats = train_critic("cramped_room", SKILLS, episodes=4, seed=0)
    assert stats["samples"] > 200 and stats["mse"] < stats["target_var"]  # it explains part of the variance
    world = OvercookedWorld("cramped_room")
    script = Scripted([_reply("wait", {"ticks": 1}), _reply("fetch", {"ingredient": "onion"})])
    with OpenAIStubServer(script) as server:
        llm = ProAgentPlanner(ChatClient(server.base_url, "stub"), SKILLS)
        never = ReAdPlanner(llm, critic, threshold=-1e9)
        assert never.decide(world, 0, None)["root"]["skill"] == "wait" and never.calls == 1 and never.revisions == 0
        always = ReAdPlanner(llm, critic, threshold=1e9)
        plan = always.decide(world, 0, None)
    assert always.revisions == 1 and plan["root"]["skill"] == "fetch" and llm.calls == 3
    assert "A critic trained on rollouts scores your proposal" in script.requests[-1]["messages"][-1]["content"]


def test_an_endpoint_that_cannot_answer_ends_the_run_unless_there_is_a_fallback() -> None:
    import pytest

    from ember.planners.llm.client import LLMError

    world = OvercookedWorld("cramped_room")
    with OpenAIStubServer(Scripted([StubReply(status=500)])) as server:  # transient: three decisions, then stop
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub", max_retries=0), SKILLS)
        for _ in range(2):
            assert planner.decide(world, 0, None)["root"]["skill"] == "wait"
        with pytest.raises(LLMError, match="server"):
            planner.decide(world, 0, None)
    with OpenAIStubServer(Scripted([StubReply(raw_body="<html>")])) as server:  # not an endpoint: at once
        planner = ProAgentPlanner(ChatClient(server.base_url, "stub", max_retries=0), SKILLS)
        with pytest.raises(LLMError, match="malformed"):
            planner.decide(world, 0, None)
        helped = ProAgentPlanner(
            ChatClient(server.base_url, "stub", max_retries=0), SKILLS, fallback=CooperativePlanner(SKILLS)
        )
        assert helped.decide(world, 0, None)["root"]["skill"] != "wait" and helped.fallbacks == 1
        # ... and is not asked again for a while: a dead endpoint cost every decision its retries (80 s for 50 ticks)
        calls = helped.calls
        for _ in range(10):
            helped.decide(world, 0, None)
        assert helped.calls == calls and helped.fallbacks == 11 and helped.skip == SKIP_DECISIONS - 10

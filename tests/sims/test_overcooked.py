"""Overcooked backend: the standard rules checked on hand-written joint actions, the world and parallel APIs, every
shipped layout, partners."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from helpers import SOUP_BY_CHEF0

from ember.sims.overcooked.kitchen import (
    ACTION_NAMES,
    CLASSIC_LAYOUTS,
    Kitchen,
    OvercookedParallelEnv,
    OvercookedWorld,
    layouts,
)
from ember.sims.world import WorldError
from ember.skills.overcooked.partners import GreedyPartner, RandomPartner, StayPartner, make_partner, play


def test_a_soup_cooked_and_delivered_scores_exactly_20_at_the_right_tick() -> None:
    kitchen = Kitchen("cramped_room")
    rewards, pots = [], []
    for name in SOUP_BY_CHEF0:
        r, _ = kitchen.step((name, "stay"))
        rewards.append(sum(r))
        pots.append(kitchen.pot_state((2, 0)))
    assert pots[5] == ("filling", 1) and pots[10] == ("filling", 2)
    assert pots[15] == ("cooking", 19)  # the third onion starts the 20-tick cook by itself
    assert pots[33] == ("cooking", 1) and pots[34] == ("ready", 0)
    assert pots[35] == ("empty", 0)  # picked up with the dish
    assert rewards == [0] * 39 + [20] and kitchen.delivered == 1 and kitchen.score == 20


def test_soup_cannot_be_picked_up_before_it_is_ready() -> None:
    kitchen = Kitchen("cramped_room")
    early = [*SOUP_BY_CHEF0[:23], "interact"]  # dish in hand, pot still cooking
    for name in early:
        kitchen.step((name, "stay"))
    assert kitchen.state.players[0].held_object.name == "dish"
    assert kitchen.pot_state((2, 0))[0] == "cooking"


def test_world_facts_objects_actions_and_errors() -> None:
    world = OvercookedWorld("cramped_room")
    for name in SOUP_BY_CHEF0[:3]:
        world.apply("chef0", name)
        world.advance()
    facts = {str(f) for f in world.facts()}
    assert {"holding(chef0, onion)", "holding(chef1, none)", "pot_state(pot0, empty, 0)", "delivered(0)"} <= facts
    objects = world.objects()
    assert objects["pot0"].type == "pot" and objects["serving0"].position[:2] == (3.0, 3.0)
    assert world.time() == 3.0 and world.agents() == ["chef0", "chef1"]
    assert world.render().shape == (4 * 24, 5 * 24, 3)
    assert world.observe("chef1")["policy"].ndim == 1
    with pytest.raises(WorldError, match="must be one of"):
        world.apply("chef0", "jump")
    with pytest.raises(WorldError, match="agent 'chef2' is unknown"):
        world.apply("chef2", "stay")
    with pytest.raises(WorldError, match="layout 'kitchen_nightmare' is unknown"):
        OvercookedWorld("kitchen_nightmare")


def test_every_shipped_layout_loads_or_is_refused_by_name() -> None:
    names = layouts()
    assert set(CLASSIC_LAYOUTS) <= set(names)
    refused: list[str] = []
    for name in names:
        try:
            kitchen = Kitchen(name, horizon=5)
        except WorldError as err:
            assert "; Ember's kitchens have 2" in str(err) or "infinite bonus" in str(err), str(err)
            refused.append(name)
            continue
        for _ in range(5):
            kitchen.step(("interact", "stay"))
        assert kitchen.done
    assert len(refused) == 5, refused  # 1- and 4-chef layouts, and tutorial_3's infinite bonus


@pytest.mark.parametrize("layout", ["counter_circuit", "cramped_room_tomato", "simple_tomato", "tutorial_1"])
def test_the_cooperative_planner_cooks_the_layouts_own_recipes(layout: str) -> None:
    """Layouts that order other soups than three onions: tomato soups, 1- and 2-ingredient soups whose pots a chef
    starts (``start_cooking``, the package's own rules), bonus orders. Every delivery is on the layout's orders (a
    soup worth 0 would mean a wrong recipe), and a pot that does not start by itself is started by a chef."""
    from ember.planners.overcooked import CooperativePlanner, run_episode
    from ember.skills.library import SkillLibrary

    world = OvercookedWorld(layout)
    events: list[dict] = []
    soups = run_episode(world, CooperativePlanner(SkillLibrary.for_domain("overcooked")), on_event=events.append)
    assert soups >= 5
    values = sorted({v for v, _ in world.kitchen.recipes.values()})
    assert world.kitchen.score >= soups * values[0]  # no worthless soup among them
    started = [e for e in events if e["event"] == "skill_start" and e["skill"] == "start_cooking"]
    assert bool(started) == (not world.kitchen.auto_cook)
    facts = {str(f) for f in world.facts()}
    assert any(f.startswith("pot_contents(") for f in facts) or all("empty" in f for f in facts if "pot_state" in f)


@pytest.mark.parametrize("layout", ["cramped_room_tomato", "simple_tomato", "soup_coordination", "tutorial_1"])
def test_the_greedy_partner_cooks_the_layouts_own_recipes(layout: str) -> None:
    """The greedy human model fills pots towards the layout's recipes, fetches tomatoes where they are ordered and
    starts the pots that do not start by themselves (it made no soup on these layouts when it knew onions only)."""
    kitchen = Kitchen(layout)
    soups = play(kitchen, (GreedyPartner(0), GreedyPartner(1)))
    assert soups >= 1, layout
    values = sorted({v for v, _ in kitchen.recipes.values()})
    assert kitchen.score >= soups * values[0]  # every soup on the layout's orders


def test_the_greedy_partner_starts_a_whole_recipe_and_does_not_spoil_it() -> None:
    from overcooked.mdp.overcooked_mdp import ObjectState, SoupState

    kitchen = Kitchen("cramped_room_tomato")  # one pot; onion + tomato is its best order
    (pot,) = kitchen.pots
    kitchen.state.objects[pot] = SoupState.get_soup(pot, num_onions=1, num_tomatoes=1)
    assert GreedyPartner.targets(kitchen, 0) == [pot]  # empty-handed: start it
    kitchen.state.players[0].set_object(ObjectState("onion", kitchen.state.players[0].position))
    targets = GreedyPartner.targets(kitchen, 0)
    assert pot not in targets and set(targets) <= set(kitchen.counters)  # a third ingredient would spoil it


def test_parallel_env_follows_the_pettingzoo_convention() -> None:
    env = OvercookedParallelEnv("asymmetric_advantages", horizon=10, render_mode="ansi")
    obs, infos = env.reset(seed=0)
    assert env.agents == ["chef0", "chef1"] and set(obs) == set(infos) == set(env.agents)
    assert obs["chef0"].shape == env.observation_space("chef0").shape
    for _ in range(10):
        obs, rewards, terms, truncs, infos = env.step({"chef0": 4, "chef1": np.int64(5)})
        assert set(rewards) == {"chef0", "chef1"} and not any(terms.values())
    assert all(truncs.values()) and env.agents == []
    assert "t=10/10" in env.render()
    with pytest.raises(WorldError, match="episode is over"):
        env.step({"chef0": 4})
    env.reset()
    with pytest.raises(WorldError, match=r"actions\['chef0'\] must be an index"):
        env.step({"chef0": 9})
    assert len(ACTION_NAMES) == env.action_space("chef0").n


def test_partners(tmp_path: Path) -> None:
    kitchen = Kitchen("cramped_room")
    start = tuple(kitchen.state.players[1].position)
    assert play(kitchen, (StayPartner(), StayPartner())) == 0
    assert tuple(kitchen.state.players[1].position) == start
    frames: list[np.ndarray] = []
    play(kitchen, (GreedyPartner(0), GreedyPartner(1)), frames)
    assert len(frames) == 400
    iio.imwrite(tmp_path / "episode.gif", np.stack(frames[:40]), duration=100, loop=0)
    assert iio.imread(tmp_path / "episode.gif", index=None).shape[0] > 10
    assert play(kitchen, (RandomPartner(0), RandomPartner(1))) <= 1
    soups = [play(kitchen, (GreedyPartner(s), GreedyPartner(s + 100))) for s in range(3)]
    assert np.mean(soups) >= 7  # the overcooked-ai greedy pair makes 9.0 here
    with pytest.raises(ValueError, match="partner 'genius' is unknown"):
        make_partner("genius")


@pytest.mark.parametrize("layout", CLASSIC_LAYOUTS)
def test_skills_reach_their_targets_on_every_classic_layout(layout: str) -> None:
    """One chef runs fetch -> put_in_pot on its nearest reachable pot, then fetch_dish, while the other chef waits in
    the kitchen (an obstacle that steps aside when the first comes next to it)."""
    from ember.skills.library import SkillLibrary
    from ember.skills.overcooked.partners import reachable_cells
    from ember.skills.skill import Status

    skills = SkillLibrary.for_domain("overcooked")
    world = OvercookedWorld(layout)
    k = world.kitchen
    for chef in (0, 1):
        world.reset()
        region = reachable_cells(k, chef)
        pots = [
            p for p in k.pots if any((p[0] + dx, p[1] + dy) in region for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)))
        ]
        onions = k.mdp.get_onion_dispenser_locations()
        if not pots or not any(
            any((o[0] + dx, o[1] + dy) in region for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0))) for o in onions
        ):
            continue  # forced_coordination: this chef cannot do it alone
        pot_name = f"pot{k.pots.index(pots[0])}"
        waiting = skills["wait"]()
        waiting.start(world, f"chef{1 - chef}", ticks=1000)
        for name, args in (("fetch", {"ingredient": "onion"}), ("put_in_pot", {"pot": pot_name}), ("fetch_dish", {})):
            skill = skills[name]()
            skill.start(world, f"chef{chef}", **args)
            for _ in range(80):
                outcome = skill.tick()
                if outcome.status != Status.RUNNING:
                    break
                waiting.tick()
                world.advance()
            assert outcome.status == Status.SUCCESS, (layout, chef, name, outcome.reason)
        assert f"pot_state({pot_name}, filling, 1)" in {str(f) for f in world.facts()}


def test_skill_failures_name_the_reason() -> None:
    from ember.skills.library import SkillLibrary
    from ember.skills.skill import Status

    skills = SkillLibrary.for_domain("overcooked")
    world = OvercookedWorld("forced_coordination")
    # chef0 (left half) cannot reach the onion dispensers on the right... or the pots: whichever it lacks is named.
    outcomes = []
    for name, args in (("fetch", {"ingredient": "onion"}), ("fetch_dish", {}), ("deliver", {})):
        skill = skills[name]()
        skill.start(world, "chef0", **args)
        outcomes.append((name, skill.tick()))
    assert any(o.status == Status.FAILURE and "can be reached" in o.reason for _, o in outcomes[:2])
    assert outcomes[2][1].status == Status.FAILURE and "preconditions not met" in outcomes[2][1].reason


def test_cooperative_planner_makes_soups_where_greedy_pairs_deadlock() -> None:
    from ember.planners.overcooked import CooperativePlanner, run_episode
    from ember.skills.library import SkillLibrary

    planner = CooperativePlanner(SkillLibrary.for_domain("overcooked"))
    for layout in ("coordination_ring", "forced_coordination"):
        world = OvercookedWorld(layout)
        assert play(world.kitchen, (GreedyPartner(0), GreedyPartner(1))) == 0
        events: list[dict] = []
        assert run_episode(world, planner, on_event=events.append, seed=0) >= 5, layout
        plans = [e for e in events if e["event"] == "skill_start"]
        assert {e["agent"] for e in plans} == {"chef0", "chef1"}
    # One seat beside a greedy partner, the other way round.
    world = OvercookedWorld("cramped_room")
    assert run_episode(world, planner, (False, True), (GreedyPartner(3), None), seed=1) >= 7


@pytest.mark.parametrize(
    ("layout", "at_least"),
    [("corridor", 2), ("small_corridor", 3), ("bottleneck", 8), ("scenario1_s", 8), ("m_shaped_s", 4)],
)
def test_cooperative_planner_gives_way_in_one_cell_corridors_and_dead_ends(layout: str, at_least: int) -> None:
    """Kitchens where the chefs' routes cross in a one-cell corridor or dead end: stepping aside at random deadlocked
    them (0 soups on every one of these before); giving way to a refuge off the other's route, and splitting a bare
    path between the two chefs, keeps soups coming."""
    from ember.planners.overcooked import CooperativePlanner, run_episode
    from ember.skills.library import SkillLibrary

    planner = CooperativePlanner(SkillLibrary.for_domain("overcooked"))
    assert run_episode(OvercookedWorld(layout), planner, seed=0) >= at_least


def test_a_chef_backs_into_the_nearest_refuge_off_the_other_chefs_route() -> None:
    """Head on in small_corridor's one-cell hallway (row 3, open upwards at x = 1-2 and 10-11): the chef nearer a
    cell off the other's route backs towards it, the other keeps its route; a chef waiting on the other's only route
    steps off it; beside a chef that publishes no intent (a partner) nothing changes."""
    from ember.skills.overcooked.traffic import negotiate, publish

    k = Kitchen("small_corridor")
    players = k.state.players
    publish(k, 0, {(10, 3)})  # chef0 heads right, chef1 left
    publish(k, 1, {(1, 3)})
    players[0].position, players[1].position = (4, 3), (6, 3)  # chef0 is 3 cells from the left way out
    assert (negotiate(k, 0), negotiate(k, 1)) == ("left", None)
    players[0].position, players[1].position = (8, 3), (9, 3)  # chef1 is 2 cells from the right one
    assert (negotiate(k, 0), negotiate(k, 1)) == (None, "right")
    players[0].position, players[1].position = (5, 3), (9, 3)
    publish(k, 0, set())  # chef0 waits in the hallway
    assert negotiate(k, 0) == "left"
    k.intent.pop(1)
    assert negotiate(k, 0) is None


def test_soups_worth_other_than_20_still_count_as_soups() -> None:
    """forced_coordination_tomato keeps its own recipe values (three tomatoes 15, the others 10, all cooking 10
    ticks): a delivery is one soup whatever it is worth, and the planner cooks the most valuable one."""
    from ember.planners.overcooked import CooperativePlanner, run_episode
    from ember.skills.library import SkillLibrary

    world = OvercookedWorld("forced_coordination_tomato")
    soups = run_episode(world, CooperativePlanner(SkillLibrary.for_domain("overcooked")), seed=0)
    assert soups >= 5 and world.kitchen.score == 15 * soups


def test_on_a_bare_path_the_cells_beyond_the_other_chef_are_out_of_reach() -> None:
    """m_shaped_s's floor is one path of five cells: the chefs can never pass, so each reaches only its side of the
    other (elsewhere the other chef is ignored: it moves)."""
    from ember.skills.overcooked.partners import reachable_cells

    k = Kitchen("m_shaped_s")
    k.state.players[0].position, k.state.players[1].position = (1, 2), (3, 2)
    assert reachable_cells(k, 0) == {(1, 1), (1, 2), (2, 2)}
    assert reachable_cells(k, 1) == {(2, 2), (3, 2), (3, 1)}
    assert len(reachable_cells(Kitchen("cramped_room"), 0)) == 6  # a room: both chefs reach every floor cell

"""Minecraft against the real local server (flying-squid started by the tests, stopped after them): spawn, mine dirt,
fell a planted tree, the crafting chain to a wooden pickaxe through mineflayer's bot.craft, skill failure reasons,
a hand-over between two bots, reconnect after a server restart, chat beliefs, ``ember run``. The planners offline:
tests/planners/test_minecraft_planning.py."""

from __future__ import annotations

import itertools
import math
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ember.planners.executor import Executor
from ember.planners.minecraft import RecipePlanner, parse_goal
from ember.sims.minecraft.data import game_data
from ember.sims.minecraft.scenarios import Scenario, lay_out, make_scenario
from ember.sims.minecraft.server import MinecraftServer, ServerError
from ember.sims.minecraft.world import MinecraftWorld
from ember.sims.predicates import Atom
from ember.sims.world import WorldError
from ember.skills.library import SkillLibrary
from ember.skills.skill import Status

pytestmark = pytest.mark.slow
_SEEDS = itertools.count(100)


@pytest.fixture(scope="module")
def server() -> Iterator[MinecraftServer]:
    with MinecraftServer() as srv:
        yield srv
    assert srv.proc is None


@pytest.fixture(scope="module")
def data() -> Any:
    return game_data("1.20.4")


@pytest.fixture(scope="module")
def skills() -> SkillLibrary:
    return SkillLibrary.for_domain("minecraft")


def _world(
    server: MinecraftServer, names: list[str], trees: int = 0, obstacles: int = 0
) -> tuple[MinecraftWorld, Scenario]:
    world = MinecraftWorld(port=server.port, bots=names, server=server)
    scenario = make_scenario(next(_SEEDS), names, trees=trees, obstacles=obstacles)
    if not lay_out(server, world, scenario):  # chunks, the block scan and emptied inventories arrive
        states = [world.state(n) for n in names]
        world.close()
        raise AssertionError(f"bots {names} never saw scenario {scenario.seed} after 3 layouts: {states}")
    return world, scenario


def _run(world: MinecraftWorld, skills: SkillLibrary, agent: str, name: str, seconds: float = 90, **args: Any) -> Any:
    skill = skills[name]()
    skill.start(world, agent, **args)
    end = world.time() + seconds
    while world.time() < end:
        outcome = skill.tick()
        if outcome.status != Status.RUNNING:
            return outcome
        world.advance()
    skill.cancel()
    raise AssertionError(f"{name} still running after {seconds} s")


def test_server_starts_answers_and_refuses_bad_requests(server: MinecraftServer) -> None:
    assert server.running and server.port and server.port != server.control_port
    assert server.control("ping")["version"] == "1.20.4"
    with pytest.raises(ServerError, match="unknown block"):
        server.control("set_block", x=0, y=5, z=0, block="unobtainium")
    with pytest.raises(ServerError, match="x must be a number"):
        server.control("get_block", x="left", y=5, z=0)
    with pytest.raises(ServerError, match="unknown op"):
        server.control("explode")


def test_crafting_grid_matches_minecraft_data_recipes(server: MinecraftServer) -> None:
    def match(grid: list[str | None], size: int) -> Any:
        return server.control("craft_match", grid=grid, size=size)

    assert match(["oak_log", None, None, None], 2) == {"item": "oak_planks", "count": 4}
    assert match([None, None, None, "oak_log"], 2) == {"item": "oak_planks", "count": 4}  # anywhere in the grid
    assert match(["oak_planks"] * 4, 2) == {"item": "crafting_table", "count": 1}
    assert match([None, "oak_planks", None, "oak_planks"], 2) == {"item": "stick", "count": 4}
    pickaxe = ["oak_planks", "oak_planks", "oak_planks", None, "stick", None, None, "stick", None]
    assert match(pickaxe, 3) == {"item": "wooden_pickaxe", "count": 1}
    axe = ["oak_planks", "oak_planks", None, "oak_planks", "stick", None, None, "stick", None]
    mirrored = ["oak_planks", "oak_planks", None, "stick", "oak_planks", None, "stick", None, None]
    assert match(axe, 3) == {"item": "wooden_axe", "count": 1}
    assert match([None, *mirrored[:2], None, *mirrored[3:5], None, mirrored[6], None], 3) == {
        "item": "wooden_axe",
        "count": 1,
    }
    assert match(["stick", "oak_planks", None, None], 2) is None


def test_spawn_facts_and_bad_connections(server: MinecraftServer) -> None:
    world, scenario = _world(server, ["spawner"])
    try:
        facts = {str(f) for f in world.facts()}
        assert "online(spawner)" in facts and "near(spawner, grass_block)" in facts
        x, y, z = world.state("spawner")["position"]
        sx, sy, sz = scenario.spawns["spawner"]
        assert abs(x - sx - 0.5) < 1.5 and abs(z - sz - 0.5) < 1.5 and y == sy
        assert world.render().shape[2] == 3 and world.observe("spawner")["policy"].shape[0] == 5 + len(world.watched)
        with pytest.raises(WorldError, match="unknown"):
            world.state("ghost")
        with pytest.raises(WorldError, match="must be"):
            world.apply("spawner", {"jump": True})
    finally:
        world.close()
    with pytest.raises(WorldError, match=r"could not join 127\.0\.0\.1:1 "):
        MinecraftWorld(port=1, bots=["nobody"], connect_timeout=5)
    with pytest.raises(WorldError, match="3-16 letters"):
        MinecraftWorld(port=server.port, bots=["x y"])


def test_mine_dirt_fell_a_tree_and_craft_a_wooden_pickaxe(
    server: MinecraftServer, skills: SkillLibrary, data: Any
) -> None:
    world, _ = _world(server, ["miner"], trees=1)
    try:
        assert _run(world, skills, "miner", "mine", block="grass_block", count=3).status == Status.SUCCESS
        assert world.facts() >= {Atom("has", ("miner", "dirt", 3))}
        assert "near(miner, oak_log)" in {str(f) for f in world.facts()}
        # The crafting chain, planned from the goal and run through the executor: logs -> planks -> sticks ->
        # crafting table (placed) -> wooden pickaxe, every craft by mineflayer's own bot.craft.
        planner = RecipePlanner(data)
        goal = parse_goal("craft a wooden pickaxe", data)
        plan = planner.plan(goal, world.facts(), "miner")
        used = [c["skill"] for c in plan["root"]["children"]]
        assert used[0] == "mine" and "place" in used and used[-1] == "craft"
        events: list[dict] = []
        result = Executor(world, skills, on_event=events.append, max_seconds=150).run(
            plan,
            planner.goal_literals(goal, "miner"),
            replan=lambda _: planner.plan(goal, world.facts(), "miner"),
            max_replans=2,
        )
        assert result.success, result.reason
        inventory = world.state("miner")["inventory"]
        assert inventory["wooden_pickaxe"] == 1 and inventory["dirt"] == 3
        assert server.control("inventory", player="miner") == inventory  # client and server agree
        assert "near(miner, crafting_table)" in {str(f) for f in world.facts()}
    finally:
        world.close()


def test_crafts_whose_partial_grids_match_nothing(server: MinecraftServer, skills: SkillLibrary) -> None:
    """A stone pickaxe, a stone axe and a furnace: one cobblestone in the grid matches no recipe (one plank does:
    a button), and mineflayer's bot.craft waits for the result slot after every grid click — the server must send
    it unchanged, as vanilla does (before, every cobblestone recipe timed out)."""
    world, _ = _world(server, ["mason"])
    try:
        for item, count in (("crafting_table", 1), ("stick", 4), ("cobblestone", 14)):
            server.control("give", player="mason", item=item, count=count)
        assert _run(world, skills, "mason", "place", block="crafting_table").status == Status.SUCCESS
        for item in ("stone_pickaxe", "stone_axe", "furnace"):
            out = _run(world, skills, "mason", "craft", seconds=30, item=item)
            assert out.status == Status.SUCCESS, (item, out.reason)
        assert server.control("inventory", player="mason") == {"stone_pickaxe": 1, "stone_axe": 1, "furnace": 1}
    finally:
        world.close()


def test_skills_fail_with_reasons(server: MinecraftServer, skills: SkillLibrary) -> None:
    world, _ = _world(server, ["failer"])
    try:
        out = _run(world, skills, "failer", "mine", block="diamond_ore", count=1)
        assert out.status == Status.FAILURE and "no diamond_ore in reach" in out.reason
        out = _run(world, skills, "failer", "craft", item="wooden_pickaxe")
        assert out.status == Status.FAILURE and "missing ingredients" in out.reason and "oak_planks" in out.reason
        out = _run(world, skills, "failer", "place", block="crafting_table")
        assert out.status == Status.FAILURE and "no crafting_table in the inventory" in out.reason
        slow = skills["explore"](timeout=1.0)
        slow.start(world, "failer", block="oak_log", distance=40)
        while (outcome := slow.tick()).status == Status.RUNNING:
            world.advance()
        assert "timeout after 1 s" in outcome.reason
        world.advance()
        assert world.state("failer")["task"]["error"] == "cancelled"  # the task stopped with the skill
    finally:
        world.close()


def test_two_bots_hand_over_an_item(server: MinecraftServer, skills: SkillLibrary) -> None:
    world, _ = _world(server, ["giver", "taker"])
    try:
        server.control("give", player="giver", item="oak_planks", count=5)
        for _ in range(10):
            world.advance()
        out = _run(world, skills, "giver", "give", item="oak_planks", count=3, player="taker")
        assert out.status == Status.SUCCESS, out.reason
        assert world.state("taker")["inventory"].get("oak_planks") == 3
        assert world.state("giver")["inventory"].get("oak_planks") == 2
    finally:
        world.close()


def test_a_bot_places_a_station_next_to_a_waiting_teammate(server: MinecraftServer, skills: SkillLibrary) -> None:
    """The team planner's station help: one bot walks over and places a crafting table next to another, whose
    ``wait_near`` ends once the table is within reach of its crafting."""
    world, scenario = _world(server, ["maker", "crafter"])
    try:
        x, y, z = scenario.spawns["crafter"]
        server.control("teleport", player="crafter", x=x + 8, y=y, z=z + 3)
        server.control("give", player="maker", item="crafting_table", count=1)
        for _ in range(10):
            world.advance()
        waiter = skills["wait_near"]()
        waiter.start(world, "crafter", block="crafting_table")
        for _ in range(5):
            assert waiter.tick().status == Status.RUNNING
            world.advance()
        out = _run(world, skills, "maker", "place", block="crafting_table", player="crafter")
        assert out.status == Status.SUCCESS, out.reason
        for _ in range(40):
            if waiter.tick().status != Status.RUNNING:
                break
            world.advance()
        assert waiter.tick().status == Status.SUCCESS
        for _ in range(30):  # the block scan refreshes once a second
            world.advance()
        table = world.state("crafter")["blocks"].get("crafting_table")
        where = world.state("crafter")["position"]
        assert table is not None and math.dist((table[0], table[2]), (where[0], where[2])) <= 4.5
        assert "crafting_table" not in world.state("maker")["inventory"]
        assert skills["wait_near"]().check_args({"block": "crafting_table"}, None) == []
    finally:
        world.close()


def test_bots_reconnect_after_a_server_restart_and_the_plan_resumes(
    server: MinecraftServer, skills: SkillLibrary, data: Any
) -> None:
    world, _ = _world(server, ["phoenix"])
    try:
        deadline = time.monotonic() + 60  # on a loaded machine the chunks and the first scan can take a while
        while "near(phoenix, grass_block)" not in {str(f) for f in world.facts()} and time.monotonic() < deadline:
            world.advance()
        assert "near(phoenix, grass_block)" in {str(f) for f in world.facts()}, world.state("phoenix")
        skill = skills["mine"]()
        skill.start(world, "phoenix", block="grass_block", count=50)
        world.advance()
        server.restart()
        outcome = skill.tick()
        for _ in range(100):
            if outcome.status != Status.RUNNING:
                break
            world.advance()
            outcome = skill.tick()
        assert outcome.status == Status.FAILURE and "disconnected" in outcome.reason
        for _ in range(200):  # back online under the same name within 10 s
            world.advance()
            if "online(phoenix)" in {str(f) for f in world.facts()}:
                break
        assert "online(phoenix)" in {str(f) for f in world.facts()} and world.reconnects >= 1
        planner = RecipePlanner(data)
        goal = parse_goal("collect 2 dirt", data)
        result = Executor(world, skills, max_seconds=60).run(
            planner.plan(goal, world.facts(), "phoenix"), planner.goal_literals(goal, "phoenix")
        )
        assert result.success, result.reason
    finally:
        world.close()


def test_node_side_installs_nothing_at_run_time() -> None:
    """The bridge resolves from the project's node_modules; package-lock.json pins every package."""
    from ember.sims.minecraft.node import node_modules, project_root

    lock = (project_root() / "package-lock.json").read_text()
    for name in ("flying-squid", "mineflayer", "mineflayer-pathfinder", "minecraft-data"):
        assert f'"node_modules/{name}"' in lock and (node_modules() / name).is_dir()
    files = ["package.json", "package-lock.json"]
    out = subprocess.run(["git", "status", "--porcelain", *files], cwd=project_root(), capture_output=True, text=True)
    assert out.stdout == ""  # running the suite changed neither file


def test_chat_updates_each_bots_beliefs_about_the_others(
    server: MinecraftServer, skills: SkillLibrary, data: Any
) -> None:
    from ember.planners.minecraft_team import Beliefs

    world, _ = _world(server, ["talker", "listener"])
    try:
        for message in ("doing: 2 wooden_pickaxe, 4 dirt", "doing: ∞ of ☃, 3 unobtainium", "need: 3 oak_log"):
            assert _run(world, skills, "talker", "chat", message=message).status == Status.SUCCESS
        beliefs = Beliefs("listener", data)
        for _ in range(40):
            world.advance()
            beliefs.update(world)
            if "believes_need(talker, oak_log, 3)" in {str(f) for f in beliefs.facts()}:
                break
        facts = {str(f) for f in beliefs.facts()}
        # The malformed line changed nothing it could not read; the well-formed ones hold.
        assert "believes_doing(talker, wooden_pickaxe, 2)" not in facts  # replaced by the later "doing" line
        assert "believes_need(talker, oak_log, 3)" in facts and beliefs.ignored == 2
        assert beliefs.about["talker"].said == "need: 3 oak_log"
    finally:
        world.close()


def _ember_run(tmp_path: Any, *args: str) -> subprocess.CompletedProcess[str]:
    import sys

    cmd = [sys.executable, "-m", "ember.launch.cli", "run", "task=minecraft", "progress=false", *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _servers_left() -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in out if "sims/minecraft/js/server.js" in line]


def test_ember_run_learns_a_skill_and_reuses_it(tmp_path: Any) -> None:
    import json

    before = _servers_left()
    store = tmp_path / "store.json"
    common = [f"skill_store={store}", "task.trees=0", "task.obstacles=0", "video=false"]
    first = _ember_run(tmp_path, 'goal="collect 2 dirt"', "hydra.run.dir=first", *common)
    assert first.returncode == 0, first.stderr[-2000:]
    metrics = json.loads((tmp_path / "first" / "metrics.json").read_text())
    assert metrics["success"] and (tmp_path / "first" / "server.log").stat().st_size > 0
    assert json.loads(store.read_text())["skills"][0]["name"] == "collect_2_dirt"
    second = _ember_run(tmp_path, 'goal="gather two dirt"', "hydra.run.dir=second", "seed=1", *common)
    assert second.returncode == 0, second.stderr[-2000:]
    plan = json.loads((tmp_path / "second" / "plan.json").read_text())
    assert plan["root"]["skill"] == "collect_2_dirt"  # the learned skill, retrieved by similarity
    assert json.loads((tmp_path / "second" / "metrics.json").read_text())["success"]
    assert json.loads(store.read_text())["skills"][0]["uses"] == 1
    assert _servers_left() == before  # the run stopped the server it started


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (['goal="craft a flux capacitor"'], "'flux' is not a Minecraft item"),
        (['goal="craft sticks"', "task.host=127.0.0.1", "task.port=1"], "could not join 127.0.0.1:1"),
    ],
)
def test_ember_run_refuses_bad_input(tmp_path: Any, args: list[str], needle: str) -> None:
    proc = _ember_run(tmp_path, *args, "skill_store=null", "task.trees=0", "task.obstacles=0")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert needle in proc.stderr


def test_llm_planner_plans_minecraft_through_the_scripted_endpoint(
    server: MinecraftServer, skills: SkillLibrary, tmp_path: Any
) -> None:
    """The LLM path end to end against the local stand-in endpoint: a reply with an unknown skill is sent back
    with the problem, the repaired tree runs on the real server; the model saw beliefs and the learned skills."""
    import json

    from ember.planners.llm.minecraft import MinecraftLLMPlanner
    from ember.planners.llm.testing import OpenAIStubServer, Scripted, StubReply
    from ember.skills.composite import SkillStore

    store = tmp_path / "store.json"
    SkillStore(store).add("collect 5 dirt", {"version": 1, "root": {"type": "action", "skill": "mine",
                          "args": {"block": "grass_block", "count": 5}}}, "minecraft")  # fmt: skip
    bad = {"goal": "collect 2 dirt", "root": {"type": "action", "skill": "teleport", "args": {}, "agent": "thinker"}}
    dig = {"type": "action", "skill": "mine", "args": {"block": "grass_block", "count": 2}, "agent": "thinker"}
    good = {"goal": "collect 2 dirt", "root": {"type": "sequence", "children": [dig]}}
    script = Scripted([StubReply(json.dumps(bad)), StubReply(json.dumps(good))])
    world, _ = _world(server, ["thinker"])
    try:
        with OpenAIStubServer(script) as endpoint:
            planner = MinecraftLLMPlanner(skills, base_url=endpoint.base_url, model="stand-in", store=str(store))
            library = planner.extend_library(skills)
            plan = planner.plan("collect 2 dirt", world)
            literals = planner.goal_literals("collect 2 dirt", world)
            result = Executor(world, library, max_seconds=60).run(plan, literals)
        assert result.success, result.reason
        assert [str(g) for g in literals] == ["has(thinker, dirt, 2)"] and planner.calls == 2
        first = json.loads(script.requests[0]["messages"][1]["content"].split("```json\n")[1].split("\n```")[0])
        assert first["learned_skills"][0]["name"] == "collect_5_dirt" and "beliefs" in first
        assert "teleport" in script.requests[1]["messages"][-1]["content"]  # the critique named the bad skill
    finally:
        world.close()


def test_a_stuck_bot_asks_for_help_and_teammates_believe_it(
    server: MinecraftServer, skills: SkillLibrary, data: Any
) -> None:
    from ember.planners.minecraft_team import Beliefs

    world, _ = _world(server, ["stuck", "buddy"])  # no trees anywhere near
    try:
        out = _run(world, skills, "stuck", "mine", block="oak_log", count=3)
        assert out.status == Status.FAILURE and "no oak_log in reach" in out.reason
        out = _run(world, skills, "stuck", "craft", item="crafting_table")
        assert "missing ingredients" in out.reason
        beliefs = Beliefs("buddy", data)
        for _ in range(40):
            world.advance()
            beliefs.update(world)
            if "believes_need(stuck, oak_planks, 4)" in {str(f) for f in beliefs.facts()}:
                break
        facts = {str(f) for f in beliefs.facts()}
        assert {"believes_need(stuck, oak_log, 3)", "believes_need(stuck, oak_planks, 4)"} <= facts
    finally:
        world.close()

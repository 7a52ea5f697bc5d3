"""Minecraft against the real local server (flying-squid started by the tests, stopped after them): spawn, mine dirt,
fell a planted tree, the crafting chain to a wooden pickaxe through mineflayer's bot.craft, skill failure reasons,
a hand-over between two bots, reconnect after a server restart; the recipe planner and goal parser offline."""

from __future__ import annotations

import itertools
import math
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ember.planners.executor import Executor
from ember.planners.minecraft import GoalItem, PlanningError, RecipePlanner, parse_goal
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


def test_goal_parser_reads_words_and_predicates(data: Any) -> None:
    def read(text: str) -> list[tuple[str, int]]:
        return [(g.item, g.count) for g in parse_goal(text, data)]

    assert read("collect 3 oak logs") == [("oak_log", 3)]
    assert read("craft a wooden pickaxe") == [("wooden_pickaxe", 1)]
    assert read("Collect 5 dirt") == [("dirt", 5)]
    assert read("we need a wooden pickaxe and 10 dirt") == [("wooden_pickaxe", 1), ("dirt", 10)]
    assert read("craft two wooden pickaxes") == [("wooden_pickaxe", 2)]
    assert read("get 4 sticks") == [("stick", 4)]
    assert read("has(bot0, oak_log, 3), has(bot0, stick, 2)") == [("oak_log", 3), ("stick", 2)]
    assert read("has(bot0, oak_log, 3) & has(bot0, dirt, 2)") == [("oak_log", 3), ("dirt", 2)]
    assert read("collect 3 oak logs then craft a wooden pickaxe") == [("oak_log", 3), ("wooden_pickaxe", 1)]
    bad_goals = [
        ("", "empty"),
        ("craft a flux capacitor", "'flux' is not a Minecraft item"),
        ("on(a, b)", r"has\(agent, item, count\)"),
        ("has(bot0, unobtainium, 2)", "not a Minecraft item"),
        ("not has(bot0, dirt, 1)", "'not' cannot be planned"),
        ("has(bot0, oak_log, 3.5)", "is not an object id"),
        ("has(bot0, oak_log, 3))", "does not parse"),
        ("craft 0 sticks", "a count must be 1 to 2304"),
        ("craft -3 sticks", "'-3' is negative"),
        ("craft 99999999999999999999 sticks", "a count must be 1 to 2304"),
        ("craft 3 3 sticks", "two counts in a row"),
    ]
    for bad, needle in bad_goals:
        with pytest.raises(PlanningError, match=needle):
            parse_goal(bad, data)
    with pytest.raises(PlanningError, match=r"'bot7' is not one of this run's bots \['bot0'\]"):
        parse_goal("has(bot7, dirt, 1)", data, ["bot0"])


def test_recipe_planner_plans_from_what_is_held_and_near(data: Any) -> None:
    planner = RecipePlanner(data)
    near = frozenset({Atom("near", ("b", "oak_log")), Atom("near", ("b", "grass_block"))})

    def steps(text: str, facts: frozenset[Atom] = near) -> list[tuple[str, Any]]:
        return [(s.skill, next(iter(s.args.values()))) for s in planner.steps(parse_goal(text, data), facts, "b")]

    pickaxe = steps("craft a wooden pickaxe")
    assert pickaxe[0] == ("mine", "oak_log") and ("place", "crafting_table") in pickaxe
    assert pickaxe[-1] == ("craft", "wooden_pickaxe")
    # 3 planks + 2 sticks (2 planks) + a table (4 planks) = 9 planks = 3 logs, dug in one go.
    assert planner.steps(parse_goal("craft a wooden pickaxe", data), near, "b")[0].args == {
        "block": "oak_log",
        "count": 3,
    }
    assert steps("collect 5 dirt") == [("mine", "grass_block")]  # buried dirt is not near; grass drops dirt
    with_table = near | {Atom("near", ("b", "crafting_table"))}
    assert ("place", "crafting_table") not in steps("craft a wooden pickaxe", with_table)
    held = frozenset({Atom("has", ("b", "oak_planks", 3)), Atom("has", ("b", "stick", 2))}) | with_table
    assert steps("craft a wooden pickaxe", held) == [("craft", "wooden_pickaxe")]
    assert steps("collect 3 oak logs", frozenset()) == [("explore", "oak_log"), ("mine", "oak_log")]
    assert (
        planner.steps(parse_goal("collect 3 oak logs", data), frozenset({Atom("has", ("b", "oak_log", 5))}), "b") == []
    )
    # Unseen goals: only blocks a world generates are explored for (coal_ore for the torch's coal, not coal_block or a
    # placed wall_torch), a near block's tool counts in the cost (cobblestone is dug with a wooden pickaxe, not a stone
    # one made first), and what needs smelting is refused with the missing ingredient named.
    torches = steps("craft 4 torches")
    assert ("explore", "coal_ore") in torches and ("mine", "coal_ore") in torches and torches[-1] == ("craft", "torch")
    assert not any(arg in ("coal_block", "wall_torch", "stone_pickaxe") for _, arg in torches)
    with_stone = near | {Atom("near", ("b", "cobblestone"))}
    stone = steps("craft a stone pickaxe", with_stone)
    assert stone.index(("craft", "wooden_pickaxe")) < stone.index(("mine", "cobblestone")) and stone[-1] == (
        "craft",
        "stone_pickaxe",
    )
    with pytest.raises(PlanningError, match=r"iron_pickaxe can be neither.*smelting.*need iron_ingot"):
        steps("craft an iron pickaxe", with_stone)


def test_every_item_of_the_game_plans_or_is_refused_with_a_reason(data: Any) -> None:
    """Goals nobody wrote a test for: each of the game's items either plans or raises PlanningError (the costs are a
    fixed point over the recipe graph; recursing over recipes took minutes on the dyes and wools)."""
    planner = RecipePlanner(data)
    near = frozenset({Atom("near", ("b", "oak_log")), Atom("near", ("b", "grass_block"))})
    planned = 0
    for item in sorted(data.items):
        try:
            steps = planner.steps([GoalItem(item, 1)], near, "b")
        except PlanningError as err:
            assert any(why in str(err) for why in ("can be neither", "needed to make itself", "needs one of")), err
            continue
        planned += 1
        assert all(s.skill in ("mine", "craft", "place", "explore") for s in steps)
    assert planned > 500
    wool = [(s.skill, s.args) for s in planner.steps(parse_goal("craft 2 magenta wool", data), near, "b")]
    assert wool[-1] == ("craft", {"item": "magenta_wool", "count": 2})


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
        (["task.host=127.0.0.1", "task.port=1"], "could not join 127.0.0.1:1"),
    ],
)
def test_ember_run_refuses_bad_input(tmp_path: Any, args: list[str], needle: str) -> None:
    proc = _ember_run(tmp_path, *args, "skill_store=null", "task.trees=0", "task.obstacles=0")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert needle in proc.stderr


class _SeenWorld:
    """A world stub for planning: facts, and which teammates each bot sees."""

    version = "1.20.4"

    def __init__(self, facts: frozenset[Atom], sees: dict[str, list[str]]) -> None:
        self._facts, self.sees = facts, sees

    def facts(self) -> frozenset[Atom]:
        return self._facts

    def agents(self) -> list[str]:
        return list(self.sees)

    def state(self, bot: str) -> dict[str, Any]:
        return {"players": {b: [0, 0, 0] for b in self.sees[bot]}, "online": self.sees[bot]}


def test_per_bot_planning_divides_like_the_team_when_bots_know_the_same(data: Any) -> None:
    from ember.planners.minecraft_team import MinecraftPlanner, PlanningError

    bots = ["bot0", "bot1"]
    facts = frozenset(
        {Atom("online", (b,)) for b in bots} | {Atom("near", (b, k)) for b in bots for k in ("oak_log", "grass_block")}
    )
    both = _SeenWorld(facts, {"bot0": ["bot1"], "bot1": ["bot0"]})
    goal = "craft two wooden pickaxes"
    central = MinecraftPlanner(store=None).plan(goal, both)
    per_bot = MinecraftPlanner(store=None, planning="per_bot").plan(goal, both)
    assert per_bot == central  # each bot's own view gives the same division: no plan is sent between them
    # bot1 is offline: bot0 plans the goal alone.
    alone = _SeenWorld(facts - {Atom("online", ("bot1",))}, {"bot0": [], "bot1": []})
    root = MinecraftPlanner(store=None, planning="per_bot").plan(goal, alone)["root"]
    assert root["type"] == "sequence" and {c["agent"] for c in root["children"]} == {"bot0"}
    assert root["children"][-1]["skill"] == "craft" and "give" not in [c["skill"] for c in root["children"]]
    with pytest.raises(PlanningError, match="choose central or per_bot"):
        MinecraftPlanner(store=None, planning="gossip")


def test_team_planner_divides_work_and_hands_results_to_the_leader(data: Any) -> None:
    from ember.planners.minecraft_team import TeamPlanner

    team = TeamPlanner(data)
    bots = ["bot0", "bot1"]
    near = frozenset({Atom("near", (b, k)) for b in bots for k in ("oak_log", "grass_block")})

    def branches(text: str, facts: frozenset[Atom] = near) -> dict[str, list[tuple[str, Any]]]:
        root = team.plan(parse_goal(text, data), facts, bots)["root"]
        seqs = root["children"] if root["type"] == "parallel" else [root]
        return {s["children"][0]["agent"]: [(c["skill"], c["args"]) for c in s["children"]] for s in seqs}

    split = branches("we need a wooden pickaxe and 10 dirt")
    assert ("craft", {"item": "wooden_pickaxe", "count": 1}) in split["bot0"]
    assert split["bot1"][-1] == ("give", {"item": "dirt", "count": 10, "player": "bot0"})
    assert split["bot1"][0] == ("chat", {"message": "doing: 10 dirt"})  # its share, for the others' beliefs
    # Two pickaxes cost one bot barely more than one (3 logs either way): the leader makes both from 2 logs while
    # the other makes the crafting table from the third and places it next to the leader, who waits for it.
    two = branches("craft two wooden pickaxes")
    assert ("mine", {"block": "oak_log", "count": 2}) in two["bot0"]
    waits = two["bot0"].index(("wait_near", {"block": "crafting_table"}))
    assert two["bot0"][waits + 1] == ("craft", {"item": "wooden_pickaxe", "count": 2})
    assert all(step[0] != "place" for step in two["bot0"])
    assert two["bot1"][1:] == [
        ("mine", {"block": "oak_log", "count": 1}),
        ("craft", {"item": "oak_planks", "count": 4}),
        ("craft", {"item": "crafting_table", "count": 1}),
        ("place", {"block": "crafting_table", "player": "bot0"}),
    ]
    # Three: the second bot makes one and hands it over.
    three = branches("craft three wooden pickaxes")
    assert three["bot1"][-1] == ("give", {"item": "wooden_pickaxe", "count": 1, "player": "bot0"})
    # An idle bot gathers part of a long dig for the busy one, which waits for the hand-over before crafting.
    from ember.planners.minecraft import GoalItem, Step

    dig = Step("mine", {"block": "oak_log", "count": 6}, "bot0")
    planned = {"bot0": [dig, Step("craft", {"item": "stick", "count": 4}, "bot0")]}
    gather = team._helpers(planned, {"bot0": [GoalItem("stick", 4)]}, near, bots, {})
    assert [c["skill"] for c in gather[0]["children"]] == ["chat", "mine", "give"]
    share = gather[0]["children"][1]["args"]["count"]
    assert share >= 1 and planned["bot0"][0].args["count"] == 6 - share
    assert planned["bot0"][1] == Step("wait_for", {"item": "oak_log", "count": 6}, "bot0")
    # A bot with no tree near gets no digging; what the leader holds already is not made again.
    only0 = frozenset({Atom("near", ("bot0", "oak_log")), Atom("near", ("bot1", "grass_block"))})
    assert all(a.get("block") != "oak_log" for _, a in branches("collect 4 oak logs", only0).get("bot1", []))
    # A bot left idle hands over what it holds that the busy one would otherwise make (here 2 planks: a log
    # fewer to dig), and the busy one waits for them before its first craft.
    lone = frozenset({Atom("near", ("bot0", "oak_log")), Atom("has", ("bot1", "oak_planks", 2))})
    handed = branches("craft a wooden pickaxe", lone)
    assert handed["bot1"] == [("chat", {"message": "have: 2 oak_planks"}),
                              ("give", {"item": "oak_planks", "count": 2, "player": "bot0"})]  # fmt: skip
    assert ("mine", {"block": "oak_log", "count": 2}) in handed["bot0"]
    first_craft = next(k for k, (skill, _) in enumerate(handed["bot0"]) if skill == "craft")
    assert handed["bot0"][first_craft - 1] == ("wait_for", {"item": "oak_planks", "count": 2})
    # A help request wins over the busiest bot: the helper's dirt goes to the bot that asked for dirt.
    three_bots = ["bot0", "bot1", "bot2"]
    busy = {
        "bot0": [Step("mine", {"block": "oak_log", "count": 6}, "bot0")],
        "bot2": [Step("mine", {"block": "grass_block", "count": 4}, "bot2")],
    }
    shares = {"bot0": [GoalItem("oak_log", 6)], "bot2": [GoalItem("dirt", 4)]}
    holds = frozenset({Atom("has", ("bot1", "dirt", 4)), *(Atom("near", (b, "grass_block")) for b in three_bots)})
    gather = team._helpers(busy, shares, holds, three_bots, {"bot2": {"dirt": 4}})
    assert [(c["skill"], c["args"].get("player")) for c in gather[0]["children"]] == [("chat", None), ("give", "bot2")]
    assert busy["bot2"] == [Step("wait_for", {"item": "dirt", "count": 4}, "bot2")]  # nothing left to dig
    held = near | {Atom("has", ("bot0", "wooden_pickaxe", 1))}
    done = team.plan(parse_goal("craft a wooden pickaxe", data), held, bots)["root"]
    assert done == {
        "type": "action",
        "skill": "wait_for",
        "args": {"item": "wooden_pickaxe", "count": 1},
        "agent": "bot0",
    }


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

"""The learned-skill store (Voyager-style): add from successful trees, retrieve by text, persist atomically, refuse a
broken file, and replay a stored program as a skill — on a backend other than Minecraft (the tabletop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.skills.composite import SkillStore, StoreError, tokens
from ember.skills.library import SkillLibrary
from ember.skills.skill import Status


def act(skill: str, agent: str | None = None, **args: object) -> dict:
    node = {"type": "action", "skill": skill, "args": args}
    return {**node, "agent": agent} if agent else node


def seq(*children: dict) -> dict:
    return {"type": "sequence", "children": list(children)}


PICKAXE = {
    "version": 1,
    "root": {
        "type": "parallel",
        "children": [
            seq(
                act("chat", "bot1", message="doing: 1 wooden_pickaxe"),
                act("mine", "bot1", block="oak_log", count=3),
                act("give", "bot1", item="oak_log", count=3, player="bot0"),
            ),
            seq(act("craft", "bot0", item="wooden_pickaxe", count=1)),
        ],
    },
}


def test_tokens_fold_plurals_and_underscores() -> None:
    assert tokens("Collect 3 oak_logs, two PICKAXES") == ["collect", "3", "oak", "log", "two", "pickax"]
    assert tokens("boxes glass") == ["box", "glass"]


def test_store_learns_retrieves_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "skills.json"
    store = SkillStore(path)
    entry = store.add("craft a wooden pickaxe", PICKAXE, "minecraft", agent="bot0")
    assert entry is not None and entry.name == "craft_a_wooden_pickaxe"
    # The performer's branch first, chat dropped, and the hand-over to the performer itself dropped: one agent
    # replaying the program does all of it.
    assert [s["skill"] for s in entry.steps] == ["craft", "mine"]
    store.add("collect 5 dirt", {"version": 1, "root": act("mine", block="grass_block", count=5)}, "minecraft")
    stack = seq(act("pick", obj="green_cube"), act("place", obj="green_cube", target="red_cube"))
    store.add("stack green on red", {"version": 1, "root": stack}, "tabletop")
    assert (
        store.add("say hello", {"version": 1, "root": {"type": "action", "skill": "chat", "args": {}}}, "minecraft")
        is None
    )
    assert [e.name for e, _ in store.search("make me a pickaxe", domain="minecraft")] == ["craft_a_wooden_pickaxe"]
    assert store.search("dirt please", domain="minecraft")[0][0].name == "collect_5_dirt"
    assert store.search("green cube on the red one")[0][0].domain == "tabletop"  # one store for every backend
    assert store.search("launch the rocket", domain="minecraft") == []
    again = SkillStore(path)  # reloaded from disk
    assert sorted(e.name for e in again) == sorted(e.name for e in store) and len(again) == 3
    again.record_use("collect_5_dirt", success=True)
    assert SkillStore(path).entries["collect_5_dirt"].uses == 1


def test_a_broken_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "skills.json"
    path.write_text('{"version": 1, "skills": [{"name": "x"')
    with pytest.raises(StoreError, match=r"cannot be read.*nothing was changed"):
        SkillStore(path)
    assert path.read_text().endswith('"x"')
    path.write_text(
        '{"version": 1, "skills": [{"name": "x", "description": "", "domain": "d", "goal": "g", "steps": []}]}'
    )
    with pytest.raises(StoreError, match="no valid steps"):
        SkillStore(path)


def test_a_stored_program_runs_as_a_skill_on_the_tabletop(world, skills: SkillLibrary) -> None:  # type: ignore[no-untyped-def]
    store = SkillStore()
    plan = {
        "version": 1,
        "root": {
            "type": "sequence",
            "children": [
                {"type": "action", "skill": "pick", "args": {"obj": "green_cube"}},
                {"type": "action", "skill": "place", "args": {"obj": "green_cube", "target": "red_cube"}},
            ],
        },
    }
    store.add("stack green on red", plan, "tabletop")
    library = store.library(skills, "tabletop")
    learned = library["stack_green_on_red"]
    assert "learned: stack green on red: pick(green_cube)" in learned.description
    skill = learned()
    skill.start(world, world.agents()[0])
    for _ in range(3000):
        outcome = skill.tick()
        if outcome.status != Status.RUNNING:
            break
        world.advance()
    assert outcome.status == Status.SUCCESS, outcome.reason
    assert "on(green_cube, red_cube)" in {str(f) for f in world.facts()}
    bad = SkillStore()
    bad.add("broken", {"version": 1, "root": {"type": "action", "skill": "teleport", "args": {}}}, "tabletop")
    broken = bad.library(skills, "tabletop")["broken"]()
    broken.start(world, world.agents()[0])
    assert "unknown skill 'teleport'" in broken.tick().reason

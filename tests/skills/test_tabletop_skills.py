"""Scripted tabletop skills on the real PyBullet sim, run leaf by leaf (no planner)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import make_world

from ember.sims.predicates import Atom
from ember.sims.world import ObjectInfo
from ember.skills.skill import Outcome, Skill, Status
from ember.skills.tabletop.geometry import best_grasp_yaw, free_spot, grasp_yaw
from ember.skills.tabletop.skills import MoveTo, Pick, Place, Push

pytestmark = pytest.mark.slow


def _run(world, skill: Skill, max_ticks: int = 600, **args) -> Outcome:  # type: ignore[no-untyped-def]
    skill.start(world, "panda", **args)
    for _ in range(max_ticks):
        outcome = skill.tick()
        if outcome.status != Status.RUNNING:
            return outcome
        world.advance()
    raise AssertionError(f"{skill.name} still running after {max_ticks} ticks")


def test_pick_then_place_at_a_table_position() -> None:
    with make_world(seed=21) as world:
        assert _run(world, Pick(), obj="red_cube").status == Status.SUCCESS
        assert Atom("holding", ("panda", "red_cube")) in world.facts()
        assert world.objects()["red_cube"].position[2] > 0.75  # lifted
        assert _run(world, Place(), obj="red_cube", target=[0.45, -0.05]).status == Status.SUCCESS
        pos = np.array(world.objects()["red_cube"].position)
        assert np.linalg.norm(pos[:2] - [0.45, -0.05]) < 0.02
        assert Atom("on", ("red_cube", "table")) in world.facts()
        assert world.scene.bc.getNumConstraints() == 0


def test_push_moves_the_cube_to_the_goal() -> None:
    with make_world(seed=0) as world:
        start = np.array(world.objects()["red_cube"].position[:2])
        goal = start + np.array([0.03, 0.12])
        assert _run(world, Push(), obj="red_cube", position=goal.tolist()).status == Status.SUCCESS
        assert np.linalg.norm(np.array(world.objects()["red_cube"].position[:2]) - goal) < Push.tolerance


def test_failures_say_why() -> None:
    with make_world(seed=22) as world:
        out = _run(world, Place(), obj="red_cube", target="tray")
        assert out.status == Status.FAILURE and "holding(panda, red_cube)" in out.reason
    with make_world(seed=23, arrangement={"tower": ["red_cube", "blue_cube"]}) as world:
        out = _run(world, Pick(), obj="red_cube")
        assert out.status == Status.FAILURE and "clear(red_cube)" in out.reason


def test_move_to_reaches_a_pose() -> None:
    with make_world(seed=24) as world:
        assert _run(world, MoveTo(), position=[0.4, 0.2, 0.9], yaw=0.3).status == Status.SUCCESS
        assert np.linalg.norm(world.ee_pose("panda")[0] - [0.4, 0.2, 0.9]) < 0.01


def test_grasp_yaw_folds_cube_symmetry() -> None:
    for yaw in (0.1, 0.1 + math.pi / 2, 0.1 - math.pi, -0.7):
        quat = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
        folded = grasp_yaw(quat)
        assert -math.pi / 4 <= folded <= math.pi / 4
        assert math.isclose((yaw - folded) % (math.pi / 2), 0.0, abs_tol=1e-9) or math.isclose(
            (yaw - folded) % (math.pi / 2), math.pi / 2, abs_tol=1e-9
        )


def test_grasp_keeps_fingers_off_a_wall() -> None:
    objects = {
        "c": ObjectInfo("c", "cube", position=(0.5, 0.12, 0.65)),
        "tray": ObjectInfo("tray", "surface", movable=False, attributes={"footprint": (0.35, 0.65, 0.15, 0.45)}),
    }
    yaw = best_grasp_yaw("c", objects, opening=0.068)
    # The tray wall runs along x just beyond the cube: fingers must open along x (yaw +-90 degrees), not towards it.
    assert math.isclose(abs(yaw), math.pi / 2, abs_tol=1e-6)


def test_free_spot_avoids_cubes_and_is_deterministic() -> None:
    table = ObjectInfo("table", "surface", movable=False, attributes={"free_area": (0.35, 0.62, -0.3, 0.12)})
    cubes = {f"c{i}": ObjectInfo(f"c{i}", "cube", position=(0.4 + 0.05 * i, 0.0, 0.65)) for i in range(3)}
    spot = free_spot(table, {**cubes, "table": table})
    assert spot is not None and spot == free_spot(table, {**cubes, "table": table})
    assert min(math.dist(spot, c.position[:2]) for c in cubes.values()) >= 0.08


def test_free_spot_in_a_tray_keeps_off_its_rim() -> None:
    """With two cubes in the tray the spot farthest from them was the free area's corner, where the fingers landed on
    the rim (the third cube stopped 2.6 cm above the floor): the spot keeps a margin from the area's edge."""
    tray = ObjectInfo("tray", "surface", movable=False, attributes={"free_area": (0.38, 0.62, 0.18, 0.42)})
    cubes = {
        "red": ObjectInfo("red", "cube", position=(0.457, 0.342, 0.66)),
        "blue": ObjectInfo("blue", "cube", position=(0.459, 0.26, 0.66)),
    }
    spot = free_spot(tray, {**cubes, "tray": tray})
    assert spot is not None
    assert min(spot[0] - 0.38, 0.62 - spot[0], spot[1] - 0.18, 0.42 - spot[1]) >= 0.05
    assert min(math.dist(spot, c.position[:2]) for c in cubes.values()) >= 0.1


@pytest.mark.parametrize(("cubes", "arrangement", "seed"), [(3, "mixed", 3), (4, "scattered", 0)])
def test_every_cube_goes_into_the_tray(cubes: int, arrangement: str, seed: int) -> None:
    from ember.launch.episode import run_episode

    colors = ["red", "green", "blue", "yellow"][:cubes]
    task = {"name": "tabletop", "cubes": colors, "tray": True, "max_seconds": 120.0, "arrangement": arrangement}
    metrics = run_episode(task, {"name": "symbolic"}, "put every cube in the tray", seed=seed, max_replans=0)
    assert metrics["success"], metrics["reason"]

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_world

from ember.sims.predicates import Atom
from ember.sims.pybullet.scene import SceneConfigError
from ember.sims.world import WorldError

CUBES = ("red_cube", "green_cube", "blue_cube")


def _on(facts: frozenset[Atom]) -> dict[str, str]:
    return {str(f.args[0]): str(f.args[1]) for f in facts if f.name == "on"}


def test_scattered_cubes_rest_on_the_table_and_are_clear() -> None:
    with make_world(seed=3) as w:
        facts = w.facts()
        assert _on(facts) == dict.fromkeys(CUBES, "table")
        assert all(Atom("clear", (c,)) in facts for c in CUBES)
        assert Atom("holding", ("panda", "none")) in facts
        assert {o.type for o in w.objects().values()} == {"cube", "surface"}


def test_tower_arrangement_is_reported_as_a_stack() -> None:
    with make_world(seed=1, arrangement={"tower": ["blue_cube", "red_cube", "green_cube"]}) as w:
        on = _on(w.facts())
        assert on == {"blue_cube": "table", "red_cube": "blue_cube", "green_cube": "red_cube"}
        assert Atom("clear", ("red_cube",)) not in w.facts()
        assert Atom("clear", ("green_cube",)) in w.facts()


def test_tray_and_mixed_arrangements() -> None:
    with make_world(seed=2, arrangement="tray") as w:
        assert set(_on(w.facts()).values()) == {"tray"}
    with make_world(seed=4, arrangement="mixed") as w:
        supports = set(_on(w.facts()).values())
        assert "tray" in supports and "table" in supports


def test_same_seed_same_world_other_seed_other_world() -> None:
    with make_world(seed=7) as a, make_world(seed=7) as b, make_world(seed=8) as c:
        assert a.scene.state_dict() == b.scene.state_dict()
        assert a.scene.state_dict() != c.scene.state_dict()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"arrangement": "pyramid"}, "arrangement must be one of"),
        ({"arrangement": {"tower": ["pink_cube"]}}, "pink_cube"),
        ({"arrangement": {"tower": ["red_cube"], "tray": ["red_cube"]}}, "twice"),
        ({"cubes": ("red", "magenta")}, "magenta"),
        ({"arrangement": "tray", "tray": False}, "tray=false"),
    ],
)
def test_bad_scene_settings_name_the_field(overrides: dict, message: str) -> None:
    with pytest.raises(SceneConfigError, match=message):
        make_world(**overrides)


def test_apply_validates_actions(world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WorldError, match="agent 'robot2'"):
        world.apply("robot2", {"ee_pos": [0.5, 0, 0.8]})
    with pytest.raises(WorldError, match="unknown"):
        world.apply("panda", {"teleport": [0, 0, 0]})
    with pytest.raises(WorldError, match="ee_pos"):
        world.apply("panda", {"ee_pos": [0.5, 0.0]})
    with pytest.raises(WorldError, match="at most one"):
        world.apply("panda", {"ee_pos": [0.5, 0, 0.8], "joint_pos": [0] * 7})
    with pytest.raises(WorldError, match="gripper"):
        world.apply("panda", {"gripper": 0.5})


def test_apply_advance_moves_the_grasp_point(world) -> None:  # type: ignore[no-untyped-def]
    target = np.array([0.5, 0.1, 0.85])
    t0 = world.time()
    for _ in range(60):
        world.apply("panda", {"ee_pos": target, "ee_yaw": 0.0})
        world.advance()
    assert world.time() == pytest.approx(t0 + 60 * world.control_dt)
    assert np.linalg.norm(world.ee_pose("panda")[0] - target) < 0.01


def test_observe_groups_and_render(world) -> None:  # type: ignore[no-untyped-def]
    obs = world.observe("panda")
    assert obs["policy"].shape == (9 + 9 + 3 + 3 * 3,)
    assert obs["critic"].shape[0] > obs["policy"].shape[0]
    image = world.render()
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8 and image.std() > 5

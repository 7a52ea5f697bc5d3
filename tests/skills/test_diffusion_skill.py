"""The committed diffusion-policy skill: world observations match the env's, and it runs in a behavior tree planned
by the symbolic planner."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import make_world

from ember.planners.executor import Executor
from ember.planners.symbolic import SymbolicPlanner
from ember.planners.validate import validate
from ember.sims.pybullet.tabletop_env import TabletopVecEnv
from ember.sims.world import WorldError
from ember.skills.learned import ArtifactError
from ember.skills.library import SkillLibrary
from ember.skills.skill import Status
from ember.skills.tabletop.diffusion import PushAround


def test_world_observation_matches_the_push_obstacle_env() -> None:
    env = TabletopVecEnv(task="push_obstacle", num_envs=1, obs_noise=0.0, seed=3)
    obs, _ = env.reset(seed=3)
    scene = env.scenes[0]
    post = scene.obstacle_xy()
    with make_world(cubes=("red",), tray=False, obs_noise=0.0, obstacle=post.tolist()) as world:
        q, _ = scene.joint_state()
        for joint, value in zip((*range(7), 9, 10), q, strict=True):
            world.scene.bc.resetJointState(world.scene.robot, joint, float(value), 0.0)
        pos, quat = scene.cube_pose("red_cube")
        world.scene.bc.resetBasePositionAndOrientation(world.scene.cube_ids["red_cube"], pos, quat)
        mine = world.observe_task("panda", "push_obstacle", "red_cube", env._targets[0][:2])
        assert np.allclose(mine["policy"], obs["policy"][0].numpy(), atol=1e-5)
        assert mine["critic"].shape == (env.critic_dim,)
        assert world.objects()["post"].type == "obstacle"
    env.close()
    with make_world(cubes=("red",)) as world, pytest.raises(WorldError, match="needs a post"):
        world.observe_task("panda", "push_obstacle", "red_cube", [0.5, 0.0])


def test_spots_and_bad_world_arguments() -> None:
    with make_world(cubes=("red",), tray=False, spots={"spot": [0.5, 0.1]}) as world:
        world.displace("red_cube", [0.51, 0.11])
        world.advance()
        assert "at(red_cube, spot)" in {str(f) for f in world.facts()}
        assert world.objects()["spot"].type == "spot"
    with pytest.raises(WorldError, match=r"spots\.spot must be \[x, y\]"):
        make_world(spots={"spot": [0.5]})
    with pytest.raises(WorldError, match="taken by other objects"):
        make_world(spots={"tray": [0.5, 0.1]})
    with pytest.raises(WorldError, match="obstacle must be"):
        make_world(obstacle="middle")


def test_missing_checkpoint_is_named() -> None:
    with make_world(cubes=("red",), tray=False, obstacle=[0.5, -0.05], spots={"spot": [0.5, 0.08]}) as world:
        skill = PushAround(checkpoint="/nonexistent/policy.pt")
        with pytest.raises(ArtifactError, match="is missing"):
            skill.start(world, "panda", obj="red_cube", spot="spot")


@pytest.mark.slow
def test_symbolic_plan_runs_the_diffusion_skill_in_a_tree() -> None:
    """Goal at(red_cube, spot) with the post in between, on the first 16 layouts the push_obstacle env draws: the
    planner picks push_around, the tree runs the committed policy chunk by chunk, and the goal fact is what the world
    reports. The policy succeeds on about two thirds of such layouts (bench/diffusion.py), so at least half must.
    (With four layouts the check hung on one or two outcomes: a fresh install on 2026-11-26 solved 1 of the first 4,
    at commits that had passed, and 10 of the first 16.)"""
    skills = SkillLibrary.for_domain("tabletop")
    env = TabletopVecEnv(task="push_obstacle", num_envs=1)
    solved, layouts, unconfirmed = 0, 16, []
    for seed in range(layouts):
        row = env.reset(seed=seed)[0]["critic"][0].numpy()
        cube, goal, post = row[25:27].tolist(), row[21:23].tolist(), row[23:25].tolist()
        with make_world(cubes=("red",), tray=False, obstacle=post, spots={"spot": goal}) as world:
            world.displace("red_cube", cube)
            plan = SymbolicPlanner(skills).plan("at(red_cube, spot)", world)
            assert validate(plan, skills, world) == []
            assert '"skill": "push_around"' in json.dumps(plan)
            events: list[dict] = []
            result = Executor(world, skills, on_event=events.append, max_seconds=30).run(plan)
            assert any(e["event"] == "skill_start" and e["skill"] == "push_around" for e in events)
            if result.status == "success":
                # Known defect (2026-11-26, layout 15): the tree can report success and the cube then settle out
                # of the spot's tolerance; such a run does not count as solved.
                if "at(red_cube, spot)" in {str(f) for f in world.facts()}:
                    solved += 1
                else:
                    unconfirmed.append(seed)
            else:  # the skill ran out of time, or the cube was knocked where a condition of the plan no longer holds
                assert "push_around" in result.reason or "condition failed" in result.reason, result.reason
    env.close()
    assert solved >= layouts // 2, f"{solved} of {layouts} layouts solved; success without the goal fact: {unconfirmed}"


def test_push_around_outcome_when_the_policy_cannot_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PushAround, "max_seconds", 0.5)
    with make_world(cubes=("red",), tray=False, obstacle=[0.5, -0.06], spots={"spot": [0.52, 0.07]}) as world:
        world.displace("red_cube", [0.49, -0.18])
        skill = PushAround()
        skill.start(world, "panda", obj="red_cube", spot="spot")
        for _ in range(600):
            outcome = skill.tick()
            if outcome.status != Status.RUNNING:
                break
            world.advance()
        assert outcome.status == Status.FAILURE and "from spot after 0.5 s" in outcome.reason

"""Policies as skills: artifact round trip, observation parity with the training env, values in Outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import make_world

from ember.sims.pybullet.assets import scene_hash
from ember.sims.pybullet.tabletop_env import TabletopVecEnv
from ember.skills.learned import ArtifactError, load_artifact
from ember.skills.learning.export import save_skill_artifact
from ember.skills.learning.sac import SAC
from ember.skills.skill import Status
from ember.skills.tabletop.learned import LearnedPush


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    """A briefly trained SAC push policy (its quality does not matter here, only the plumbing)."""
    env = TabletopVecEnv(task="push", num_envs=2, max_episode_length=20, seed=0)
    algo = SAC(env.policy_dim, env.critic_dim, 4, -torch.ones(4), torch.ones(4), learning_starts=40, batch_size=32)
    obs, _ = env.reset(seed=0)
    for _ in range(40):
        nxt, r, te, tr, ex = env.step(algo.act(obs))
        algo.process_env_step(nxt, r, te, tr, ex)
        algo.update()
        obs = nxt
    env.close()
    folder = tmp_path / "push"
    save_skill_artifact(
        algo,
        env.policy_dim,
        env.critic_dim,
        folder,
        {"task": "push", "control": "ee_delta", "ee_step": 0.02, "scene_hash": scene_hash()},
    )
    load_artifact.cache_clear()
    return folder


def test_world_observation_matches_the_training_env_layout() -> None:
    env = TabletopVecEnv(task="push", num_envs=1, obs_noise=0.0, seed=4)
    obs, _ = env.reset(seed=4)
    scene = env.scenes[0]
    with make_world(cubes=("red",), tray=False, obs_noise=0.0) as world:
        q, _ = scene.joint_state()
        for joint, value in zip((*range(7), 9, 10), q, strict=True):
            world.scene.bc.resetJointState(world.scene.robot, joint, float(value), 0.0)
        pos, quat = scene.cube_pose("red_cube")
        world.scene.bc.resetBasePositionAndOrientation(world.scene.cube_ids["red_cube"], pos, quat)
        goal = env._targets[0][:2]
        mine = world.observe_task("panda", "push", "red_cube", goal)
    assert mine["policy"].shape == (env.policy_dim,) and mine["critic"].shape == (env.critic_dim,)
    assert np.allclose(mine["policy"], obs["policy"][0].numpy(), atol=1e-5)
    env.close()


def test_learned_push_runs_in_the_world_and_reports_values(artifact: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LearnedPush, "max_seconds", 1.0)
    with make_world(seed=2) as world:
        skill = LearnedPush(artifact=str(artifact))
        start = np.array(world.objects()["red_cube"].position[:2])
        skill.start(world, "panda", obj="red_cube", position=(start + np.array([0.1, 0.0])).tolist())
        outcomes = []
        for _ in range(400):
            outcomes.append(skill.tick())
            if outcomes[-1].status != Status.RUNNING:
                break
            world.advance()
        # A scripted approach (no value) hands over to the policy, which reports its critic's value every tick.
        first = next(i for i, o in enumerate(outcomes) if o.value is not None)
        assert first > 0 and all(isinstance(o.value, float) for o in outcomes[first:-1])
        ee, _ = world.ee_pose("panda")
        assert ee[2] < world.objects()["table"].position[2] + 0.12
        assert outcomes[-1].status == Status.FAILURE and "not done after 1.0 s" in outcomes[-1].reason
        done = LearnedPush(artifact=str(artifact))
        done.start(world, "panda", obj="red_cube", position=list(world.objects()["red_cube"].position[:2]))
        assert done.tick().status == Status.SUCCESS


def test_artifact_for_another_scene_is_refused(artifact: Path) -> None:
    meta = json.loads((artifact / "meta.json").read_text())
    (artifact / "meta.json").write_text(json.dumps({**meta, "scene_hash": "0123456789abcdef"}))
    load_artifact.cache_clear()
    with make_world(seed=2) as world, pytest.raises(ArtifactError, match="retrain"):
        LearnedPush(artifact=str(artifact)).start(world, "panda", obj="red_cube", position=[0.5, 0.0])
    load_artifact.cache_clear()
    with pytest.raises(ArtifactError, match=r"no meta\.json"):
        load_artifact(str(artifact.parent / "missing"))


@pytest.mark.slow
def test_committed_learned_push_runs_in_a_behavior_tree_next_to_scripted_skills() -> None:
    """Pick and place (scripted), then the learned push with the scripted push as its fallback; the learned skill's
    critic values reach the trace."""
    from ember.planners.executor import Executor
    from ember.skills.library import SkillLibrary

    skills = SkillLibrary.for_domain("tabletop")
    with make_world(seed=8, cubes=("red", "green")) as world:
        spot = [0.45, -0.15]
        goal = [0.55, -0.12]
        plan = {
            "root": {
                "type": "sequence",
                "children": [
                    {"type": "action", "skill": "pick", "args": {"obj": "red_cube"}},
                    {"type": "action", "skill": "place", "args": {"obj": "red_cube", "target": spot}},
                    {
                        "type": "fallback",
                        "children": [
                            {"type": "action", "skill": "push_learned", "args": {"obj": "red_cube", "position": goal}},
                            {"type": "action", "skill": "push", "args": {"obj": "red_cube", "position": goal}},
                        ],
                    },
                ],
            }
        }
        events: list[dict] = []
        result = Executor(world, skills, on_event=events.append, max_seconds=60).run(plan)
        ends = {e["skill"]: e for e in events if e["event"] == "skill_end"}
        assert ends["pick"]["status"] == "success" and ends["place"]["status"] == "success"
        learned = ends["push_learned"]
        assert isinstance(learned["value"], float)
        assert learned["status"] == "success" or learned["reason"]
        assert result.status == "success"

"""HOI scenes (sims/hoi): the vocabulary agrees with the planners', grasp welds, the stage compiler on hand-built
states, the env contract with forced stage switches, the world's facts and picture, and the scripted baseline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import mujoco
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from ember.planners.hoi import scene as plan_scene
from ember.planners.hoi.template import TemplatePlanner, task_instruction
from ember.sims.env import GymnasiumEnv
from ember.sims.hoi import compiler
from ember.sims.hoi.compiler import CompiledStages, PartState, StageTracker, compile_stage, stage_done
from ember.sims.hoi.env import HOIVecEnv, sample_scene
from ember.sims.hoi.scene import (
    ACTION_DIM,
    CONTROL_DECIMATION,
    DEFAULT_SIZES,
    HUMAN_PARTS,
    PART_SITES,
    REST_POSE,
    SceneIndex,
    build_scene,
    floor_z,
    joint_action,
)
from ember.sims.hoi.world import HOIWorld
from ember.sims.predicates import Atom
from ember.skills.hoi.scripted import ScriptedStageController, StageSkill, run_stages
from ember.skills.skill import Status

NUM_ENVS = 2
PLANNER = TemplatePlanner()


def plans(task: str, scene: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """The template planner's stages for one instruction per task (what the lead wires into the env)."""
    text = task_instruction(task, rng)
    return [s.to_dict() for s in PLANNER.plan(text, scene).stages]


def _hold() -> np.ndarray:
    """An action that stands still at the rest pose, grasps off."""
    a = np.zeros(ACTION_DIM)
    a[4:13] = joint_action(np.asarray(REST_POSE))
    a[13:] = -1.0
    return a


# ---------------------------------------------------------------------------------------------- scene
@pytest.mark.parametrize("kind", sorted(PART_SITES))
def test_each_object_type_builds_with_the_planners_part_names(kind: str) -> None:
    objects = {"thing": {"type": kind, "position": [1.5, 0.0, floor_z(kind)], "yaw": 0.3}}
    model = mujoco.MjModel.from_xml_string(build_scene(objects, seed=0))
    sites = {model.site(i).name for i in range(model.nsite)}
    assert {f"thing/{p}" for p in PART_SITES[kind]} <= sites
    assert set(HUMAN_PARTS) <= sites
    # `side` is resolved at run time, not built: every other name the planners use is a site
    assert set(plan_scene.OBJECT_PARTS[kind]) - {"side"} == set(PART_SITES[kind])
    assert DEFAULT_SIZES[kind] == plan_scene.DEFAULT_SIZES[kind]


def test_vocabularies_match_the_planners() -> None:
    from ember.planners.hoi import schema as plan_schema

    assert set(PART_SITES) == set(plan_scene.OBJECT_PARTS)
    assert HUMAN_PARTS == plan_scene.HUMAN_PARTS
    assert compiler.LABELS == plan_scene.LABELS
    assert compiler.MAX_LINKS == plan_schema.MAX_LINKS  # a plan that validates compiles


def test_the_world_tells_planners_which_objects_it_can_move() -> None:
    objects = {k: {"type": k, "position": [2.0 * i, 2.0, floor_z(k)]} for i, k in enumerate(PART_SITES)}
    scene = plan_scene.SceneInfo.from_dict(HOIWorld(objects).description())
    assert {k: o.can_move for k, o in scene.objects.items()} == {
        "box": True, "chair": False, "drawer": True, "table": False, "door": True,
    }  # fmt: skip


def test_grasp_weld_activates_only_within_reach_and_holds_the_box() -> None:
    objects = {"box": {"type": "box", "position": [3.0, 0.0, 0.2], "mass": 4.0, "friction": 0.5}}
    model = mujoco.MjModel.from_xml_string(build_scene(objects))
    data = mujoco.MjData(model)
    index = SceneIndex(model, objects)
    index.set_pose(data, 0.0, 0.0, 0.0)
    mujoco.mj_forward(model, data)
    hand = data.site_xpos[index.human_site[HUMAN_PARTS.index("left_hand")]].copy()
    free = model.jnt_qposadr[model.joint("box/free").id]

    def put_box(gap: float) -> None:  # the box's back face `gap` [m] in front of the hand sphere
        data.qpos[free : free + 7] = [hand[0] + 0.04 + 0.2 + gap, hand[1], hand[2], 1, 0, 0, 0]
        data.qvel[:] = 0.0
        mujoco.mj_forward(model, data)

    put_box(0.06)
    index.update_grasp(model, data, np.array([True, False]))
    assert index.grasped(data) == {"left_hand": None, "right_hand": None}
    put_box(0.01)
    index.update_grasp(model, data, np.array([False, True]))  # the right hand is out of reach
    assert index.grasped(data)["right_hand"] is None
    index.update_grasp(model, data, np.array([True, False]))
    assert index.grasped(data) == {"left_hand": "box", "right_hand": None}
    index.apply_action(data, _hold())
    mujoco.mj_step(model, data, nstep=10 * CONTROL_DECIMATION)  # 0.4 s: a free box would fall ~80 cm
    hand_now = data.site_xpos[index.human_site[HUMAN_PARTS.index("left_hand")]]
    # the weld is a ball joint at the palm: the box may swing about the hand, but stays 25 cm from it
    assert np.linalg.norm(data.qpos[free : free + 3] - hand_now) == pytest.approx(0.25, abs=0.02)
    held_z = data.qpos[free + 2]
    index.update_grasp(model, data, np.array([False, False]))
    mujoco.mj_step(model, data, nstep=5 * CONTROL_DECIMATION)
    assert index.grasped(data)["left_hand"] is None and data.qpos[free + 2] < held_z - 0.1


# ---------------------------------------------------------------------------------------------- compiler
PARTS = [("box", "top"), ("box", "front"), ("box", "back"), ("box", "left"), ("box", "right")]


def _state(hands: Sequence[Sequence[float]], box: Sequence[float] = (0.0, 0.0, 0.2), yaw: float = 0.0) -> PartState:
    """``N`` envs: a 0.4 m box at ``box`` (faces as 0.3 m square patches) and the character with its left hand at
    ``hands[i]`` and everything else 3 m away."""
    n = len(hands)
    human = np.tile(np.array([3.0, 0.0, 1.0]), (n, len(HUMAN_PARTS), 1))
    human[:, HUMAN_PARTS.index("left_hand")] = np.asarray(hands, float)
    c = np.asarray(box, float)
    offsets = np.array([(0, 0, 0.2), (0.2, 0, 0), (-0.2, 0, 0), (0, 0.2, 0), (0, -0.2, 0)])
    centers = c + offsets
    halves = [(0.15, 0.15, 0.0), (0.0, 0.15, 0.15), (0.0, 0.15, 0.15), (0.15, 0.0, 0.15), (0.15, 0.0, 0.15)]
    return PartState(
        human=human,
        part_center=np.tile(centers, (n, 1, 1)),
        part_rot=np.tile(np.eye(3), (n, len(PARTS), 1, 1)),
        part_half=np.tile(np.array(halves), (n, 1, 1)),
        part_radius=np.zeros(len(PARTS)),
        object_pos=np.tile(c, (n, 1, 1)),
        root=np.tile(np.array([3.0, 0.0, 0.95]), (n, 1)),
        yaw=np.full(n, yaw),
    )


def _tracker(stage: Mapping[str, Any], n: int) -> StageTracker:
    tracker = StageTracker(n, dt=0.04)
    one = compile_stage(stage, PARTS, ["box"], np.array([[0.0, 0.0, 0.2]]))
    for i in range(n):
        tracker.set(i, one)
    return tracker


def test_contact_term_is_one_at_zero_gap_and_near_zero_far() -> None:
    stage = {"links": [["box", "top", "left_hand", "contact", "up"]]}
    # hand sphere (r = 4 cm) resting on the top face; 3 cm above it; 1 m above it
    hands = [(0.0, 0.0, 0.44), (0.0, 0.0, 0.47), (0.0, 0.0, 1.44)]
    goal, reward, info = _tracker(stage, 3).evaluate(_state(hands))
    assert info["gap"][:, 0] == pytest.approx([0.0, 0.03, 1.0], abs=1e-9)
    assert reward[0] == pytest.approx(1.0) and 0.9 < reward[1] < 0.95 and reward[2] < 1e-3
    assert stage_done(reward).tolist() == [True, True, False]
    assert goal.shape == (3, compiler.GOAL_DIM)
    first = goal[2, : compiler.LINK_DIM]  # heading frame = world here (yaw 0)
    assert first[:3] == pytest.approx([0.0, 0.0, -1.04], abs=1e-6)  # the top's nearest point, from the hand
    assert first[6:10].tolist() == [1, 0, 0, 0] and first[10 + HUMAN_PARTS.index("left_hand")] == 1
    assert first[-1] == 1 and not goal[2, compiler.LINK_DIM : 4 * compiler.LINK_DIM].any()


def test_separating_grows_with_distance_and_approaching_credits_nearness_or_closing() -> None:
    heights = [0.44, 0.5, 0.6, 0.8, 1.4]
    sep = _tracker({"links": [["box", "top", "left_hand", "separating"]]}, 5)
    _, reward, _ = sep.evaluate(_state([(0, 0, z) for z in heights]))
    assert reward[0] == pytest.approx(0.0) and np.all(np.diff(reward) > 0) and reward[-1] > 0.99
    app = _tracker({"links": [["box", "top", "left_hand", "approaching"]]}, 2)
    _, reward, _ = app.evaluate(_state([(0, 0, 0.8), (0, 0, 2.0)]))
    assert reward[0] == pytest.approx(1.0) and reward[1] < 0.01  # within 0.5 m; 1.5 m away and still
    _, reward, _ = app.evaluate(_state([(0, 0, 0.8), (0, 0, 1.98)]))  # 2 cm closer in 0.04 s: 0.5 m/s
    assert reward[1] == pytest.approx(1.0)
    link = app.evaluate(_state([(0, 0, 0.8), (0, 0, 1.98)]), update=False)[0][1, : compiler.LINK_DIM]
    assert link[3:6] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)  # the same state again: no relative motion


def test_side_resolves_to_the_nearest_vertical_face_in_the_heading_frame() -> None:
    stage = {"links": [["box", "side", "left_hand", "contact", "none"]]}
    goal, reward, info = _tracker(stage, 2).evaluate(_state([(0.0, 0.3, 0.2), (-0.5, 0.0, 0.2)], yaw=math.pi / 2))
    assert [PARTS[p][1] for p in info["part"][:, 0]] == ["left", "back"]
    assert info["gap"][:, 0] == pytest.approx([0.06, 0.26])
    assert goal[0, :3] == pytest.approx([-0.1, 0.0, 0.0], abs=1e-9)  # world (0, -0.1, 0), seen facing +y: behind
    assert reward[0] > reward[1]


def test_root_and_object_destination_terms() -> None:
    stage = {"human_root": [3.0, 0.0], "object_target": {"object": "box", "position": [0.0, 0.0, 0.2]}, "links": []}
    _, reward, info = _tracker(stage, 1).evaluate(_state([(0, 0, 2)]))
    assert reward[0] == pytest.approx(1.0) and info["r_object"][0] == pytest.approx(1.0)
    moved = {**stage, "object_target": {"object": "box", "position": [0.5, 0.0, 0.2]}}
    _, reward, info = _tracker(moved, 1).evaluate(_state([(0, 0, 2)]))
    assert info["r_object"][0] < 0.01 and reward[0] == pytest.approx(0.5 / 1.5 * 1.0 + 0.0, abs=0.01)
    near = compile_stage({"human_root": {"near": "box", "offset": [0.5, -1.0]}}, PARTS, ["box"], np.array([[1, 2, 0]]))
    assert near.root_target[0].tolist() == [1.5, 1.0, 0.0] and near.root_axes[0].tolist() == [True, True, False]


def test_compile_errors_name_the_field() -> None:
    pos = np.zeros((1, 3))
    with pytest.raises(ValueError, match=r"links\[0\]\[0:2\].*the scene has"):
        compile_stage({"links": [["box", "seat", "pelvis", "contact"]]}, PARTS, ["box"], pos)
    with pytest.raises(ValueError, match=r"links\[0\]\[3\].*labels are"):
        compile_stage({"links": [["box", "top", "pelvis", "touching"]]}, PARTS, ["box"], pos)
    with pytest.raises(ValueError, match="at most 4"):
        compile_stage({"links": [["box", "top", "pelvis", "contact"]] * 5}, PARTS, ["box"], pos)
    assert isinstance(CompiledStages.empty(2), CompiledStages)


# ---------------------------------------------------------------------------------------------- env
def _two_stages(task: str, scene: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    return [{"name": "here", "human_root": [2.0, 0.0], "links": []}, {"name": "there", "human_root": [-2.0, 0.0]}]


def test_env_follows_the_contract_and_switches_stage_when_the_reward_passes_0_9() -> None:
    env = HOIVecEnv(_two_stages, num_envs=NUM_ENVS, tasks=("reach",), max_episode_length=50)
    obs, _ = env.reset(seed=0)
    assert obs["policy"].shape == (NUM_ENVS, 126) and obs["critic"].shape == (NUM_ENVS, 202)
    assert env.single_observation_space["critic"].shape == (202,) and env.single_action_space.shape == (ACTION_DIM,)
    actions = torch.as_tensor(np.tile(_hold(), (NUM_ENVS, 1)), dtype=torch.float32)
    obs, reward, terminated, truncated, extras = env.step(actions)
    assert reward.shape == terminated.shape == truncated.shape == (NUM_ENVS,)
    assert env.stage_index.tolist() == [0, 0] and not terminated.any()
    assert set(extras) >= {"log", "time_outs", "final_obs", "success"}
    data = env.datas[0]  # stand env 0 on its root target
    data.qpos[env.index.qadr[:2]] = [2.0, 0.0]
    mujoco.mj_forward(env.models[0], data)
    obs, reward, *_ = env.step(actions)
    assert env.stage_index.tolist() == [1, 0]
    assert reward[0] > 1.9  # the passed stage's reward plus one stage bonus
    root_error = obs["policy"][0, 43 + 4 * compiler.LINK_DIM :][:3].numpy()
    assert np.linalg.norm(root_error) == pytest.approx(4.0, abs=0.05)  # the next stage's root target, 4 m away
    assert torch.isfinite(obs["critic"]).all()


def test_env_ends_an_episode_on_success_and_resets_it() -> None:
    one = lambda task, scene, rng: [{"human_root": [0.0, 0.0], "links": []}]  # noqa: E731
    env = HOIVecEnv(one, num_envs=NUM_ENVS, tasks=("sit", "open"), end_on_success=True)
    env.reset(seed=1)
    actions = torch.as_tensor(np.tile(_hold(), (NUM_ENVS, 1)), dtype=torch.float32)
    _, _, terminated, truncated, extras = env.step(actions)
    assert terminated.all() and not truncated.any() and extras["success"].all()
    assert env.episode_length_buf.tolist() == [0, 0] and env.stage_index.tolist() == [0, 0]


def test_failure_sampling_draws_the_tasks_the_policy_fails() -> None:
    one = lambda task, scene, rng: [{"human_root": [0.0, 0.0], "links": []}]  # noqa: E731
    env = HOIVecEnv(one, num_envs=1, tasks=("sit", "open", "push"), end_on_success=True, task_sampling="failures")
    env.reset(seed=1)
    assert env.task_probabilities() == pytest.approx([1 / 3] * 3)  # every task starts at a running rate of 0.5
    task = env.task[0]
    _, _, terminated, _, extras = env.step(torch.as_tensor(_hold()[None], dtype=torch.float32))
    assert terminated.all() and extras["success"].all()
    assert env.completion[task] == pytest.approx(0.5 + 0.05 * 0.5)  # the ended episode's task moved toward 1
    assert extras["log"][f"completion_{task}"] == env.completion[task]
    env.completion.update(sit=1.0, open=0.95, push=0.0)
    assert env.task_probabilities() == pytest.approx(np.array([0.1, 0.1, 1.0]) / 1.2)  # the floor keeps sit and open
    drawn = []
    for _ in range(300):
        env._reset_idx(np.arange(1))
        drawn.append(env.task[0])
    assert drawn.count("push") / len(drawn) == pytest.approx(1.0 / 1.2, abs=0.07)
    assert {"sit", "open"} <= set(drawn)
    uniform = HOIVecEnv(one, num_envs=1, tasks=("sit", "open", "push"))
    uniform.completion.update(push=0.0)
    assert uniform.task_probabilities() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="task_sampling must be one of"):
        HOIVecEnv(one, num_envs=1, task_sampling="hardest")


def test_saved_state_keeps_the_completion_rates_and_draws_for_a_resume() -> None:
    one = lambda task, scene, rng: [{"human_root": [0.0, 0.0], "links": []}]  # noqa: E731
    env = HOIVecEnv(one, num_envs=2, tasks=("sit", "open", "push"), task_sampling="failures")
    env.reset(seed=3)
    env.completion.update(sit=0.9, open=0.2, push=0.4)
    state = env.save_state()
    env._reset_idx(np.arange(2))
    expected = list(env.task)  # the tasks drawn next from the saved rng
    again = HOIVecEnv(one, num_envs=2, tasks=("sit", "open", "push"), task_sampling="failures")
    again.reset(seed=99)
    obs = again.load_state(state)
    assert again.completion == {"sit": 0.9, "open": 0.2, "push": 0.4}
    assert again.task == expected and again.episode_length_buf.tolist() == [0, 0]
    assert obs["policy"].shape == (2, again.single_observation_space["policy"].shape[0])
    other = HOIVecEnv(one, num_envs=1, tasks=("sit", "carry"))
    with pytest.raises(ValueError, match=r"no completion rate for tasks \['carry'\].*same task.tasks"):
        other.load_state(state)


def test_single_env_wrapper_passes_check_env() -> None:
    check_env(GymnasiumEnv(HOIVecEnv(plans, num_envs=1)), skip_render_check=True)


def _residual_pair(scale: float = 0.5) -> tuple[HOIVecEnv, HOIVecEnv]:
    """A residual env on the scripted baseline and a plain twin with the same seed (same scenes and stages)."""
    kwargs: dict[str, Any] = {"num_envs": NUM_ENVS, "tasks": ("reach",), "max_episode_length": 60, "seed": 3}
    residual = HOIVecEnv(plans, residual_scale=scale, base_controller=ScriptedStageController, **kwargs)
    return residual, HOIVecEnv(plans, **kwargs)


def test_residual_env_observes_the_scripted_action_and_executes_it_plus_the_scaled_residual() -> None:
    env, twin = _residual_pair(scale=0.5)
    obs, _ = env.reset(seed=0)
    twin.reset(seed=0)
    base = obs["policy"][:, 126:]
    assert obs["policy"].shape == (NUM_ENVS, 141) and obs["critic"].shape == (NUM_ENVS, 217)
    assert env.single_observation_space["policy"].shape == (141,)
    assert torch.equal(obs["critic"][:, :141], obs["policy"])  # the critic sees a_base too
    # a_base is what the scripted controller does on the same scene as a world
    world = HOIWorld.from_description(env.scene[0])
    world.set_stage(env.stages[0][0])
    np.testing.assert_allclose(base[0].numpy(), ScriptedStageController().act(world, "human"), atol=1e-5)
    gen = torch.Generator().manual_seed(0)
    for t in range(40):  # zero residual first (the env is the scripted controller), then a random one; the twin
        # executes the observed a_base (float32) plus the scaled residual
        residual = torch.zeros(NUM_ENVS, ACTION_DIM) if t < 30 else torch.randn(NUM_ENVS, ACTION_DIM, generator=gen)
        executed = torch.clamp(base.double() + 0.5 * residual.double(), -1.0, 1.0)
        obs, reward, terminated, _, extras = env.step(residual)
        _, twin_reward, twin_terminated, *_ = twin.step(executed)
        base = obs["policy"][:, 126:]
        assert torch.allclose(reward, twin_reward, atol=1e-4) and torch.equal(terminated, twin_terminated)
        if t == 29:
            assert env.stage_index.min() >= 1  # the scripted base alone passed the reach's approach stage
    for a, b in zip(env.datas, twin.datas, strict=True):
        np.testing.assert_allclose(a.qpos, b.qpos, atol=1e-3)
    assert extras["log"]["residual_abs"] > 0.1


def test_residual_mode_needs_a_base_controller() -> None:
    with pytest.raises(ValueError, match="base_controller"):
        HOIVecEnv(plans, num_envs=1, residual_scale=0.3)
    with pytest.raises(ValueError, match="residual_scale"):
        HOIVecEnv(plans, num_envs=1, residual_scale=-1.0, base_controller=ScriptedStageController)


# ---------------------------------------------------------------------------------------------- world
def test_world_facts_observation_and_picture() -> None:
    objects = {"chair": {"type": "chair", "position": [0.0, 0.0, 0.45]}, "box": {"type": "box",
               "position": [2.0, 0.0, 0.2], "mass": 3.0, "friction": 0.5}}  # fmt: skip
    world = HOIWorld(objects, character=(0.05, 0.0, 0.0))
    assert Atom("near", ("human", "chair")) in world.facts()
    assert Atom("sitting", ("human", "chair")) not in world.facts()
    world.index.set_pose(world.data, 0.0, 0.0, 0.0, z=0.55)  # on the seat (pelvis radius 0.1)
    mujoco.mj_forward(world.model, world.data)
    assert Atom("sitting", ("human", "chair")) in world.facts()
    obs = world.observe("human")
    assert obs["policy"].shape == (126,) and obs["critic"].shape == (202,)
    info = world.objects()["box"]
    assert info.attributes["mass"] == pytest.approx(3.0) and set(info.attributes["parts"]) == set(PART_SITES["box"])
    image = world.render()
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and image.std() > 5
    with pytest.raises(Exception, match="15"):
        world.apply("human", {"action": [0.0] * 3})


def test_stage_skill_fails_with_a_reason_on_timeout() -> None:
    world = HOIWorld({"box": {"type": "box", "position": [1.0, 0.0, 0.2]}})
    skill = StageSkill()
    stage = {"name": "far", "human_root": [3.5, 3.5], "links": [["box", "top", "head", "contact"]]}
    skill.start(world, "human", stage=stage, timeout=0.2)
    while (outcome := skill.tick()).status is Status.RUNNING:
        world.advance()
    assert outcome.status is Status.FAILURE and "far" in outcome.reason and "link gaps" in outcome.reason


# ---------------------------------------------------------------------------------------------- baseline
@pytest.mark.parametrize("task", ["reach", "open", "sit", "push", "carry"])
def test_scripted_baseline_completes_a_seeded_scene(task: str) -> None:
    rng = np.random.default_rng(1001)
    world = HOIWorld.from_description(sample_scene(task, rng), seed=1)
    stages = plans(task, world.description(), rng)
    results = run_stages(world, stages, timeout=10.0)
    assert [r.status for r in results] == [Status.SUCCESS] * len(stages), results[-1].reason
    assert sum(r.seconds for r in results) < 10.0 * len(stages)

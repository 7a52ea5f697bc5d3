"""The learned HOI controller (issue 11): `ember train task=hoi` writes an artifact the stage skill runs; the
shipped artifact drives every task; end-of-stage precision and contact figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ember.planners.hoi.template import template_plans
from ember.sims.hoi.env import TASKS, sample_scene
from ember.sims.hoi.world import HOIWorld
from ember.skills.hoi.learned import SHIPPED, PolicyStageController
from ember.skills.hoi.scripted import ScriptedStageController, run_stages
from ember.skills.learned import ArtifactError
from ember.skills.learning.export import save_skill_artifact
from ember.skills.learning.ppo import PPO
from ember.skills.skill import Status

pytest.importorskip("mujoco")


def _scene(task: str, seed: int = 1000) -> tuple[HOIWorld, list[dict]]:
    rng = np.random.default_rng(seed)
    world = HOIWorld.from_description(sample_scene(task, rng), seed=0)
    return world, template_plans(task, world.description(), rng)


@pytest.fixture(scope="module")
def smoke_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("hoi") / "run"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ember.launch.cli",
            "train",
            "task=hoi",
            "algo=ppo",
            "task.num_envs=4",
            "task.eval_envs=1",
            "task.tasks=[reach,sit]",
            "algo.num_steps=8",
            "total_steps=64",
            "eval_every_steps=32",
            "progress=false",
            f"hydra.run.dir={run}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return run / "artifact"


def test_ember_train_task_hoi_writes_an_artifact_the_stage_skill_runs(smoke_artifact: Path) -> None:
    meta = json.loads((smoke_artifact / "meta.json").read_text())
    assert (
        meta["task"] == "hoi" and meta["tasks"] == ["reach", "sit"] and "ember train task=hoi" in meta["train_command"]
    )
    controller = PolicyStageController(smoke_artifact)
    world, stages = _scene("reach")
    results = run_stages(world, stages, controller=controller, timeout=1.0)
    assert results and results[0].status in (Status.SUCCESS, Status.FAILURE)
    world.set_stage(stages[0])
    action = controller.act(world, "human")
    assert action.shape == (15,) and np.all(np.abs(action) <= 1.0)
    assert np.isfinite(controller.value(world, "human"))


def _residual_artifact(folder: Path, bias: float, scale: float = 0.5) -> Path:
    """A tiny untrained residual artifact whose actor outputs ``bias`` everywhere (output layer weights zero)."""
    algo = PPO(141, 217, 15, num_envs=1, hidden=(16,), init_std=0.1, init_output_scale=0.0)
    with torch.no_grad():
        algo.actor.mean[-1].bias.fill_(bias)
    meta = {"task": "hoi", "tasks": ["reach"], "residual_scale": scale, "base": "scripted"}
    return save_skill_artifact(algo, 141, 217, folder, meta)


@pytest.mark.parametrize("bias", [0.0, 0.4])
def test_a_residual_artifact_adds_its_scaled_output_to_the_scripted_action(tmp_path: Path, bias: float) -> None:
    controller = PolicyStageController(_residual_artifact(tmp_path / "artifact", bias))
    world, stages = _scene("reach")
    twin, _ = _scene("reach")
    scripted = ScriptedStageController()
    for w, c in ((world, controller), (twin, scripted)):
        w.set_stage(stages[0])
        c.reset(w, "human")
    for _ in range(10):  # each a step of the twin world: the base keeps following the world it acts on
        expected = np.clip(scripted.act(twin, "human") + 0.5 * bias, -1.0, 1.0)
        np.testing.assert_allclose(controller.act(world, "human"), expected, atol=1e-6)
        assert np.isfinite(controller.value(world, "human"))
        for w, a in ((world, expected), (twin, expected)):
            w.apply("human", {"action": a})
            w.advance()
    if bias == 0.0:  # a zero residual runs the plan exactly as the scripted baseline does
        a, b = _scene("reach", seed=1002), _scene("reach", seed=1002)
        learned = run_stages(a[0], a[1], controller=controller, timeout=10.0)
        baseline = run_stages(b[0], b[1], timeout=10.0)
        assert [(r.status, r.seconds) for r in learned] == [(r.status, r.seconds) for r in baseline]
        assert all(r.status is Status.SUCCESS for r in learned)


def test_ember_train_task_hoi_learns_a_residual_on_the_scripted_baseline(tmp_path: Path) -> None:
    from ember.launch.train import hoi_artifact

    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "ember.launch.cli", "train", "task=hoi", "algo=ppo", "task.num_envs=2",
         "task.eval_envs=2", "task.tasks=[reach]", "task.residual_scale=0.3", "algo.init_output_scale=0",
         "algo.init_std=0.1", "algo.num_steps=8", "total_steps=16", "eval_every_steps=16", "progress=false",
         f"hydra.run.dir={run}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    meta = json.loads((run / "artifact" / "meta.json").read_text())
    assert meta["residual_scale"] == 0.3 and meta["base"] == "scripted"
    assert (meta["policy_dim"], meta["critic_dim"]) == (141, 217)
    assert '"reach": ' in (run / "train.log").read_text()  # per-task completion of each evaluation
    again = json.loads((hoi_artifact(run, "last.pt") / "meta.json").read_text())
    assert again["residual_scale"] == 0.3 and again["policy_dim"] == 141
    controller = PolicyStageController(run / "artifact")
    world, stages = _scene("reach")
    results = run_stages(world, stages, controller=controller, timeout=10.0)
    assert results and all(r.status in (Status.SUCCESS, Status.FAILURE) for r in results)


def test_an_artifact_of_another_task_is_refused() -> None:
    push = Path(__file__).resolve().parents[2] / "skills" / "tabletop" / "checkpoints" / "push"
    with pytest.raises(ArtifactError, match="not 'hoi'"):
        PolicyStageController(push)


@pytest.mark.skipif(not (SHIPPED / "meta.json").is_file(), reason="no shipped HOI artifact committed yet")
@pytest.mark.parametrize("task", TASKS)
def test_shipped_policy_drives_each_task(task: str) -> None:
    controller = PolicyStageController()
    world, stages = _scene(task, seed=1001)
    results = run_stages(world, stages, controller=controller, timeout=2.0)
    assert results and all(r.status in (Status.SUCCESS, Status.FAILURE) for r in results)
    assert all(np.isfinite(world.data.qpos))


def test_end_of_stage_figures_of_the_scripted_baseline() -> None:
    world, stages = _scene("reach")
    results = run_stages(world, stages, timeout=10.0)
    assert [r.status for r in results] == [Status.SUCCESS] * len(stages)
    touch = results[-1]  # the reach's contact stage: the hand on the box's top
    assert touch.contacts_judged >= 1 and touch.contacts_right == touch.contacts_judged
    assert touch.error_m is not None and touch.error_m < 0.025
    assert results[0].error_m is None  # an approach stage has no contact or object error


def test_ember_runs_hoi_instructions_as_a_tree_of_stage_leaves(tmp_path: Path) -> None:
    from ember.launch.episode import run_episode

    events: list[dict] = []
    task = {"name": "hoi", "scene": "sit", "max_seconds": 30.0}
    planner = {"name": "hoi", "stages": "template", "controller": "scripted"}
    metrics = run_episode(task, planner, "sit on the chair", seed=3, on_event=events.append)
    assert metrics["success"], metrics
    plan = next(e["plan"] for e in events if e["event"] == "plan")
    leaves = [c["args"]["stage"] for c in plan["root"]["children"]]
    assert len(leaves) >= 2 and all(c["skill"] == "hoi_stage" for c in plan["root"]["children"])
    started = [e.get("name") or e.get("node") for e in events if e["event"] in ("skill_start", "start")]
    assert metrics["skills_run"] == len(leaves), (started, leaves)


def test_the_learned_leaf_reports_its_critic_value(smoke_artifact: Path) -> None:
    from ember.launch.episode import run_episode

    events: list[dict] = []
    task = {"name": "hoi", "scene": "reach", "max_seconds": 2.0}
    planner = {"name": "hoi", "controller": "learned", "artifact": str(smoke_artifact)}
    metrics = run_episode(task, planner, "reach the box top with the right hand", seed=1, on_event=events.append,
                          max_replans=0)  # fmt: skip
    assert not metrics["success"] and metrics["status"] in ("timeout", "failure")  # a 64-step policy gets nowhere
    values = [e["value"] for e in events if e.get("value") is not None]
    assert values and all(np.isfinite(values))


def test_unknown_instructions_and_stage_names_fail_clearly() -> None:
    from ember.planners.hoi.bt import HOIStagePlanner
    from ember.planners.hoi.template import UnsupportedInstruction

    world, _ = _scene("sit")
    with pytest.raises(UnsupportedInstruction, match="sit"):
        HOIStagePlanner().plan("dance with the lamp", world)
    with pytest.raises(ValueError, match="controller"):
        HOIStagePlanner(controller="magic")
    from ember.sims.world import WorldError
    from ember.skills.hoi.scripted import StageSkill

    with pytest.raises(WorldError, match="names no stored stage"):  # a user error: ember run exits 2 on it
        StageSkill().start(world, "human", stage="stage9_nowhere", timeout=1.0)


def test_the_llm_stage_planner_takes_ember_runs_llm_config_and_falls_back() -> None:
    from ember.planners.hoi.bt import HOIStagePlanner
    from ember.planners.llm.testing import OpenAIStubServer, Scripted, StubReply

    world, _ = _scene("sit")
    with OpenAIStubServer(Scripted([StubReply(status=500)])) as server:
        config = {  # launch/conf/planner/llm.yaml's keys, some of which only the tabletop planner knows
            "base_url": server.base_url, "model": "m", "critique_rounds": 1, "fallback": "symbolic",
            "max_retries": 0, "stream": False, "critic_model": None,
        }  # fmt: skip
        plan = HOIStagePlanner(stages="llm", controller="scripted", **config).plan("sit on the chair", world)
    assert [c["skill"] for c in plan["root"]["children"]] == ["hoi_stage"] * len(plan["root"]["children"])
    for leaf in plan["root"]["children"]:  # each stage is stored under its leaf's name and carried by the leaf
        stored = world.stage_table[leaf["name"]]
        assert json.loads(leaf["args"]["stage"]) == {k: v for k, v in stored.items() if v is not None}


def test_a_stage_too_long_for_a_plan_argument_is_stored_and_named() -> None:
    from ember.planners.hoi.bt import ARG_CHARS, stage_argument

    short = {"name": "touch", "human_root": [0.5, 0.5], "object_target": None, "links": [["box", "top", "head", 0]]}
    assert json.loads(stage_argument(short, "stage1_touch")) == {k: v for k, v in short.items() if v is not None}
    long_ids = [["b" * 100, "top", "left_hand", "contact", "up"]] * 4  # the schema's longest ids
    assert json.loads(stage_argument({"name": "n" * 200, "links": long_ids}, "k"))["links"] == long_ids
    links = [[f"box_{'x' * (ARG_CHARS // 4)}_{k}", "top", "left_hand", "contact", "up"] for k in range(4)]
    assert stage_argument({"name": "x", "links": links}, "stage2_x") == "stage2_x"
    fits = {"name": "n" * (ARG_CHARS - 40), "links": [["box", "top", "head", "contact"]]}  # only without its name
    assert json.loads(stage_argument(fits, "k")) == {"links": fits["links"]}
    from ember.planners.schema import plan_schema

    action = next(
        v["then"] for v in plan_schema()["$defs"]["node"]["allOf"] if v["if"]["properties"]["type"]["const"] == "action"
    )
    assert action["properties"]["args"]["additionalProperties"]["anyOf"][0]["maxLength"] == ARG_CHARS


def test_stage_objects_in_a_plan_become_the_text_the_schema_takes() -> None:
    from ember.planners.hoi.bt import stages_as_text

    stage = {"human_root": [0.5, 0.5], "links": [["box", "top", "head", "contact"]]}
    leaf = {"type": "action", "skill": "hoi_stage", "args": {"stage": stage}}
    plan = {"version": 1, "root": {"type": "sequence", "children": [{"type": "retry", "attempts": 2, "child": leaf}]}}
    out = stages_as_text(plan)
    assert json.loads(out["root"]["children"][0]["child"]["args"]["stage"]) == stage
    assert stages_as_text([1]) == [1] and stages_as_text({"root": "x"}) == {"root": "x"}  # left for the validator

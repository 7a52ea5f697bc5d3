"""``ember run task=hoi`` with plan files: every stage is validated before the run (the HOI planners' checks against
the scene, each problem at its JSON path), the run's own ``plan.json`` replays, and a robot backend is refused."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mujoco")

from ember.planners.hoi.template import TemplatePlanner
from ember.planners.validate import validate
from ember.sims.hoi.world import HOIWorld
from ember.skills.library import SkillLibrary

EMBER = [sys.executable, "-m", "ember.launch.cli", "run", "task=hoi", "progress=false"]


def _sit() -> tuple[HOIWorld, list[dict[str, Any]]]:
    world = HOIWorld.sampled("sit", 0)
    return world, [s.to_dict() for s in TemplatePlanner().plan("sit on the chair", world.description()).stages]


def _plan(stages: list[Any], skill: str = "hoi_stage") -> dict[str, Any]:
    children = [
        {"type": "action", "name": f"s{i}", "skill": skill,
         "args": {"stage": s if isinstance(s, str) else json.dumps(s), "timeout": 10.0}}
        for i, s in enumerate(stages)
    ]  # fmt: skip
    return {"version": 1, "root": {"type": "sequence", "name": "x", "children": children}}


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(stages: list[Any]) -> None:
        *head, last = path
        node: Any = stages
        for key in head:
            node = node[key]
        node[last] = value

    return change


STAGE = "$.root.children[0].args.stage"
CASES = {  # the tester's plan files: (change to the first stage, path of the problem, words of the message)
    "unknown human part": (_set((0, "links", 0, 2), "tail"), ".links[0][2]", "'tail' is not one of"),
    "unknown object": (_set((0, "links", 0, 0), "sofa"), ".links[0][0]", "unknown object 'sofa'"),
    "unknown object part": (_set((0, "links", 0, 1), "wing"), ".links[0][1]", "has no part 'wing'"),
    "unknown label": (_set((0, "links", 0, 3), "hug"), ".links[0][3]", "'hug' is not one of"),
    "label code out of range": (_set((0, "links", 0, 3), 7), ".links[0][3]", "7 is not one of"),
    "unknown direction": (_set((0, "links", 0, 4), "sideways"), ".links[0][4]", "'sideways' is not one of"),
    "short link": (_set((0, "links", 0), ["chair", "seat"]), ".links[0]", "is too short"),
    "six-element link": (
        _set((0, "links", 0), ["chair", "seat", "pelvis", "approaching", "up", "extra"]),
        ".links[0]",
        "is too long",
    ),
    "link as a string": (_set((0, "links", 0), "chair seat pelvis"), ".links[0]", "is not of type 'array'"),
    "links null": (_set((0, "links"), None), ".links", "None is not of type 'array'"),
    "five links": (_set((0,), {"links": [["chair", "seat", "pelvis", 0]] * 5}), ".links", "is too long"),
    "root of one value": (_set((0, "human_root"), [1.0]), ".human_root", "is too short"),
    "root a string": (_set((0, "human_root"), "chair"), ".human_root", "is not of type"),
    "root nan": (_set((0, "human_root"), [float("nan"), 1.0]), ".human_root[0]", "non-finite value nan"),
    "root inf": (_set((0, "human_root"), [float("inf"), 0.0]), ".human_root[0]", "non-finite value inf"),
    "root far": (_set((0, "human_root"), [1e6, 0.0]), ".human_root[0]", "outside the workspace"),
    "root near unknown": (_set((0, "human_root"), {"near": "sofa", "offset": [0, 0]}), ".human_root.near", "sofa"),
    "object target a list": (_set((0, "object_target"), [1, 2, 3]), ".object_target", "is not of type"),
    "fixed object moved": (
        _set((0, "object_target"), {"object": "chair", "position": [0, 0, 0.5]}),
        ".object_target.object",
        "chair 'chair' is not movable",
    ),
    "object target nan": (
        _set((0, "object_target"), {"object": "chair", "position": [float("nan"), 0, 0.5]}),
        ".object_target.position[0]",
        "non-finite value nan",
    ),
    "negative timeout": (_set((0, "timeout_s"), -1), ".timeout_s", "less than or equal to the minimum of 0"),
    "timeout a string": (_set((0, "timeout_s"), "soon"), ".timeout_s", "is not of type 'number'"),
    "unknown field": (_set((0, "mood"), "happy"), "", "'mood' was unexpected"),
    "empty stage": (_set((0,), {}), "", "'links' is a required property"),
    "stage a list": (_set((0,), "[1, 2, 3]"), "", "is a list in JSON, not a stage object"),
    "stage a number": (_set((0,), "5"), "", "is a number in JSON, not a stage object"),
    "stage broken JSON": (_set((0,), "{not json"), "", "stage is not JSON"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_file_stages_are_validated_before_the_run_with_their_json_path(case: str) -> None:
    world, stages = _sit()
    change, path, needle = CASES[case]
    bad = copy.deepcopy(stages)
    change(bad)
    problems = validate(_plan(bad), SkillLibrary.for_domain("hoi"), world)
    assert any(p.path == STAGE + path and needle in p.message and p.hint for p in problems), problems
    assert validate(_plan(stages), SkillLibrary.for_domain("hoi"), world) == []


def test_stages_in_the_forms_the_format_accepts_validate() -> None:
    """RMD codes, UniHSI labels, a null direction (read as "none"), a walk stage with no links and a root near an
    object without an offset are all the format's own: they validate, and the leaf runs them as validation read
    them."""
    world, stages = _sit()
    forms = copy.deepcopy(stages)
    forms[0]["links"][0][3] = 1  # approaching
    forms[0]["links"][0][4] = None
    forms[1]["links"][1][3] = "Approach"
    forms.insert(0, {"human_root": {"near": "chair"}, "links": []})
    assert validate(_plan(forms), SkillLibrary.for_domain("hoi"), world) == []
    from ember.skills.hoi.scripted import StageSkill

    skill = StageSkill()
    skill.start(world, "human", stage=json.dumps(forms[1]), timeout=1.0)
    assert skill.stage["links"][0][3:] == ["approaching", "none"]


def test_a_stage_given_as_data_is_checked_like_its_json_text() -> None:
    from ember.skills.hoi.scripted import StageSkill

    world, stages = _sit()
    bad = {**stages[0], "links": [["chair", "wing", "pelvis", "contact"]]}
    (problem,) = StageSkill.check_args({"stage": bad, "timeout": 10.0}, world.objects())
    assert problem.field == "stage.links[0][1]" and "has no part 'wing'" in problem.message
    assert StageSkill.check_args({"stage": stages[0], "timeout": 10.0}, world.objects()) == []
    (problem,) = StageSkill.check_args({"stage": stages[0], "timeout": -1.0}, world.objects())
    assert problem.field == "timeout" and "positive" in problem.message


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EMBER, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_an_invalid_plan_file_exits_2_naming_the_path_and_the_fix(tmp_path: Path) -> None:
    _, stages = _sit()
    bad = copy.deepcopy(stages)
    bad[0]["links"][0][2] = "tail"
    bad[2]["human_root"] = [float("nan"), 1.0]
    (tmp_path / "plan.json").write_text(json.dumps(_plan(bad, "hoi_stage_learned")))
    proc = _run(f"plan={tmp_path / 'plan.json'}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr and "is invalid (2 problem(s))" in err
    assert f"{STAGE}.links[0][2]: 'tail' is not one of" in err and "(hint: choose from" in err
    assert "$.root.children[2].args.stage.human_root[0]: human_root has a non-finite value nan" in err


@pytest.mark.slow
def test_a_runs_own_plan_json_replays(tmp_path: Path) -> None:
    first = _run('goal="sit on the chair"', "task.controller=scripted", f"hydra.run.dir={tmp_path / 'a'}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    plan = json.loads((tmp_path / "a" / "plan.json").read_text())
    assert all(json.loads(c["args"]["stage"])["links"] for c in plan["root"]["children"])  # the stages themselves
    plan.pop("goal")  # a free-text goal in a plan file is read as a tabletop goal (launch/episode.py)
    leaf = plan["root"]["children"][0]["args"]
    leaf["stage"] = json.loads(leaf["stage"])  # a stage may also be written as a JSON object
    (tmp_path / "replay.json").write_text(json.dumps(plan))
    again = _run(f"plan={tmp_path / 'replay.json'}", "task.controller=scripted", f"hydra.run.dir={tmp_path / 'b'}",
                 cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["success"]
    named = _plan(["stage1_approach"])  # a stage name resolves only in the run that stored it
    (tmp_path / "named.json").write_text(json.dumps(named))
    proc = _run(f"plan={tmp_path / 'named.json'}", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "names no stored stage" in " ".join(proc.stderr.split())


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["rosbridge", "ros"])
def test_a_robot_backend_is_refused_not_dropped(tmp_path: Path, backend: str) -> None:
    proc = _run('goal="sit on the chair"', f"backend={backend}", "robot.rosbridge_url=ws://127.0.0.1:1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"does not use backend='{backend}' — leave it out" in " ".join(proc.stderr.split())
    (run,) = (tmp_path / "runs").iterdir()
    assert not (run / "config.yaml").exists() and not (run / "trace.jsonl").exists()  # refused before the run

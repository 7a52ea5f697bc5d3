"""``ember`` end to end, from a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
EMBER = [sys.executable, "-m", "ember.launch.cli"]


def _ember(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*EMBER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)


def _run_dirs(tmp_path: Path) -> list[Path]:
    return sorted(p.parent for p in (tmp_path / "runs").rglob("metrics.json"))


def test_run_writes_the_run_directory(tmp_path: Path) -> None:
    proc = _ember(tmp_path, "run", "goal=put red in the tray", "seed=1", "progress=false")
    assert proc.returncode == 0, proc.stderr
    (run,) = _run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["success"] and metrics["sim_steps"] > 0 and metrics["wall_time_s"] > 0
    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"run_start", "plan", "validation", "skill_start", "skill_end", "facts", "run_end"} <= kinds
    assert "seed: 1" in (run / "config.yaml").read_text()
    video = run / "episode.mp4"
    assert video.stat().st_size > 1000


def test_default_run_is_the_demo(tmp_path: Path) -> None:
    proc = _ember(tmp_path, "run", "video=false", "progress=false")
    assert proc.returncode == 0, proc.stderr
    (run,) = _run_dirs(tmp_path)
    assert json.loads((run / "metrics.json").read_text())["goal"] == "stack green on red"


def test_multirun(tmp_path: Path) -> None:
    proc = _ember(tmp_path, "run", "-m", "seed=0,1", "video=false", "progress=false", "goal=put blue in the tray")
    assert proc.returncode == 0, proc.stderr
    assert len(_run_dirs(tmp_path)) == 2


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["seed=abc"], ["seed", "abc"]),
        (["colour=red"], ["colour"]),
        (["task.cubes=[red,pink]"], ["pink", "choose from"]),
        (["goal=put the purple cube in the tray"], ["purple", "objects are"]),
        (["goal=dance a little"], ["accepted forms"]),
        (["goal='on(red_cube, green_cube) & on(green_cube, red_cube)'"], ["cycle"]),
        (["task.arrangement=pyramid"], ["arrangement must be one of"]),
        (["planner.name=oracle"], ["planner.name", "oracle", "symbolic"]),
        (["task.arrangement=[red]"], ["task.arrangement=['red']", "a mapping such as"]),
        (["task.arrangement={tower:red}"], ["task.arrangement.tower='red'", "list of cube colors"]),
        (["task.render_size=[10,10]"], ["[width, height]"]),  # brackets survive the console's markup
        (["task=overcooked", "goal=deliver 3 soups"], ["does not use goal='deliver 3 soups'"]),
        (["task=retarget", "plan=p.json"], ["does not use plan='p.json'"]),
        (["task=overcooked", "bots=2"], ["does not use bots=2 (a setting of task=minecraft)"]),
        (["episodes=3", "input=rec.jsonl"], ["episodes=3 (a setting of task=overcooked)", "input='rec.jsonl'"]),
    ],
)
def test_bad_input_names_the_field_and_exits_nonzero(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    proc = _ember(tmp_path, "run", "video=false", "progress=false", *args)
    assert proc.returncode != 0
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_malformed_plan_file_lists_problems_with_paths(tmp_path: Path) -> None:
    bad = {
        "root": {
            "type": "sequence",
            "children": [
                {"type": "action", "skill": "pick", "args": {"obj": "ghost_cube"}},
                {"type": "action", "skill": "teleport", "args": {}},
            ],
        }
    }
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "broken.json").write_text("{not json")
    proc = _ember(tmp_path, "run", f"plan={tmp_path / 'bad.json'}", "video=false", "progress=false")
    assert proc.returncode == 2
    assert "$.root.children[0].args.obj" in proc.stderr and "$.root.children[1].skill" in proc.stderr
    proc = _ember(tmp_path, "run", f"plan={tmp_path / 'broken.json'}", "video=false", "progress=false")
    assert proc.returncode == 2 and "not JSON" in proc.stderr
    proc = _ember(tmp_path, "run", "plan=missing.json", "video=false", "progress=false")
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_plan_file_runs(tmp_path: Path) -> None:
    plan = {
        "goal": "put green in the tray",
        "root": {
            "type": "sequence",
            "children": [
                {"type": "action", "skill": "pick", "args": {"obj": "green_cube"}},
                {"type": "action", "skill": "place", "args": {"obj": "green_cube", "target": "tray"}},
            ],
        },
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    proc = _ember(tmp_path, "run", "plan=plan.json", "video=false", "progress=false", "seed=3")
    assert proc.returncode == 0, proc.stderr
    (run,) = _run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["success"] and metrics["goal"] == "put green in the tray"  # the plan's goal, not the default
    # A goal given beside the plan is the one judged: this plan does not reach it.
    args = ("plan=plan.json", "video=false", "progress=false", "seed=3", "goal=put blue in the tray")
    proc = _ember(tmp_path, "run", *args, "hydra.run.dir=other")
    metrics = json.loads((tmp_path / "other" / "metrics.json").read_text())
    assert proc.returncode == 1 and not metrics["success"] and metrics["goal_literals"] == ["on(blue_cube, tray)"]


def test_usage_and_unknown_subcommand(tmp_path: Path) -> None:
    assert "subcommands" in _ember(tmp_path).stdout
    proc = _ember(tmp_path, "fly")
    assert proc.returncode == 2 and "unknown subcommand" in proc.stderr


def test_llm_planner_through_the_cli(tmp_path: Path) -> None:
    from ember.planners.llm.standin import StandInModel
    from ember.planners.llm.testing import OpenAIStubServer
    from ember.skills.library import SkillLibrary

    standin = StandInModel(SkillLibrary.for_domain("tabletop"), k=0.0)
    with OpenAIStubServer(standin) as server:
        common = [
            "planner=llm",
            f"planner.base_url={server.base_url}",
            "planner.model=stand-in",
            "video=false",
            "progress=false",
            f"planner.cache_dir={tmp_path / 'cache'}",
        ]
        proc = _ember(tmp_path, "run", *common, "goal=put red in the tray")
        assert proc.returncode == 0, proc.stderr
        (run,) = _run_dirs(tmp_path)
        events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
        calls = [e for e in events if e["event"] == "llm_call"]
        assert len(calls) == 1 and calls[0]["prompt_tokens"] > 0
        assert json.loads((run / "metrics.json").read_text())["planner_calls"] == 1
        proc = _ember(tmp_path, "run", *common, "planner.critique_rounds=1", "goal=make the table look nice")
        assert proc.returncode == 2 and "LLM planner after 1 critique round" in proc.stderr
    proc = _ember(tmp_path, "run", "planner=llm", "video=false", "progress=false")
    assert proc.returncode != 0 and "base_url" in proc.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["train", "task=tabletopp"], "task=tabletopp: no such task; choose one of ['hoi', "),
        (["run", "planner=gpt"], "planner=gpt: no such planner; choose one of ['llm', 'symbolic']"),
    ],
)
def test_an_unknown_config_option_exits_2_listing_the_group(args: list[str], says: str) -> None:
    """Hydra's own error exited 1 and listed internal schema entries (``hoi_schema``) among the options."""
    proc = subprocess.run(
        [sys.executable, "-m", "ember.launch.cli", *args], capture_output=True, text=True, timeout=120
    )  # fmt: skip
    assert proc.returncode == 2 and says in proc.stderr and "_schema" not in proc.stderr


def test_null_and_user_config_folders_are_left_to_hydra() -> None:
    from ember.launch.cli import unknown_option

    assert unknown_option(["policy=null"]) is None  # train.yaml's own default
    assert unknown_option(["--config-dir", "mine", "task=my_task"]) is None
    assert unknown_option(["hydra.searchpath=[file://mine]", "task=my_task"]) is None
    assert unknown_option(["task=my_task"]) is not None


def test_run_as_a_module_refuses_in_one_line(tmp_path: Path) -> None:
    """``python -m ember.launch.run`` ran main() before the refusal helpers below it were defined (NameError)."""
    proc = subprocess.run(
        [sys.executable, "-m", "ember.launch.run", "task=minecraft", "progress=false", f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "needs a goal of its own" in proc.stderr

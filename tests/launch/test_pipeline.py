"""``ember train pipeline=NAME``: stages as child ``ember train`` runs, each from the one before; the pipeline's state
file, budget, resume after a stop, and refusals that name what to fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from helpers import default_sigint

from ember.launch.pipeline import STAGE_OVERHEAD_S

EMBER = [sys.executable, "-m", "ember.launch.cli", "train"]
PPO = [
    "algo=ppo",
    "task.num_envs=4",
    "algo.num_steps=16",
    "algo.num_minibatches=1",
    "algo.hidden=[16,16]",
    "eval_every_steps=64",
    "total_steps=128",
]


def write_pipeline(conf: Path, stages: list[dict[str, object]], budget_s: float = 0.0) -> None:
    """A user's pipeline file in their own config folder (``hydra.searchpath``), on the torch pendulum."""
    (conf / "pipeline").mkdir(parents=True, exist_ok=True)
    doc = {
        "defaults": ["/pipeline/pipeline_schema@pipeline", {"override /task": "pendulum"}, "_self_"],
        "pipeline": {"name": "two", "task": "pendulum", "budget_s": budget_s, "stages": stages},
    }
    (conf / "pipeline" / "two.yaml").write_text("# @package _global_\n" + json.dumps(doc))


def train(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    return subprocess.run(
        [*EMBER, "progress=false", search, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )


STAGES: list[dict[str, object]] = [
    {"name": "first", "overrides": PPO},
    {
        "name": "second",
        "overrides": [*PPO, "algo.lr=1e-4"],
        "init_from": "first/checkpoints/last.pt",
        "use_budget": True,
    },
]


def test_pipeline_chains_stages_and_records_them(tmp_path: Path) -> None:
    write_pipeline(tmp_path / "conf", STAGES, budget_s=3600)
    proc = train(tmp_path, "pipeline=two", "seed=3", "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    state = json.loads((run / "pipeline.json").read_text())
    assert [s["status"] for s in state["stages"]] == ["done", "done"]
    # the command line's keys go to every stage, the user's config folders too; pipeline= and hydra.run.dir do not
    assert state["overrides"] == ["progress=false", "seed=3", f"hydra.searchpath=[file://{tmp_path / 'conf'}]"]
    cfg1 = yaml.safe_load((run / "first" / "config.yaml").read_text())
    cfg2 = yaml.safe_load((run / "second" / "config.yaml").read_text())
    assert cfg1["seed"] == cfg2["seed"] == 3
    assert cfg1["init_from"] is None and cfg2["init_from"] == "run/first/checkpoints/last.pt"
    assert cfg2["algo"]["lr"] == 1e-4
    # what the first stage left of budget_s, less the time a stage spends outside its training clock
    assert 0 < cfg2["max_wall_s"] <= 3600 - state["stages"][0]["wall_s"] - STAGE_OVERHEAD_S + 0.5
    assert cfg1["max_wall_s"] == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pipeline"] == "two" and set(metrics["stages"]) == {"first", "second"}
    assert metrics["pipeline_wall_s"] >= sum(s["wall_s"] for s in state["stages"]) - 0.2
    assert metrics["env_steps"] == 128  # the last stage's own figures
    assert "stage 2/2: second" in proc.stdout + proc.stderr


def test_pipeline_stops_at_a_failing_stage_and_says_how_to_go_on(tmp_path: Path) -> None:
    write_pipeline(tmp_path / "conf", [STAGES[0], {**STAGES[1], "overrides": [*PPO, "algo.lr=-1"]}])
    proc = train(tmp_path, "pipeline=two", "hydra.run.dir=run")
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    assert "algo.lr=-1" in out and "stage second failed (exit 2)" in out and "ember train resume=run" in out
    state = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert [(s["status"], s.get("rc")) for s in state["stages"]] == [("done", 0), ("failed", 2)]
    assert not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize(
    ("stages", "args", "message"),
    [
        (
            [{**STAGES[1], "name": "a"}],
            [],
            "init_from='first/checkpoints/last.pt': it must start with an earlier stage",
        ),
        ([STAGES[0], {**STAGES[0]}], [], "stage names must be unique"),
        (STAGES, ["init_from=runs/x"], "init_from=runs/x: a pipeline sets init_from for each stage itself"),
        (STAGES, ["task=quadrotor_hover"], "task=quadrotor_hover: this pipeline trains task=pendulum"),
        (STAGES, ['+pipeline.stage_overrides.third=["seed=1"]'], "pipeline.stage_overrides names no stage ['third']"),
    ],
)
def test_pipeline_refuses_bad_input_before_any_stage_runs(
    tmp_path: Path, stages: list[dict[str, object]], args: list[str], message: str
) -> None:
    write_pipeline(tmp_path / "conf", stages)
    proc = train(tmp_path, "pipeline=two", "hydra.run.dir=run", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in " ".join((proc.stdout + proc.stderr).split())
    assert not (tmp_path / "run" / "pipeline.json").exists()


def test_resume_of_a_run_that_is_not_a_pipeline_says_so(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "plain").mkdir()
    proc = train(tmp_path, "pipeline=retarget", "resume=plain")
    assert proc.returncode == 2
    assert "resume='plain': no pipeline.json there" in proc.stdout + proc.stderr


def test_the_shipped_retarget_recipe_runs_end_to_end_on_tiny_sizes(tmp_path: Path) -> None:
    """``ember train task=retarget pipeline=retarget``, each stage shrunk to seconds: DAgger from the MPC teacher, PPO
    from its student, PPO from that stage's last checkpoint; the pipeline's artifact loads as a tracking policy and its
    meta.json names all three stages."""
    pytest.importorskip("mujoco")
    from ember.skills.humanoid.tracking import TrackingPolicy

    tiny_ppo = json.dumps(
        [
            "total_steps=256",
            "task.num_envs=2",
            "algo.num_steps=16",
            "algo.num_minibatches=1",
            "eval_every_steps=128",
            "task.eval_envs=1",
            "task.eval_seconds=0.2",
            "task.physics_threads=0",
            "threads=1",
        ]
    )
    dagger = ["algo.envs=1", "algo.steps=4", "algo.samples=4", "algo.horizon=2", "algo.epochs=1", "total_steps=4"]
    proc = subprocess.run(
        [
            *EMBER,
            "task=retarget",
            "pipeline=retarget",
            "progress=false",
            "hydra.run.dir=run",
            f"+pipeline.stage_overrides.dagger={json.dumps([*dagger, 'algo.mpc_threads=1'])}",
            f"+pipeline.stage_overrides.ppo={tiny_ppo}",
            f"+pipeline.stage_overrides.ppo_weighted={tiny_ppo}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    meta = json.loads((run / "artifact" / "meta.json").read_text())
    assert list(meta["stages"]) == ["dagger", "ppo", "ppo_weighted"]
    assert "init_from=run/ppo/checkpoints/last.pt" in meta["stages"]["ppo_weighted"]["train_command"]
    assert "task.clip_weights=[1,2,2,1]" in meta["train_command"]  # the last stage's own command
    assert meta["pipeline_command"].startswith("ember train task=retarget pipeline=retarget")
    assert (run / "artifact" / "checkpoint.pt").is_file()
    policy = TrackingPolicy(run / "artifact")
    assert policy.drive == {"joint_damping": 0.025, "armature": 0.01}


@contextmanager
def second_stage_running(tmp_path: Path, budget_s: float = 0.0, **popen: Any) -> Iterator[subprocess.Popen[str]]:
    """A pipeline whose second stage would train for hours, started in its own process group and yielded once that
    stage has written a checkpoint; whatever of the group is left at the end is killed (no test leaves a process)."""
    long = {**STAGES[1], "overrides": [*PPO, "total_steps=100000000", "stop_at_target=false"]}
    write_pipeline(tmp_path / "conf", [STAGES[0], long], budget_s=budget_s)
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    proc = subprocess.Popen(
        [*EMBER, "progress=false", search, "pipeline=two", "hydra.run.dir=run"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **popen,
    )
    checkpoint = tmp_path / "run" / "second" / "checkpoints" / "last.pt"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not checkpoint.is_file() and proc.poll() is None:
            time.sleep(0.1)
        assert checkpoint.is_file(), "the second stage wrote no checkpoint in 120 s"
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_ctrl_c_stops_the_pipeline_and_resume_finishes_it_within_the_budget(tmp_path: Path) -> None:
    """Ctrl-C during stage 2: the stage stops (its checkpoints whole), the pipeline records it as stopped and exits
    130; ``resume=`` skips stage 1 and resumes stage 2 from its last checkpoint, which then ends on what is left of
    ``budget_s`` — also when the pipeline's own record of the attempt was lost (a SIGKILL)."""
    with second_stage_running(tmp_path, budget_s=40, preexec_fn=default_sigint) as proc:
        os.kill(proc.pid, signal.SIGINT)  # the pipeline alone, as `kill -INT <pid>`: it passes the signal on
        _, err = proc.communicate(timeout=60)
    checkpoint = tmp_path / "run" / "second" / "checkpoints" / "last.pt"
    assert proc.returncode == 130, err[-2000:]
    assert "stage second stopped (exit 130)" in " ".join(err.split())
    state = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert [s["status"] for s in state["stages"]] == ["done", "stopped"]
    steps_before = torch.load(checkpoint, weights_only=False)["algo"]["env_steps"]
    first_mtime = (tmp_path / "run" / "first" / "metrics.json").stat().st_mtime_ns
    state["stages"][1].update(status="running", wall_s=0.0)  # as a SIGKILL of the whole pipeline would leave it
    (tmp_path / "run" / "pipeline.json").write_text(json.dumps(state))

    out = train(tmp_path, "resume=run", "hydra.run.dir=resumed")
    assert out.returncode == 0, out.stderr[-3000:]
    state = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert [s["status"] for s in state["stages"]] == ["done", "done"]
    second = state["stages"][1]
    assert "resume=run/second" in second["command"] and "max_wall_s=" in second["command"]
    assert second["metrics"]["env_steps"] > steps_before and second["metrics"]["wall_s"] < 60
    assert second["wall_s"] >= second["metrics"]["wall_s"]  # the stage's own clock counts the lost attempt
    assert (tmp_path / "run" / "first" / "metrics.json").stat().st_mtime_ns == first_mtime  # not run again
    assert "done before, skipped" in out.stdout + out.stderr


def test_sigterm_to_the_pipeline_stops_its_stage_too(tmp_path: Path) -> None:
    """``kill <pipeline pid>`` (a scheduler, a container stop) used to leave the stage training on alone: it is
    passed on, the pipeline exits 143 with the stage recorded as stopped, and no process of the run is left."""
    with second_stage_running(tmp_path) as proc:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
        group_left = True
        try:
            os.killpg(proc.pid, 0)  # the run's process group: the pipeline and its stage
        except ProcessLookupError:
            group_left = False
    assert proc.returncode == 143, err[-2000:]
    assert not group_left, "the stage outlived the pipeline"
    assert "stage second stopped (exit 143)" in " ".join(err.split())
    state = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert [s["status"] for s in state["stages"]] == ["done", "stopped"]
    torch.load(tmp_path / "run" / "second" / "checkpoints" / "last.pt", weights_only=False)  # whole

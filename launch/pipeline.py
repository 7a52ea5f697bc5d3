"""``ember train pipeline=NAME``: several ``ember train`` stages as one command, each started from the one before.

A pipeline (``launch/conf/pipeline/<name>.yaml``) lists stages. Each stage is an ``ember train`` run of its own — its
own directory under the pipeline's run directory, config, log, checkpoints, TensorBoard and progress bar — started as
a child process with ``task=<pipeline.task>``, the stage's overrides, then the command line's (they come last and
win: ``seed=1``, ``progress=false``), and ``init_from`` pointing at the earlier stage's checkpoint it names.
``budget_s`` bounds the wall time of all stages: a ``use_budget`` stage gets what the stages before it left, less
what a stage spends outside its own training clock (start-up, export: the most the finished stages spent so, at
least ``STAGE_OVERHEAD_S``), as its ``max_wall_s``, which training ends inside.

``pipeline.json`` (rewritten atomically as stages start and end) records each stage's command, status, exit code,
wall time (the larger of the pipeline's clock and the stage's own, which counts from its checkpoints an attempt killed
with the pipeline) and metrics. ``ember train resume=<pipeline run>`` skips the finished stages and resumes the one that
stopped (``resume=<its directory>`` with its own overrides, from its last checkpoint or DAgger labels). When the last
stage finishes, its ``artifact/`` (if it writes one) becomes the pipeline's, with the stage's best checkpoint as
``checkpoint.pt`` (``init_from=`` for a fine-tune) and its ``meta.json`` extended with every stage's command and time
(``stages``, ``pipeline_wall_s``); its ``metrics.json`` becomes the pipeline's with the same. Ctrl-C or SIGTERM stops
the running stage too (exit 130 or 143, the stage recorded as stopped), never leaving it to run on alone.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ember.launch.warmstart import TrainConfigError
from ember.sims.atomic import atomic_write_json

STATE = "pipeline.json"
STAGE_OVERHEAD_S = 10.0  # the least a stage is assumed to spend outside its training clock (retarget here: 5-6 s)
RESERVED = ("pipeline", "task", "resume", "init_from", "max_wall_s", "hydra")
"""Command-line keys a pipeline sets itself (a ``pipeline.*`` key configures the pipeline, not the stages)."""


def stage_overrides(cli: list[str], task: str) -> list[str]:
    """The command line's overrides that go on to every stage: all but the pipeline's own keys. ``task=`` may only
    repeat the pipeline's task."""
    passed = []
    for item in cli:
        key, _, value = item.lstrip("+~").partition("=")
        root = key.split(".")[0].split("/")[0]
        if key == "task":
            if value != task:
                raise TrainConfigError(f"task={value}: this pipeline trains task={task}; drop task= or set it to that")
            continue
        if root in ("pipeline", "resume") or (root == "hydra" and key != "hydra.searchpath"):
            continue  # the pipeline's own; stages find user config folders too
        if root in RESERVED and key != "hydra.searchpath":
            raise TrainConfigError(
                f"{item}: a pipeline sets {key} for each stage itself; edit the stage in its pipeline file instead"
            )
        passed.append(item)
    return passed


def _stage_args(stage: dict[str, Any], task: str, passed: list[str], extra: list[str], run_dir: Path) -> list[str]:
    args = [f"task={task}", *stage["overrides"], *passed, *extra, f"hydra.run.dir={run_dir / stage['name']}"]
    if stage.get("init_from"):
        args.append(f"init_from={run_dir / stage['init_from']}")
    return args


def plan(cfg: DictConfig, cli: list[str], run_dir: Path, command: str) -> dict[str, Any]:
    """The pipeline's state before any stage runs: its stages' arguments, all ``pending``."""
    p: dict[str, Any] = OmegaConf.to_container(cfg.pipeline, resolve=True)  # type: ignore[assignment]
    if not p["stages"]:
        raise TrainConfigError(f"pipeline={p['name']}: pipeline.stages is empty; list at least one stage")
    names = [s["name"] for s in p["stages"]]
    for i, stage in enumerate(p["stages"]):
        name = stage["name"]
        if not name or "/" in name or names.count(name) > 1:
            raise TrainConfigError(
                f"pipeline.stages[{i}].name={name!r}: stage names must be unique folder names (no '/')"
            )
        source = stage.get("init_from")
        if source and source.split("/")[0] not in names[:i]:
            raise TrainConfigError(
                f"pipeline.stages[{i}].init_from={source!r}: it must start with an earlier stage's name "
                f"(one of {names[:i]}), as in '{names[0]}/checkpoints/last.pt'"
            )
    unknown = sorted(set(p["stage_overrides"]) - set(names))
    if unknown:
        raise TrainConfigError(f"pipeline.stage_overrides names no stage {unknown}; its stages are {names}")
    passed = stage_overrides(cli, str(p["task"]))
    return {
        "name": p["name"],
        "task": p["task"],
        "command": command,
        "overrides": passed,
        "budget_s": float(p["budget_s"]),
        "stages": [
            {
                **s,
                "args": _stage_args(s, str(p["task"]), passed, p["stage_overrides"].get(s["name"], []), run_dir),
                "status": "pending",
            }
            for s in p["stages"]
        ],
    }


def run(cfg: DictConfig, cli: list[str], run_dir: Path, console: Console) -> int:
    """Run (or, with ``resume=``, continue) the pipeline in ``run_dir``; the exit code of the stage that failed, else
    0."""
    if run_dir.is_absolute() and run_dir.is_relative_to(Path.cwd()):
        run_dir = run_dir.relative_to(Path.cwd())  # stage commands as one would type them
    state_path = run_dir / STATE
    if cfg.resume:
        if not state_path.is_file():
            raise TrainConfigError(f"resume={cfg.resume!r}: no {STATE} there; give the run directory of a pipeline")
        state = json.loads(state_path.read_text())
        if cfg.get("pipeline") is not None and cfg.pipeline.name != state["name"]:
            raise TrainConfigError(
                f"resume={cfg.resume!r} ran pipeline={state['name']}; "
                f"this command asks for pipeline={cfg.pipeline.name}; drop pipeline= to resume it"
            )
    else:
        command = "ember train " + " ".join(cli)
        state = plan(cfg, cli, run_dir, command)
        if cfg.pipeline.dry_run:
            for s in state["stages"]:
                budget = " (+ max_wall_s: what budget_s leaves)" if s["use_budget"] else ""
                console.print(f"# {s['name']}\nember train {' '.join(s['args'])}{budget}", soft_wrap=True, markup=False)
            if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= {".hydra", "train.log"}:
                shutil.rmtree(run_dir)  # Hydra made it; a dry run leaves nothing behind
            return 0
        atomic_write_json(state_path, state, indent=2)
    n = len(state["stages"])
    for i, stage in enumerate(state["stages"]):
        if stage["status"] == "done":
            console.print(f"[dim]stage {i + 1}/{n} {escape(stage['name'])}: done before, skipped[/]")
            continue
        spent = sum(float(s.get("wall_s", 0.0)) for s in state["stages"][:i])
        args = list(stage["args"])
        stage_dir = run_dir / stage["name"]
        if _resumable(stage_dir):  # a stage that stopped part way: its own overrides and checkpoints
            args = [a for a in args if not a.startswith("init_from=")]
            args += [f"resume={stage_dir}", "hydra.output_subdir=null"]
        if stage["use_budget"] and state["budget_s"] > 0:
            overhead = _overhead(state["stages"][:i])
            left = state["budget_s"] - spent - overhead
            if left <= 0:
                reason = f"budget_s={state['budget_s']:.0f} spent ({spent:.0f} s, {overhead:.0f} s to start a stage)"
                stage.update(status="skipped", reason=reason)
                atomic_write_json(state_path, state, indent=2)
                console.print(f"[yellow]stage {i + 1}/{n} {escape(stage['name'])}: skipped, {stage['reason']}[/]")
                continue
            args.append(f"max_wall_s={left:.0f}")
        console.rule(escape(f"stage {i + 1}/{n}: {stage['name']}"))
        console.print("ember train " + " ".join(args), soft_wrap=True, highlight=False, markup=False)
        stage.update(status="running", command="ember train " + " ".join(args))
        atomic_write_json(state_path, state, indent=2)
        t0 = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "ember.launch.cli", "train", *args])
        rc = _wait(child)
        if rc < 0:  # the stage died of a signal
            rc = 128 - rc
        stage["wall_s"] = round(float(stage.get("wall_s", 0.0)) + time.perf_counter() - t0, 1)
        metrics_path = stage_dir / "metrics.json"
        if rc == 0 and metrics_path.is_file():
            metrics = json.loads(metrics_path.read_text())
            # a resumed stage's own clock (from its checkpoints) also counts an attempt killed with the pipeline
            stage["wall_s"] = max(stage["wall_s"], float(metrics.get("wall_s") or 0.0))
            stage.update(status="done", rc=0, metrics=metrics)
            atomic_write_json(state_path, state, indent=2)
            continue
        stage.update(status="stopped" if rc in (130, 137, 143) else "failed", rc=rc if rc else 1)
        atomic_write_json(state_path, state, indent=2)
        console.print(
            f"[bold red]stage {escape(stage['name'])} {stage['status']} (exit {stage['rc']})[/]; "
            + escape(
                f"its log: {stage_dir}/train.log; go on with: ember train resume={run_dir}"
                + ("" if stage["status"] == "stopped" else " (it repeats the stage's command from pipeline.json)")
            ),
            soft_wrap=True,
            highlight=False,
        )
        return int(stage["rc"])
    _finish(state, run_dir, console)
    atomic_write_json(state_path, state, indent=2)
    return 0


def _overhead(stages: list[dict[str, Any]]) -> float:
    """What a stage spends outside its training clock (process start, env build, export): the most the finished
    stages spent so (their wall time less their ``metrics.json`` clock), at least ``STAGE_OVERHEAD_S``."""
    spent = [
        float(s["wall_s"]) - float(s["metrics"]["wall_s"])
        for s in stages
        if s.get("status") == "done" and isinstance(s.get("metrics"), dict) and s["metrics"].get("wall_s")
    ]
    return max([STAGE_OVERHEAD_S, *spent])


class _Terminated(Exception):
    """SIGTERM reached the pipeline (``kill <pid>``, a job scheduler, a container stop) while a stage ran."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def _wait(child: subprocess.Popen[bytes]) -> int:
    """The stage's exit code. Ctrl-C or SIGTERM to the pipeline stops the stage with the same signal (its
    checkpoints are written atomically, so they stay whole) and never leaves it running on its own: 130 or 143."""
    main = threading.current_thread() is threading.main_thread()  # Python runs signal handlers there only
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if main else None
    try:
        return child.wait()
    except KeyboardInterrupt:  # a terminal's Ctrl-C reaches the stage too: let it stop on its own first
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # only this process was signalled (kill -INT <pid>): pass it on
            child.send_signal(signal.SIGINT)
            _reap(child)
        return 130
    except _Terminated:
        child.send_signal(signal.SIGTERM)
        _reap(child)
        return 143
    finally:
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _reap(child: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait for a signalled stage; one that has not exited after ``timeout`` seconds is killed."""
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _resumable(stage_dir: Path) -> bool:
    return (stage_dir / "checkpoints" / "last.pt").is_file() or (stage_dir / "artifact" / "dagger_data.pt").is_file()


def _finish(state: dict[str, Any], run_dir: Path, console: Console) -> None:
    """The last finished stage's artifact and metrics become the pipeline's, with every stage's command and time."""
    done = [s for s in state["stages"] if s["status"] == "done"]
    wall = round(sum(float(s.get("wall_s", 0.0)) for s in state["stages"]), 1)
    stages = {
        s["name"]: {"train_command": s.get("command"), "status": s["status"], "wall_s": s.get("wall_s")}
        | ({"metrics": s["metrics"]} if "metrics" in s else {})
        for s in state["stages"]
    }
    extra = {"pipeline": state["name"], "pipeline_command": state["command"], "pipeline_wall_s": wall}
    state["wall_s"] = wall
    if not done:
        return
    last = run_dir / done[-1]["name"]
    if (last / "artifact").is_dir():
        staging = run_dir / ".artifact.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(last / "artifact", staging)
        best = last / "checkpoints" / "best.pt"  # the exported policy's training state, to fine-tune from
        if best.is_file() and not (staging / "checkpoint.pt").exists():
            shutil.copy2(best, staging / "checkpoint.pt")
        meta_path = staging / "meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            atomic_write_json(meta_path, {**meta, **extra, "stages": stages}, indent=2)
        shutil.rmtree(run_dir / "artifact", ignore_errors=True)
        staging.rename(run_dir / "artifact")
    metrics = {**done[-1].get("metrics", {}), **extra, "stages": stages}
    atomic_write_json(run_dir / "metrics.json", metrics, indent=2)
    table = Table(title=f"pipeline {state['name']}: {wall / 3600:.2f} h")
    for column in ("stage", "status", "wall", "result"):
        table.add_column(column)
    for s in state["stages"]:
        m = s.get("metrics", {})
        result = next((f"{k} {m[k]:.3g}" for k in m if k.startswith("best_eval") and m[k] is not None), "")
        wall_s = f"{float(s.get('wall_s', 0.0)) / 60:.1f} min"
        table.add_row(s["name"], s["status"], wall_s, result)
    console.print(table)

"""``ember run``: plan a goal, tick the behavior tree in simulation, and write the run directory.

ember run                                   # default demo: stack green on red, PyBullet, symbolic planner
ember run goal="put every cube in the tray" seed=3 task.arrangement=mixed
ember run plan=path/to/plan.json            # run a plan file instead of planning
ember run -m seed=0,1,2                     # Hydra multirun
ember run task=overcooked layout=coordination_ring partner=greedy episodes=10
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape

from ember.launch.bounds import ConfigBoundsError, check_bounds
from ember.launch.config import RunConfig, register
from ember.launch.episode import ConfigError, run_episode
from ember.launch.rundir import RunDir
from ember.launch.status import print_error, status_progress
from ember.planners.goals import GoalError
from ember.planners.hoi.template import UnsupportedInstruction
from ember.planners.minecraft import PlanningError, parse_goal
from ember.planners.validate import PlanError
from ember.robots.config import RobotConfigError
from ember.sims.minecraft.node import NodeSetupError
from ember.sims.pybullet.scene import SceneConfigError
from ember.sims.world import WorldError
from ember.skills.learned import ArtifactError

log = logging.getLogger("ember.run")
USER_ERRORS = (
    ConfigError,
    RobotConfigError,
    GoalError,
    PlanError,
    SceneConfigError,
    WorldError,
    KeyError,
    PlanningError,
    UnsupportedInstruction,
    ArtifactError,
    ConnectionError,  # a robot or game server that cannot be reached (the message says where and what to start)
    NodeSetupError,  # node or the npm packages Minecraft needs are missing (the message says what to install)
)
register()


def _container(cfg: DictConfig, key: str) -> dict[str, Any]:
    value = OmegaConf.to_container(cfg[key], resolve=True)
    assert isinstance(value, dict)
    return {str(k): v for k, v in value.items()}


_TASK_SETTINGS = {
    "overcooked": ("layout", "partner", "seat", "episodes"),
    "retarget": ("input", "tracking_policy", "zero_shot"),
    "minecraft": ("bots", "skill_store"),
}
"""Run settings only these tasks read; another task refuses them rather than ignore them."""


def _unused_settings(cfg: DictConfig) -> str | None:
    """A setting the chosen task would silently ignore (a goal for Overcooked, which plays the kitchen's orders; a
    plan file for the retargeting replay; ...): refused, so a run never looks like it did what was asked."""
    name = str(cfg.task.name)
    foreign = [
        f"{key}={cfg[key]!r} (a setting of task={owner})"
        for owner, keys in _TASK_SETTINGS.items()
        if owner != name
        for key in keys
        if cfg[key] != getattr(RunConfig, key)
    ]
    if foreign:
        return f"task={name} does not use {', '.join(foreign)} — leave it out"
    if name == "hoi" and cfg.backend != "sim":
        return f"task=hoi acts in its MuJoCo scene; it does not use backend={cfg.backend!r} — leave it out"
    if name not in ("overcooked", "retarget"):
        return None
    given = []
    if cfg.goal != RunConfig.goal:
        given.append(f"goal={cfg.goal!r}")
    if cfg.plan is not None:
        given.append(f"plan={cfg.plan!r}")
    if cfg.backend != "sim":
        given.append(f"backend={cfg.backend!r}")
    if name == "overcooked":
        if cfg.partner is None and cfg.seat != 0:
            given.append(f"seat={cfg.seat} (a seat is taken beside partner=...)")
        if cfg.layout is not None and not str(cfg.layout).strip():
            return "layout='' is empty; name a layout the overcooked package ships, e.g. layout=cramped_room"
    if not given:
        return None
    does = {"overcooked": "plays the kitchen's soup orders", "retarget": "replays input=FILE through a policy"}[name]
    return f"task={name} {does}; it does not use {', '.join(given)} — leave it out"


@hydra.main(config_path="conf", config_name="run", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_path = Path(HydraConfig.get().runtime.output_dir)
    console = Console(stderr=True)
    try:
        check_bounds(cfg)
    except ConfigBoundsError as err:
        print_error(console, str(err))
        sys.exit(2)
    unused = _unused_settings(cfg)
    if unused:
        print_error(console, unused)
        sys.exit(2)
    run_dir = RunDir(run_path)
    run_path = run_dir.path  # another folder if a run started in the same second holds this one
    run_dir.write_text("config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if cfg.task.name == "retarget":
        from ember.launch.retarget import run as run_retarget

        run_retarget(cfg, run_dir, console)
        return
    if cfg.task.name == "overcooked":
        from ember.launch.overcooked import run

        run(cfg, run_dir, console)
        return
    task = _container(cfg, "task")
    planner_cfg = _container(cfg, "planner")
    if cfg.backend != "sim":
        task.update(backend=cfg.backend, robot=_container(cfg, "robot"), record=cfg.record)
        if cfg.record is not None:  # before connecting to the robot: a run never ends on a bag it cannot write
            from ember.robots.record import RecordError, check_record_path

            try:
                check_record_path(str(cfg.record))
            except RecordError as err:
                _refuse(run_dir, console, err)
    if task["name"] == "minecraft":
        if cfg.bots is not None:
            task["bots"] = cfg.bots
        task.setdefault("log_path", str(run_path / "server.log"))
        if cfg.plan is None and planner_cfg["name"] == "symbolic":
            try:  # a goal the planner would refuse is refused before the server and the bots start
                if cfg.goal == RunConfig.goal:
                    raise PlanningError(
                        f"task=minecraft needs a goal of its own (the default, {RunConfig.goal!r}, is the tabletop's); "
                        "give e.g. goal='craft a wooden pickaxe' or goal='has(bot0, oak_log, 3)'"
                    )
                _check_minecraft_goal(str(cfg.goal), task)
            except (PlanningError, ValueError, NodeSetupError) as err:
                _refuse(run_dir, console, err)
        planning = task.pop("planning", "central")
        if planner_cfg["name"] == "symbolic":  # Minecraft's symbolic planner: recipes and the team division
            planner_cfg = {"name": "minecraft", "store": cfg.skill_store, "planning": planning}
        elif planner_cfg["name"] == "llm":  # the LLM planner with Minecraft's goals, beliefs, skills and fallback
            planner_cfg = {**planner_cfg, "name": "minecraft_llm", "store": cfg.skill_store}
    if task["name"] == "hoi":  # instructions -> RMD stages -> a tree of stage leaves (planners/hoi/bt.py)
        stages = "llm" if planner_cfg["name"] == "llm" else "template"
        llm = {k: v for k, v in planner_cfg.items() if k != "name"} if stages == "llm" else {}
        planner_cfg = {"name": "hoi", "stages": stages, "controller": task["controller"], **llm}
        planner_cfg["artifact"] = task["artifact"]
        task = {"name": "hoi", "scene": task["scene"], "max_seconds": task["max_seconds"]}
    progress = status_progress(console, bool(cfg.progress))
    try:
        with progress:
            bar = progress.add_task(
                f"{cfg.goal if cfg.plan is None else cfg.plan!r} seed {cfg.seed}",
                total=float(task.get("max_seconds", 150.0)),
                status="planning",
            )

            def on_status(s: dict[str, Any]) -> None:
                if s["tick"] % 5 == 0:
                    progress.update(bar, completed=s["t"], status=f"t={s['t']:5.1f}s  {s['skill']}")

            metrics = run_episode(
                task,
                planner_cfg,
                "" if cfg.plan is not None and cfg.goal == RunConfig.goal else cfg.goal,  # a plan file's own goal
                seed=cfg.seed,
                plan_file=cfg.plan,
                run_dir=run_dir,
                max_replans=cfg.max_replans,
                video_every=cfg.video_every if cfg.video else 0,
                on_status=on_status,
            )
            progress.update(
                bar,
                completed=float(task.get("max_seconds", 150.0)),
                status="done" if metrics["success"] else f"failed: {metrics['status']}",
            )
    except USER_ERRORS as err:
        _refuse(run_dir, console, err)
    run_dir.close()
    reason = escape(str(metrics["reason"]))
    verdict = "[green]success[/]" if metrics["success"] else f"[red]{metrics['status']}[/]: {reason}"
    console.print(
        f"{verdict}  world {metrics['world_time_s']} s, wall {metrics['wall_time_s']} s, "
        f"{metrics['skills_run']} skills, {metrics['replans']} replans -> {run_path}",
        soft_wrap=True,
    )
    if not metrics["success"]:
        sys.exit(1)


def _refuse(run_dir: RunDir, console: Console, err: Exception) -> NoReturn:
    """A run refused for its input: the error in the trace and on stderr, exit status 2."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    run_dir.trace({"event": "error", "type": type(err).__name__, "message": message})
    run_dir.close()
    print_error(console, message)
    sys.exit(2)


def _check_minecraft_goal(goal: str, task: dict[str, Any]) -> None:
    """Raise what the Minecraft planner would about ``goal`` (its words, counts and items, from minecraft-data alone);
    whether the world can supply it is known only once the server is up."""
    from ember.sims.minecraft.data import check_version, game_data

    check_version(str(task["version"]), "task.version")
    bots = int(task.get("bots") or 1)
    parse_goal(goal, game_data(str(task["version"])), [f"bot{i}" for i in range(bots)])


if __name__ == "__main__":
    main()

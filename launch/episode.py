"""One episode: build the world, plan (or load a plan), validate, execute, and record everything.

Used by ``ember run`` and by ``bench/``; takes plain arguments so it runs without Hydra.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ember.launch.rundir import RunDir, VideoWriter
from ember.planners import PLANNERS
from ember.planners.executor import Executor
from ember.planners.goals import GoalError, parse_goal
from ember.planners.validate import PlanError, Problem, validate
from ember.sims import SKILL_DOMAINS, WORLDS, load_class, make_world
from ember.sims.predicates import Literal, format_facts
from ember.sims.world import World
from ember.skills.library import SkillLibrary


class ConfigError(ValueError):
    """A config value that cannot be used; names the field, the value and the fix."""


def build_world(task: Mapping[str, Any], seed: int) -> World:
    backend = task.get("backend", "sim")
    if backend != "sim":
        if task.get("name") != "tabletop":
            raise ConfigError(
                f"backend={backend} serves task=tabletop; task.name={task.get('name')!r} runs on backend=sim"
            )
        from ember.robots import LINKS, make_robot_world

        if backend not in LINKS:
            raise ConfigError(f"backend={backend!r} is unknown; choose sim or one of {sorted(LINKS)}")
        return make_robot_world(backend, task.get("robot"), record=task.get("record"))
    name = task.get("name")
    if name not in WORLDS:
        raise ConfigError(f"task.name={name!r} is unknown; choose one of {sorted(WORLDS)}")
    kwargs = {k: v for k, v in task.items() if k not in ("name", "max_seconds", "backend", "robot", "record")}
    if "render_size" in kwargs:
        size = list(kwargs["render_size"])
        if len(size) != 2 or not all(isinstance(v, int) and 16 <= v <= 2048 for v in size):
            raise ConfigError(f"task.render_size={size!r} must be [width, height] in pixels (16..2048)")
        kwargs["render_size"] = tuple(size)
    if "arrangement" in kwargs and not isinstance(kwargs["arrangement"], str):
        spec = kwargs["arrangement"]
        if not isinstance(spec, dict):
            raise ConfigError(
                f"task.arrangement={spec!r} must be a name (scattered, tower, tray, mixed) or a mapping such as "
                "{tower: [red, green], tray: [blue]}"
            )
        for key, value in spec.items():
            if not isinstance(value, list):
                raise ConfigError(
                    f"task.arrangement.{key}={value!r} must be a list of cube colors, e.g. {{{key}: [red, green]}}"
                )
        kwargs["arrangement"] = {k: list(v) for k, v in spec.items()}
    if "cubes" in kwargs:
        kwargs["cubes"] = tuple(kwargs["cubes"])
    return make_world(name, seed=seed, **kwargs)


def build_planner(planner: Mapping[str, Any], skills: SkillLibrary) -> Any:
    name = planner.get("name")
    if name not in PLANNERS:
        raise ConfigError(f"planner.name={name!r} is unknown; choose one of {sorted(PLANNERS)}")
    kwargs = {k: v for k, v in planner.items() if k != "name"}
    try:
        return load_class(PLANNERS[name])(skills, **kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"planner={name}: {err}") from err


def load_plan_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        what = "a directory" if file.is_dir() else "no such file"
        raise ConfigError(f"plan={path!r}: {what}; give the path of a plan JSON file (see planners/plan.schema.json)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        problem = Problem(
            "$", f"not JSON: {err.msg} at line {err.lineno} column {err.colno}", "fix the file's JSON syntax"
        )
        raise PlanError([problem], source=f"plan file {path}") from err
    except (UnicodeDecodeError, RecursionError, ValueError) as err:  # ValueError: an integer of 4300+ digits
        reason = (
            "not UTF-8 text"
            if isinstance(err, UnicodeDecodeError)
            else "JSON nested too deeply to read"
            if isinstance(err, RecursionError)
            else f"not readable JSON: {err}"
        )
        raise PlanError([Problem("$", reason, "give a plan JSON file")], source=f"plan file {path}") from err
    return data


def run_episode(
    task: Mapping[str, Any],
    planner_cfg: Mapping[str, Any],
    goal: str,
    seed: int = 0,
    plan_file: str | None = None,
    run_dir: RunDir | None = None,
    max_replans: int = 2,
    video_every: int = 0,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    disturb: Callable[[World, int], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run one episode and return its metrics; ``run_dir`` (if given) receives trace, metrics and video.

    ``disturb(world, tick)`` is called after every tick (benchmarks knock cubes over with it); ``on_event`` sees every
    trace event."""
    wall0 = time.perf_counter()

    def trace(event: dict[str, Any]) -> None:
        if run_dir is not None:
            run_dir.trace(event)
        if on_event is not None:
            on_event(event)

    world = build_world(task, seed)
    if hasattr(world, "on_event"):  # robot backends report safety events (clipped, refused, watchdog, e-stop)
        world.on_event = trace
    scene = getattr(world, "scene", None)
    steps0 = scene.steps if scene is not None else 0
    try:
        domain = SKILL_DOMAINS[task["name"]]
        skills = SkillLibrary.for_domain(domain)
        trace(
            {
                "event": "run_start",
                "task": task["name"],
                "seed": seed,
                "goal": goal,
                "objects": sorted(world.objects()),
                "facts": format_facts(world.facts()),
            }
        )
        literals: list[Literal] = []
        t_plan = time.perf_counter()
        planner: Any = None
        if plan_file:
            plan = load_plan_file(plan_file)
            if task.get("name") == "hoi":  # stages may be given as JSON objects
                from ember.planners.hoi.bt import stages_as_text

                plan = stages_as_text(plan)
            source = f"plan file {plan_file}"
            if goal.strip():  # a goal given beside the plan: the run succeeds only if the plan reaches it
                literals = parse_goal(goal, world)
            elif isinstance(plan, dict) and isinstance(plan.get("goal"), str) and plan["goal"].strip():
                goal = plan["goal"]
                try:
                    literals = parse_goal(goal, world)
                except GoalError:
                    if task.get("name") != "hoi":
                        raise
                    literals = []  # an instruction in words (a run's own plan.json): success is the tree's
        else:
            planner = build_planner(planner_cfg, skills)
            if hasattr(planner, "extend_library"):  # learned (composite) skills join the library
                skills = planner.extend_library(skills)
            if hasattr(planner, "on_event"):
                planner.on_event = trace
            try:
                literals = (
                    planner.goal_literals(goal, world) if hasattr(planner, "goal_literals") else parse_goal(goal, world)
                )
            except GoalError:
                if not getattr(planner, "accepts_free_text", False):
                    raise
                literals = []  # free text for a model; success is then the tree's own
            plan = planner.plan(goal, world)
            plan["goal"] = goal
            source = f"{planner_cfg['name']} planner"
        plan_seconds = time.perf_counter() - t_plan
        trace({"event": "goal", "literals": [str(g) for g in literals]})
        trace({"event": "plan", "source": source, "plan": plan, "planning_s": round(plan_seconds, 4)})
        problems = validate(plan, skills, world)
        trace(
            {
                "event": "validation",
                "ok": not any(p.severity == "error" for p in problems),
                "problems": [p.to_dict() for p in problems],
            }
        )
        if any(p.severity == "error" for p in problems):
            raise PlanError(problems, source)
        if run_dir is not None:
            run_dir.write_json("plan.json", plan)

        video = (
            VideoWriter(run_dir.path, fps=1.0 / (world.control_dt * video_every))
            if run_dir and video_every > 0
            else None
        )
        current: dict[str, Any] = {"skill": "", "skills_run": 0, "skill_failures": 0}

        def on_exec_event(event: dict[str, Any]) -> None:
            trace(event)
            if event["event"] == "skill_start":
                current["skill"] = f"{event['skill']}({', '.join(str(v) for v in event['args'].values())})"
                current["skills_run"] += 1
            elif event["event"] == "skill_end" and event["status"] == "failure":
                current["skill_failures"] += 1

        def on_tick(tick: int) -> None:
            if disturb is not None:
                disturb(world, tick)
            if video is not None and tick % video_every == 0:
                video.add(world.render())
            if on_status is not None:
                on_status({"tick": tick, "t": world.time(), "skill": current["skill"]})

        if video is not None:
            video.add(world.render())

        last_plan = [plan]

        def replan(reason: str) -> dict[str, Any] | None:
            try:
                new = planner.plan(goal, world, feedback=reason)
                last_plan[0] = new
            except (PlanError, GoalError, ValueError) as err:
                trace({"event": "replan_failed", "reason": str(err)})
                return None
            trace({"event": "plan", "source": f"replan after: {reason}", "plan": new})
            return new

        executor = Executor(
            world, skills, on_event=on_exec_event, on_tick=on_tick, max_seconds=float(task.get("max_seconds", 150.0))
        )
        result = executor.run(plan, literals, replan=replan if planner is not None else None, max_replans=max_replans)
        video_path = video.close() if video is not None else None
        if result.success and planner is not None and hasattr(planner, "on_success"):
            planner.on_success(goal, last_plan[0], world)  # e.g. store the tree that worked as a learned skill
        metrics = {
            "success": result.success,
            "status": result.status,
            "reason": result.reason,
            "failed_goals": result.failed_goals,
            "goal": goal,
            "goal_literals": [str(g) for g in literals],
            "seed": seed,
            "ticks": result.ticks,
            "sim_steps": scene.steps - steps0 if scene is not None else None,
            "world_time_s": round(result.world_time, 3),
            "wall_time_s": round(time.perf_counter() - wall0, 3),
            "planning_s": round(plan_seconds, 4),
            "replans": result.replans,
            "planner_calls": getattr(planner, "calls", None),
            "planner_tokens": getattr(planner, "tokens", None),
            "skills_run": current["skills_run"],
            "skill_failures": current["skill_failures"],
            "video": video_path.name if video_path else None,
            "final_facts": format_facts(world.facts()),
        }
        trace({"event": "run_end", **{k: v for k, v in metrics.items() if k != "final_facts"}})
        if run_dir is not None:
            run_dir.write_json("metrics.json", metrics)
        return metrics
    finally:
        world.close()

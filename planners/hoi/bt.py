"""``ember run task=hoi``'s planner: an instruction becomes RMD stages (template or LLM planner, validated) and the
stages a behavior tree, one ``hoi_stage`` (scripted controller) or ``hoi_stage_learned`` (the learned
goal-conditioned policy) leaf per stage, in a sequence. The same executor, trace and replanning as every other task
then run it: a leaf succeeds when its stage reward passes 0.9 and fails with a reason at its timeout.

Each leaf carries its stage as compact JSON, so the run's ``plan.json`` replays on its own (``ember run task=hoi
plan=.../plan.json``; a plan file may also give the stage as a JSON object). A plan's string arguments hold at most
``ARG_CHARS`` characters, room for a stage of four links with ASCII ids of 100 characters; a longer one goes into the
world's ``stage_table`` and its leaf names it — such a leaf runs only in the run that planned it.
Every stage is in the table under its leaf's name either way.
"""

from __future__ import annotations

import json
from typing import Any

from ember.planners.hoi.template import TemplatePlanner
from ember.planners.schema import ARG_CHARS
from ember.planners.validate import walk_nodes

CONTROLLER_SKILLS = {"scripted": "hoi_stage", "learned": "hoi_stage_learned"}


def stage_argument(stage: dict[str, Any], key: str) -> str:
    """The leaf's ``stage`` argument: the stage as compact JSON without its empty targets (and without its name too,
    when that makes it fit), or ``key`` when it does not fit in ``ARG_CHARS`` characters."""
    lean = {k: v for k, v in stage.items() if v is not None}
    for form in (lean, {k: v for k, v in lean.items() if k != "name"}):
        text = json.dumps(form, separators=(",", ":"))
        if len(text) <= ARG_CHARS:
            return text
    return key


def stages_as_text(plan: Any) -> Any:
    """Turns every leaf's ``stage`` argument given as a JSON object into compact JSON text, the form the plan schema
    takes (a plan file written by hand may give the object itself), in place; returns ``plan``."""
    if not isinstance(plan, dict):
        return plan
    for node, _, _ in walk_nodes(plan.get("root"), ["root"]):
        args = node.get("args")
        if isinstance(args, dict) and isinstance(args.get("stage"), dict):
            args["stage"] = json.dumps(args["stage"], separators=(",", ":"))
    return plan


class HOIStagePlanner:
    """Args:
    skills: the skill library (``hoi`` domain).
    stages: ``template`` (offline) or ``llm`` (:class:`~ember.planners.hoi.llm.HOILLMPlanner`, with the template
        planner as its fallback).
    controller: ``learned`` or ``scripted``: which stage skill the leaves use.
    timeout: world time per stage before its leaf fails [s] (a stage's own ``timeout_s`` wins).
    artifact: the learned policy's artifact folder for ``controller=learned`` (None: the shipped one).
    llm: the LLM planner's settings (``base_url``, ``model``, ``vlm`` ...), with ``stages=llm``.
    """

    accepts_free_text = True
    """The goal is an instruction; success is the tree's own."""

    def __init__(
        self,
        skills: Any = None,
        stages: str = "template",
        controller: str = "learned",
        timeout: float = 10.0,
        artifact: str | None = None,
        **llm: Any,
    ) -> None:
        if controller not in CONTROLLER_SKILLS:
            raise ValueError(f"controller={controller!r} is unknown; choose one of {sorted(CONTROLLER_SKILLS)}")
        if stages == "template":
            self.stage_planner: Any = TemplatePlanner()
        elif stages == "llm":
            import inspect

            from ember.planners.hoi.llm import HOILLMPlanner

            # ember run's LLM planner config serves every task: keep what the stage planner takes, in its terms
            accepted = inspect.signature(HOILLMPlanner).parameters
            kwargs = {k: v for k, v in llm.items() if k in accepted}
            if "critique_rounds" in llm:
                kwargs.setdefault("repair_rounds", llm["critique_rounds"])
            if kwargs.get("fallback") == "symbolic":  # the offline planner of this domain is the template one
                kwargs["fallback"] = "template"
            self.stage_planner = HOILLMPlanner(**kwargs)
        else:
            raise ValueError(f"stages={stages!r} is unknown; choose template or llm")
        self.stages, self.skill, self.timeout = stages, CONTROLLER_SKILLS[controller], timeout
        self.artifact = artifact if controller == "learned" else None

    def goal_literals(self, goal: str, world: Any) -> list[Any]:
        return []

    def plan(self, goal: str, world: Any, feedback: str | None = None) -> dict[str, Any]:
        description = world.description()
        if self.stages == "llm" and getattr(self.stage_planner, "vlm", False):
            stage_plan = self.stage_planner.plan(goal, description, image=world.render())
        else:
            stage_plan = self.stage_planner.plan(goal, description)
        children = []
        for i, stage in enumerate(stage_plan.stages):
            data = stage.to_dict()
            key = f"stage{i + 1}_{data.get('name') or 'stage'}"[:100]
            world.stage_table[key] = data
            timeout = float(data.get("timeout_s") or self.timeout)
            args: dict[str, Any] = {"stage": stage_argument(data, key), "timeout": timeout}
            if self.artifact:
                args["artifact"] = self.artifact
            children.append({"type": "action", "name": key, "skill": self.skill, "args": args})
        return {"version": 1, "root": {"type": "sequence", "name": goal[:200], "children": children}}

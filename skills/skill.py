"""Contract 3 — the skill (../shared/DESIGN.md).

A skill has a ``name``, typed :class:`Param` s, **preconditions** and **effects** as predicate templates (``?param``
variables, ``?agent`` for the acting agent, ``?_`` as a wildcard), and a controller. Lifecycle:
``start(world, agent, **args)``, then ``tick() -> Outcome`` once per control period (reads ``observe``, calls
``apply``, never blocks and never steps the world), and ``cancel()`` when a higher-priority branch takes over.

``__init__`` holds settings only, as in py_trees; everything episode-specific happens in :meth:`Skill.start`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ember.sims.predicates import Arg, Literal, holds, parse_literal
from ember.sims.world import ObjectInfo, World

PARAM_TYPES = ("object", "position", "number", "string", "boolean")


class Status(StrEnum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True)
class Outcome:
    """What one tick of a skill reports."""

    status: Status
    reason: str = ""
    """Why it failed or what it is doing, in words a planner can act on."""
    value: float | None = None
    """A critic's value estimate, where the controller has one."""


RUNNING = Outcome(Status.RUNNING)


@dataclass(frozen=True)
class Param:
    """A typed skill parameter."""

    name: str
    types: tuple[str, ...]
    """Accepted kinds, from :data:`PARAM_TYPES`; ``("object", "position")`` accepts either."""
    description: str
    object_types: tuple[str, ...] = ()
    """For objects: accepted object types (empty: any)."""
    movable: bool = False
    """For objects: the object must be movable."""
    position_dims: tuple[int, ...] = (2, 3)
    """For positions: accepted lengths ([x, y] on a surface, or [x, y, z]) [m]."""
    position_stands_for: str | None = None
    """In predicates, a position argument stands for this object (a table position -> ``table``)."""
    default: Any = None
    required: bool = True

    def json_schema(self) -> dict[str, Any]:
        options: list[dict[str, Any]] = []
        for kind in self.types:
            if kind == "object":
                desc = "object id" + (f" of type {'/'.join(self.object_types)}" if self.object_types else "")
                options.append({"type": "string", "description": desc})
            elif kind == "position":
                options.append(
                    {
                        "type": "array",
                        "items": {"type": "number"},
                        "minItems": min(self.position_dims),
                        "maxItems": max(self.position_dims),
                        "description": "position [m] in the world frame",
                    }
                )
            else:
                options.append({"type": kind})
        schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
        schema = {**schema, "description": self.description}
        if not self.required:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class ArgProblem:
    """One problem with a skill's arguments; ``field`` is the argument name."""

    field: str
    message: str
    hint: str


@dataclass
class SkillContext:
    """What a running skill holds: the world, the agent and its checked arguments."""

    world: World
    agent: str
    args: dict[str, Any] = field(default_factory=dict)


class SkillError(RuntimeError):
    """A skill started with arguments it cannot take."""


class Skill(ABC):
    """Base class: subclasses set the class attributes and implement :meth:`_start` and :meth:`tick`."""

    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    preconditions: ClassVar[tuple[str, ...]] = ()
    effects: ClassVar[tuple[str, ...]] = ()
    cost: ClassVar[float] = 1.0
    """Relative cost a planner uses to prefer one achiever over another."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.ctx: SkillContext | None = None

    # ------------------------------------------------------------ description
    @classmethod
    def parsed_preconditions(cls) -> list[Literal]:
        return [parse_literal(p) for p in cls.preconditions]

    @classmethod
    def parsed_effects(cls) -> list[Literal]:
        return [parse_literal(e) for e in cls.effects]

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """Self-description as JSON Schema of the arguments, plus preconditions and effects (what LLMs see)."""
        return {
            "name": cls.name,
            "description": cls.description,
            "parameters": {
                "type": "object",
                "properties": {p.name: p.json_schema() for p in cls.params},
                "required": [p.name for p in cls.params if p.required],
                "additionalProperties": False,
            },
            "preconditions": list(cls.preconditions),
            "effects": list(cls.effects),
        }

    @classmethod
    def check_args(cls, args: Mapping[str, Any], objects: Mapping[str, ObjectInfo] | None) -> list[ArgProblem]:
        """Every problem with ``args``; ``objects`` (from the world) enables object checks."""
        problems: list[ArgProblem] = []
        if not isinstance(args, Mapping):
            return [ArgProblem("args", f"arguments must be an object; got {type(args).__name__}", "give {name: value}")]
        known = {p.name for p in cls.params}
        for key in args:
            if key not in known:
                problems.append(
                    ArgProblem(str(key), f"{cls.name} has no parameter {key!r}", f"parameters are {sorted(known)}")
                )
        for param in cls.params:
            if param.name not in args:
                if param.required:
                    problems.append(ArgProblem(param.name, f"{cls.name} needs {param.name!r}", param.description))
                continue
            problems.extend(cls._check_value(param, args[param.name], objects))
        return problems

    @classmethod
    def _check_value(cls, param: Param, value: Any, objects: Mapping[str, ObjectInfo] | None) -> list[ArgProblem]:
        kinds = " or ".join(param.types)
        if isinstance(value, str) and "object" in param.types:
            if objects is None:
                return []
            if value not in objects:
                return [ArgProblem(param.name, f"unknown object {value!r}", f"objects are {sorted(objects)}")]
            info = objects[value]
            if param.object_types and info.type not in param.object_types:
                return [
                    ArgProblem(
                        param.name,
                        f"{value!r} is a {info.type}; {cls.name}.{param.name} takes {'/'.join(param.object_types)}",
                        f"choose among {sorted(k for k, o in objects.items() if o.type in param.object_types)}",
                    )
                ]
            if param.movable and not info.movable:
                return [ArgProblem(param.name, f"{value!r} cannot be moved", "choose a movable object")]
            return []
        if isinstance(value, list | tuple) and "position" in param.types:
            ok = len(value) in param.position_dims and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
            if not ok:
                return [
                    ArgProblem(
                        param.name,
                        f"position {value!r} must be {param.position_dims} finite numbers",
                        "write [x, y] or [x, y, z] in meters",
                    )
                ]
            return []
        if isinstance(value, int | float) and not isinstance(value, bool) and "number" in param.types:
            return (
                []
                if math.isfinite(value)
                else [ArgProblem(param.name, f"{value!r} is not finite", "give a finite number")]
            )
        if isinstance(value, bool) and "boolean" in param.types:
            return []
        if isinstance(value, str) and "string" in param.types:
            return []
        return [ArgProblem(param.name, f"{value!r} ({type(value).__name__}) is not a valid {kinds}", param.description)]

    @classmethod
    def symbolic_binding(cls, agent: str, args: Mapping[str, Any]) -> dict[str, Arg]:
        """``?var -> value`` for predicates: object ids as they are, positions as the object they stand for."""
        binding: dict[str, Arg] = {"?agent": agent}
        for param in cls.params:
            value = args.get(param.name, param.default)
            if isinstance(value, str):
                binding[f"?{param.name}"] = value
            elif isinstance(value, list | tuple) and param.position_stands_for:
                binding[f"?{param.name}"] = param.position_stands_for
        return binding

    @classmethod
    def grounded(cls, templates: list[Literal], agent: str, args: Mapping[str, Any]) -> list[Literal]:
        """Templates with the arguments filled in; literals over unbound parameters are dropped."""
        binding = cls.symbolic_binding(agent, args)
        out = []
        for lit in templates:
            ground = lit.substitute(binding)
            if all(not (isinstance(a, str) and a.startswith("?") and a != "?_") for a in ground.atom.args):
                out.append(ground)
        return out

    # ------------------------------------------------------------ lifecycle
    def start(self, world: World, agent: str, **args: Any) -> None:
        """Check the arguments against the world and begin; never blocks."""
        problems = self.check_args(args, world.objects())
        if problems:
            raise SkillError("; ".join(f"{self.name}.{p.field}: {p.message} ({p.hint})" for p in problems))
        full = {p.name: args.get(p.name, p.default) for p in self.params}
        self.ctx = SkillContext(world=world, agent=agent, args=full)
        self._failed_pre = [
            lit for lit in self.grounded(self.parsed_preconditions(), agent, full) if not holds(lit, world.facts())
        ]
        if not self._failed_pre:
            self._start()

    def unmet_preconditions_outcome(self) -> Outcome | None:
        """FAILURE naming unmet preconditions at start, else None."""
        if getattr(self, "_failed_pre", None):
            return Outcome(Status.FAILURE, "preconditions not met: " + ", ".join(str(x) for x in self._failed_pre))
        return None

    @abstractmethod
    def _start(self) -> None:
        """Set up the controller for ``self.ctx``."""

    @abstractmethod
    def tick(self) -> Outcome:
        """One control period: read ``observe``, call ``apply``, return the outcome."""

    def cancel(self) -> None:  # noqa: B027 - optional hook
        """Stop: the arm holds where it is (the gripper keeps its state, so a held object is not dropped)."""

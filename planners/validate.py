"""``validate(plan, skills, world)``: every problem of a plan, each with its JSON path and a hint.

Three passes, each reporting all it finds: the JSON Schema (structure), names (skills, arguments, objects, agents,
predicates), and a symbolic dry run that walks the tree as intended (a fallback's condition that holds skips its
branch; actions apply their declared effects) and reports each precondition nothing establishes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from ember.planners.schema import MAX_DEPTH, NODE_TYPES, plan_schema
from ember.planners.symbolic_state import SymbolicState
from ember.sims.predicates import Atom, Literal, PredicateError, holds, parse_literal
from ember.sims.world import World
from ember.skills.library import SkillLibrary


@dataclass(frozen=True)
class Problem:
    """One problem: where (``$.root.children[1].args.obj``), what, and how to fix it."""

    path: str
    message: str
    hint: str = ""
    severity: str = "error"
    """``error`` blocks execution; ``warning`` is reported only."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "hint": self.hint, "severity": self.severity}


class PlanError(ValueError):
    """A plan that does not validate; ``problems`` holds every problem found."""

    def __init__(self, problems: list[Problem], source: str = "plan") -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems if p.severity == "error")
        super().__init__(f"{source} is invalid ({sum(p.severity == 'error' for p in problems)} problem(s)):\n{lines}")


def _path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _closest(word: str, options: Iterable[str]) -> str:
    options = sorted(options)
    close = difflib.get_close_matches(word, options, n=1)
    return f"did you mean {close[0]!r}? choose from {options}" if close else f"choose from {options}"


_SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(plan_schema())


def schema_problems(
    validator: jsonschema.protocols.Validator,
    instance: Any,
    hint_for: Callable[[jsonschema.ValidationError, list[Any]], str | None] = lambda err, parts: None,
) -> list[Problem]:
    """Every JSON Schema problem of ``instance`` as a :class:`Problem` with its path and a hint: ``hint_for(error,
    path parts)`` gives a domain's own hint (None: the generic one for missing or extra fields, types and ranges)."""
    problems = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        if err.validator in ("allOf", "if", "then", "$ref"):
            continue
        parts = list(err.absolute_path)
        hint = hint_for(err, parts)
        if hint is None:
            hint = ""
            if err.validator == "required":
                missing = [r for r in err.validator_value if isinstance(err.instance, dict) and r not in err.instance]
                hint = f"add {missing}"
            elif err.validator == "additionalProperties":
                allowed = sorted(err.schema.get("properties", {}))
                hint = f"remove it; allowed fields are {allowed}"
            elif err.validator == "type":
                hint = f"give a {err.validator_value}"
            elif err.validator in ("minimum", "exclusiveMinimum", "maximum"):
                hint = f"keep it within the allowed range ({err.validator} {err.validator_value})"
        problems.append(Problem(_path(parts), err.message, hint))
    return problems


def _plan_hint(err: jsonschema.ValidationError, parts: list[Any]) -> str | None:
    if err.validator in ("enum", "const"):
        if _path(parts).endswith(".type"):
            return _closest(str(err.instance), NODE_TYPES)
        return f"use {err.validator_value!r}"
    if err.validator == "minItems":
        return "give at least one child"
    return None


def _schema_problems(plan: Any) -> list[Problem]:
    return schema_problems(_SCHEMA_VALIDATOR, plan, _plan_hint)


def nesting(data: Any) -> int:
    """How deeply ``data``'s dicts and lists nest (0 for a scalar), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def walk_nodes(node: Any, parts: list[Any], depth: int = 0) -> Iterator[tuple[dict[str, Any], list[Any], int]]:
    """Every node of a plan tree that is a dict, with its JSON path parts and depth, down to ``MAX_DEPTH`` (deeper
    nodes are the validator's to refuse)."""
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return
    yield node, parts, depth
    for i, child in enumerate(node.get("children", []) if isinstance(node.get("children"), list) else []):
        yield from walk_nodes(child, [*parts, "children", i], depth + 1)
    if "child" in node:
        yield from walk_nodes(node["child"], [*parts, "child"], depth + 1)


def _vocabulary(skills: SkillLibrary, world: World | None) -> set[str]:
    names: set[str] = set()
    for cls in skills.skills.values():
        names.update(lit.atom.name for lit in cls.parsed_preconditions() + cls.parsed_effects())
    if world is not None:
        names.update(f.name for f in world.facts())
        names.update(r.head.name for r in world.derived_rules())
    return names


def _name_problems(plan: dict[str, Any], skills: SkillLibrary, world: World | None) -> list[Problem]:
    problems: list[Problem] = []
    objects = world.objects() if world is not None else None
    agents = world.agents() if world is not None else None
    vocabulary = _vocabulary(skills, world)
    known_args = set(objects or ()) | set(agents or ()) | {"none"}
    for node, parts, depth in walk_nodes(plan.get("root"), ["root"]):
        if depth >= MAX_DEPTH:
            problems.append(Problem(_path(parts), f"the tree is nested deeper than {MAX_DEPTH} levels", "flatten it"))
            continue
        kind = node.get("type")
        if kind == "action" and isinstance(node.get("skill"), str):
            skill = node["skill"]
            if skill not in skills:
                problems.append(
                    Problem(_path([*parts, "skill"]), f"unknown skill {skill!r}", _closest(skill, skills.names()))
                )
            elif isinstance(node.get("args"), dict):
                for prob in skills[skill].check_args(node["args"], objects):
                    problems.append(Problem(_path([*parts, "args", prob.field]), prob.message, prob.hint))
            agent = node.get("agent")
            if agent is not None and agents is not None and agent not in agents:
                problems.append(Problem(_path([*parts, "agent"]), f"unknown agent {agent!r}", f"agents are {agents}"))
        elif kind == "condition" and isinstance(node.get("predicate"), str):
            try:
                literal = parse_literal(node["predicate"])
            except PredicateError as err:
                problems.append(Problem(_path([*parts, "predicate"]), str(err), "write e.g. on(red_cube, tray)"))
                continue
            if literal.atom.name not in vocabulary:
                problems.append(
                    Problem(
                        _path([*parts, "predicate"]),
                        f"unknown predicate {literal.atom.name!r}",
                        _closest(literal.atom.name, vocabulary),
                    )
                )
            if world is not None:
                for arg in literal.atom.args:
                    if isinstance(arg, str) and arg not in known_args:
                        problems.append(
                            Problem(
                                _path([*parts, "predicate"]),
                                f"unknown object {arg!r} in {literal}",
                                _closest(arg, known_args),
                            )
                        )
    return problems


class _DryRun:
    """Walk the tree as intended, applying declared effects, and report unestablished preconditions."""

    def __init__(self, skills: SkillLibrary, world: World) -> None:
        self.skills = skills
        self.agent = world.agents()[0]
        self.state = SymbolicState.from_world(world)
        self.problems: list[Problem] = []
        self.actions: list[dict[str, Any]] = []
        self.action_paths: list[str] = []

    def run(self, node: Any, parts: list[Any]) -> bool:
        """Returns whether the node succeeds in the dry run."""
        if not isinstance(node, dict):
            return False
        kind = node.get("type")
        if kind == "condition":
            try:
                return holds(parse_literal(node["predicate"]), self.state.facts)
            except (PredicateError, KeyError, TypeError):
                return False
        if kind == "action":
            cls = self.skills[node["skill"]]
            agent = node.get("agent") or self.agent
            args = node.get("args", {})
            for lit in cls.grounded(cls.parsed_preconditions(), agent, args):
                if not holds(lit, self.state.facts):
                    self.problems.append(
                        Problem(
                            _path(parts),
                            f"precondition {lit} of {node['skill']}({', '.join(f'{k}={v}' for k, v in args.items())}) "
                            "does not hold when it runs, and nothing before it in the plan establishes it",
                            f"first add an action whose effects give {lit.atom}, or a fallback that achieves it",
                        )
                    )
            self.state = self.state.apply(cls.grounded(cls.parsed_effects(), agent, args))
            self.actions.append(node)
            self.action_paths.append(_path(parts))
            return True
        if kind in ("sequence", "parallel"):
            results = [self.run(c, [*parts, "children", i]) for i, c in enumerate(node["children"])]
            return all(results) if kind == "sequence" or node.get("policy", "all") == "all" else any(results)
        if kind == "fallback":
            return any(self.run(c, [*parts, "children", i]) for i, c in enumerate(node["children"]))
        if kind in ("retry", "timeout"):
            return self.run(node["child"], [*parts, "child"])
        return False


def validate(plan: Any, skills: SkillLibrary, world: World | None = None) -> list[Problem]:
    """Every problem of ``plan``; an empty list means it may run. Passing ``world`` enables object and
    precondition checks."""
    if isinstance(plan, str | bytes):
        try:
            plan = json.loads(plan)
        except json.JSONDecodeError as err:
            return [
                Problem("$", f"not JSON: {err.msg} at line {err.lineno} column {err.colno}", "send one JSON object")
            ]
        except RecursionError:
            return [Problem("$", f"the tree is nested deeper than {MAX_DEPTH} levels (too deep to read)", "flatten it")]
        except (UnicodeDecodeError, ValueError) as err:  # ValueError: an integer of 4300+ digits
            return [Problem("$", f"not readable JSON ({type(err).__name__}: {err})"[:300], "send one JSON object")]
    if not isinstance(plan, dict):
        return [Problem("$", f"a plan must be a JSON object; got {type(plan).__name__}", 'write {"root": {...}}')]
    if nesting(plan) > 4 * MAX_DEPTH:  # the schema check recurses per level: stop before Python's recursion limit
        return [Problem("$", f"the tree is nested deeper than {MAX_DEPTH} levels", "flatten it")]
    problems = _schema_problems(plan)
    if problems:
        return problems
    problems = _name_problems(plan, skills, world)
    if problems or world is None:
        return problems
    return dry_run(plan, skills, world)[0]


def dry_run(plan: dict[str, Any], skills: SkillLibrary, world: World) -> tuple[list[Problem], frozenset[Atom]]:
    """Walk a structurally valid plan symbolically; return the precondition problems and the facts at the end."""
    dry = _DryRun(skills, world)
    dry.run(plan["root"], ["root"])
    return dry.problems, dry.state.facts


def linearize(plan: dict[str, Any], skills: SkillLibrary, world: World) -> list[tuple[str, dict[str, Any]]]:
    """The action nodes a symbolic dry run of ``plan`` executes, in order, with their JSON paths (a tree's intended
    path as a list)."""
    dry = _DryRun(skills, world)
    dry.run(plan["root"], ["root"])
    return [(path, dict(a)) for path, a in zip(dry.action_paths, dry.actions, strict=True)]


def ensure_valid(plan: Any, skills: SkillLibrary, world: World | None = None, source: str = "plan") -> dict[str, Any]:
    """Return ``plan`` if it validates, else raise :class:`PlanError` with every problem."""
    problems = [p for p in validate(plan, skills, world) if p.severity == "error"]
    if problems:
        raise PlanError(problems, source)
    return plan if isinstance(plan, dict) else json.loads(plan)


def literals_of(plan: Mapping[str, Any]) -> list[Literal]:
    """Every condition literal in the plan (for traces and critics)."""
    nodes = walk_nodes(plan.get("root"), ["root"])
    return [parse_literal(n["predicate"]) for n, _, _ in nodes if n.get("type") == "condition"]

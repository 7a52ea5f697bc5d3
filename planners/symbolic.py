"""The offline symbolic planner: backward chaining from goals through skill effects and preconditions into a PA-BT tree.

Each goal literal ``g`` becomes ``fallback(condition g, sequence(<subtree per precondition>, action))``, recursively
(Colledanchise & Ögren, "Towards Blended Reactive Planning and Acting using Behavior Trees", PA-BT). Sequences and
fallbacks are reactive, so a goal that becomes false again mid-run (a cube knocked off) sends the next tick back
into its subtree: the world is repaired by re-ticking, not by a fresh plan.

How it binds and orders:

- A symbolic state (current facts, object types, the world's derived rules such as ``clear``) is simulated along the
  expansion, so free parameters are bound from the state (``holding(panda, none)`` is achieved by placing *the
  cube in hand*) and goals are ordered by depth-first search that refuses orders which undo an achieved goal
  (stacking bottom-up).
- Conditions that already hold still get achievers, shallow ones (two levels) for every plausible binding, so that
  disturbances the plan did not foresee are repaired too.
- Unknown predicates and objects, and contradictory goals, are refused with a message naming the predicate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ember.planners.goals import GoalError, parse_goal
from ember.planners.symbolic_state import SymbolicState
from ember.sims.predicates import Arg, Atom, Literal, holds, match
from ember.sims.world import ObjectInfo, World
from ember.skills.library import SkillLibrary
from ember.skills.skill import Param, Skill

Node = dict[str, Any]


class Unachievable(Exception):
    def __init__(self, literal: Literal, reason: str) -> None:
        self.literal = literal
        self.reason = reason
        super().__init__(f"{literal}: {reason}")


@dataclass(frozen=True)
class Achiever:
    skill: type[Skill]
    args: dict[str, Any]
    guards: tuple[Literal, ...]
    """Preconditions that only bind a free parameter (``holding(panda, ?obj)`` for place): checked, never expanded."""

    def node(self, agent: str) -> Node:
        return {"type": "action", "skill": self.skill.name, "args": dict(self.args), "agent": agent}


def cond(lit: Literal) -> Node:
    return {"type": "condition", "predicate": str(lit)}


class SymbolicPlanner:
    """PA-BT planner over a skill library.

    Args:
        skills: the skills it may use (their preconditions and effects are the domain).
        max_depth: deepest chain of sub-goals [levels].
        max_expansions: search budget before giving up [achiever attempts].
        shallow_depth: levels of repair branches added under conditions that already hold.
    """

    name = "symbolic"

    def __init__(
        self, skills: SkillLibrary, max_depth: int = 8, max_expansions: int = 20000, shallow_depth: int = 1
    ) -> None:
        self.skills = skills
        self.max_depth = max_depth
        self.max_expansions = max_expansions
        self.shallow_depth = shallow_depth

    # ------------------------------------------------------------------ API
    def plan(self, goal: str | Sequence[Literal], world: World, feedback: str | None = None) -> dict[str, Any]:
        """A plan (contract 4) whose tree achieves ``goal`` from the world's current state. ``feedback`` (why an
        earlier tree failed) needs no words here: the plan is rebuilt from the current facts."""
        literals = parse_goal(goal, world) if isinstance(goal, str) else list(goal)
        self.agent = world.agents()[0]
        self.objects = world.objects()
        state = SymbolicState.from_world(world)
        self._check_goal(literals, state)
        self._expansions = 0
        self._deepest: Unachievable | None = None
        result = self._order(literals, [], state, [])
        if result is None:
            cause = self._deepest
            first = next((g for g in literals if cause is not None and str(g) in str(cause)), literals[0])
            detail = f"{cause.literal}: {cause.reason}" if cause else "no ordering of the goals reaches them all"
            raise GoalError(f"goal predicate {first} is unreachable: {detail}")
        nodes, final = result
        mentions_hand = any(g.atom.name == "holding" for g in literals)
        hand_empty = Literal(Atom("holding", (self.agent, "none")))
        if not mentions_hand and (not holds(hand_empty, final.facts) or not nodes):  # (a goal of no literals: a
            node, final = self._achieve(hand_empty, final, 0, frozenset())  # tree that checks the hand and succeeds)
            nodes.append(node)
            undone = [g for g in literals if not holds(g, final.facts)]
            if undone:  # putting down what the gripper holds undid part of the goal (it puts things on the table)
                raise GoalError(
                    f"goal predicate {undone[0]} does not survive emptying the gripper afterwards (the planner puts a "
                    "held object down on the table); say where the object should end up instead, e.g. "
                    "on(red_cube, tray), or keep it held with holding(...)"
                )
        text = goal if isinstance(goal, str) else " & ".join(str(g) for g in literals)
        return {
            "version": 1,
            "goal": text,
            "root": {"type": "sequence", "name": "goal", "memory": False, "children": nodes},
        }

    # ------------------------------------------------------------ goal checks
    def _check_goal(self, literals: list[Literal], state: SymbolicState) -> None:
        vocabulary = {
            lit.atom.name
            for cls in self.skills.skills.values()
            for lit in cls.parsed_preconditions() + cls.parsed_effects()
        }
        vocabulary |= {f.name for f in state.facts} | {r.head.name for r in state.rules}
        arity: dict[str, set[int]] = {}
        for atom in [
            *(
                lit.atom
                for cls in self.skills.skills.values()
                for lit in cls.parsed_preconditions() + cls.parsed_effects()
            ),
            *state.facts,
            *(r.head for r in state.rules),
        ]:
            arity.setdefault(atom.name, set()).add(len(atom.args))
        positives = {g.atom for g in literals if g.positive}
        for g in literals:
            if g.atom.name not in vocabulary:
                raise GoalError(
                    f"goal predicate {g}: unknown predicate {g.atom.name!r}; known are {sorted(vocabulary)}"
                )
            if len(g.atom.args) not in arity.get(g.atom.name, {len(g.atom.args)}):
                takes = " or ".join(str(n) for n in sorted(arity[g.atom.name]))
                raise GoalError(f"goal predicate {g}: {g.atom.name} takes {takes} argument(s), not {len(g.atom.args)}")
            if not g.positive and g.atom in positives:
                raise GoalError(f"goal predicates {g.atom} and {g} contradict each other")
        supports: dict[Arg, Arg] = {}
        tops: dict[Arg, Arg] = {}
        held: Arg | None = None
        for g in (g for g in literals if g.positive):
            if g.atom.name == "on" and len(g.atom.args) == 2:
                x, y = g.atom.args
                if x == y:
                    raise GoalError(f"goal predicate {g}: an object cannot rest on itself")
                info = self.objects.get(str(x))
                if info is not None and not info.movable:
                    raise GoalError(f"goal predicate {g}: {x} cannot be moved")
                if x in supports and supports[x] != y:
                    raise GoalError(
                        f"goal predicates on({x}, {supports[x]}) and {g} contradict: {x} can rest on one thing"
                    )
                supports[x] = y
                target = self.objects.get(str(y))
                if target is not None and target.type == "cube":
                    if y in tops and tops[y] != x:
                        raise GoalError(f"goal predicates on({tops[y]}, {y}) and {g} contradict: one cube fits on {y}")
                    tops[y] = x
            if g.atom.name == "holding" and len(g.atom.args) == 2 and g.atom.args[1] != "none":
                if held is not None and held != g.atom.args[1]:
                    raise GoalError(f"goal predicate {g}: the gripper already has to hold {held}")
                held = g.atom.args[1]
        for start in supports:
            seen, cur = {start}, supports[start]
            while cur in supports:
                if cur in seen:
                    chain = " & ".join(f"on({a}, {b})" for a, b in supports.items() if a in seen)
                    raise GoalError(f"goal predicates {chain} form a cycle: no stack can satisfy them")
                seen.add(cur)
                cur = supports[cur]

    # ------------------------------------------------------------ search
    def _order(
        self, remaining: list[Literal], done: list[Literal], state: SymbolicState, nodes: list[Node]
    ) -> tuple[list[Node], SymbolicState] | None:
        if not remaining:
            return nodes, state
        for i, goal in enumerate(remaining):
            try:
                node, after = self._achieve(goal, state, 0, frozenset())
            except Unachievable as err:
                self._note(err)
                continue
            if not all(holds(g, after.facts) for g in done):
                continue
            found = self._order(remaining[:i] + remaining[i + 1 :], [*done, goal], after, [*nodes, node])
            if found is not None:
                return found
        return None

    def _note(self, err: Unachievable) -> None:
        if self._deepest is None or len(err.reason) >= len(self._deepest.reason):
            self._deepest = err

    def _achieve(
        self, lit: Literal, state: SymbolicState, depth: int, visiting: frozenset[Literal]
    ) -> tuple[Node, SymbolicState]:
        """Subtree that makes ``lit`` hold, and the state after it."""
        if holds(lit, state.facts):
            return self._robust(lit, state, self.shallow_depth), state
        if depth >= self.max_depth:
            raise Unachievable(lit, f"needs sub-goals deeper than max_depth={self.max_depth}")
        if lit in visiting:
            raise Unachievable(lit, "achieving it requires itself")
        visiting = visiting | {lit}
        rule = state.derived_rule(lit.atom.name) if lit.positive else None
        if rule is not None:
            return self._achieve_derived(lit, state, depth, visiting)
        last: Unachievable | None = None
        for achiever in self._achievers(lit, state):
            try:
                children, after = self._run_achiever(achiever, state, depth, visiting)
            except Unachievable as err:
                last = err
                self._note(err)
                continue
            if not holds(lit, after.facts):
                continue
            fallback = [
                cond(lit),
                {"type": "sequence", "memory": False, "children": [*children, achiever.node(self.agent)]},
            ]
            fallback += self._alternatives(lit, state, exclude=achiever, depth=self.shallow_depth)
            return {"type": "fallback", "memory": False, "children": fallback}, after
        if last is not None:
            raise Unachievable(lit, f"{last.literal}: {last.reason}" if last.literal != lit else last.reason)
        raise Unachievable(lit, "no skill's effects establish it" if lit.positive else "no skill's effects undo it")

    def _run_achiever(
        self, achiever: Achiever, state: SymbolicState, depth: int, visiting: frozenset[Literal]
    ) -> tuple[list[Node], SymbolicState]:
        self._expansions += 1
        if self._expansions > self.max_expansions:
            raise Unachievable(
                Literal(Atom(achiever.skill.name)), f"search budget of {self.max_expansions} expansions spent"
            )
        pre = [
            p
            for p in achiever.skill.grounded(achiever.skill.parsed_preconditions(), self.agent, achiever.args)
            if p not in achiever.guards
        ]
        for guard in achiever.guards:
            if not holds(guard, state.facts):
                raise Unachievable(guard, "binding guard does not hold")
        last: Unachievable | None = None
        # Try precondition orders; the declared order first, clearing-type sub-goals first next.
        orders = [pre] + [list(p) for p in itertools.permutations(pre) if list(p) != pre]
        for order in orders[:24]:
            try:
                s, children = state, []
                for p in order:
                    node, s = self._achieve(p, s, depth + 1, visiting)
                    children.append(node)
                if all(holds(p, s.facts) for p in pre):
                    effects = achiever.skill.grounded(achiever.skill.parsed_effects(), self.agent, achiever.args)
                    return [cond(g) for g in achiever.guards] + children, s.apply(effects)
            except Unachievable as err:
                last = err
        raise last or Unachievable(pre[0] if pre else Literal(Atom(achiever.skill.name)), "preconditions conflict")

    def _achieve_derived(
        self, lit: Literal, state: SymbolicState, depth: int, visiting: frozenset[Literal]
    ) -> tuple[Node, SymbolicState]:
        rule = state.derived_rule(lit.atom.name)
        assert rule is not None
        binding = match(rule.head, lit.atom)
        if binding is None:
            raise Unachievable(lit, "does not match its rule")
        blocker = rule.blocked_by.substitute(binding)
        blocking = sorted(f for f in state.facts if match(blocker, f) is not None)
        children, s = [], state
        for fact in blocking:
            node, s = self._achieve(Literal(fact, positive=False), s, depth + 1, visiting)
            children.append(node)
        if not holds(lit, s.facts):
            raise Unachievable(lit, f"still blocked after removing {[str(b) for b in blocking]}")
        fallback = [cond(lit), {"type": "sequence", "memory": False, "children": children}]
        fallback += self._alternatives(
            lit, state, exclude=None, depth=self.shallow_depth, skip={Literal(f, False) for f in blocking}
        )
        return {"type": "fallback", "memory": False, "children": fallback}, s

    # ------------------------------------------------------------ achievers
    def _achievers(self, lit: Literal, state: SymbolicState, state_bound: bool = True) -> list[Achiever]:
        """Skills whose effects give ``lit``, with every parameter bound; state-consistent bindings first."""
        found: list[tuple[float, int, Achiever]] = []
        for cls in sorted(self.skills.skills.values(), key=lambda c: (c.cost, c.name)):
            for effect in cls.parsed_effects():
                if effect.positive != lit.positive:
                    continue
                binding = (
                    match(effect.atom, lit.atom, {"?agent": self.agent}) if effect.atom.name == lit.atom.name else None
                )
                if binding is None:
                    continue
                for rank, args, guards in self._bind_free(cls, binding, state, state_bound):
                    found.append((cls.cost, rank, Achiever(cls, args, guards)))
        found.sort(key=lambda x: (x[1], x[0]))
        out, seen = [], set()
        for _, _, a in found:
            key = (a.skill.name, tuple(sorted((k, str(v)) for k, v in a.args.items())))
            if key not in seen:
                seen.add(key)
                out.append(a)
        return out

    def _bind_free(
        self, cls: type[Skill], binding: dict[str, Arg], state: SymbolicState, state_bound: bool
    ) -> Iterable[tuple[int, dict[str, Any], tuple[Literal, ...]]]:
        free = [p for p in cls.params if f"?{p.name}" not in binding and p.required]
        bound_args = {p.name: binding[f"?{p.name}"] for p in cls.params if f"?{p.name}" in binding}
        if any(p.required and "object" not in p.types for p in free):
            return  # numeric or position parameters cannot be invented by the planner
        choices: list[list[tuple[int, Any, Literal | None]]] = []
        for param in free:
            choices.append(self._candidates(cls, param, binding, state, state_bound))
        for combo in itertools.product(*choices):
            args = dict(bound_args)
            guards = []
            for param, (_, value, guard) in zip(free, combo, strict=True):
                args[param.name] = value
                if guard is not None:
                    guards.append(guard)
            values = list(args.values())
            if len(set(map(str, values))) < len(values):
                continue  # no object twice in one action (place red on red)
            if cls.check_args(args, self.objects):
                continue
            rank = sum(r for r, _, _ in combo)
            yield (
                rank,
                args,
                tuple(g.substitute({f"?{k}": v for k, v in args.items()} | {"?agent": self.agent}) for g in guards),
            )

    def _candidates(
        self, cls: type[Skill], param: Param, binding: dict[str, Arg], state: SymbolicState, state_bound: bool
    ) -> list[tuple[int, Any, Literal | None]]:
        var = f"?{param.name}"
        for pre in cls.parsed_preconditions():
            if not pre.positive or var not in pre.atom.args:
                continue
            partial = pre.atom.substitute(binding)
            if set(partial.variables) != {var}:
                continue
            values = {m[var] for f in state.facts if (m := match(partial, f)) is not None}
            ordered = self._objects_for(param)
            if state_bound:
                return [(i, o, pre) for i, o in enumerate(ordered) if o in values]
            return [(i + (0 if o in values else len(ordered)), o, pre) for i, o in enumerate(ordered)]
        return [(i, o, None) for i, o in enumerate(self._objects_for(param))]

    def _objects_for(self, param: Param) -> list[str]:
        def preference(item: tuple[str, ObjectInfo]) -> tuple[bool, bool, str]:
            name, info = item
            return (info.type != "surface", bool(info.attributes.get("container")), name)

        return [
            k
            for k, o in sorted(self.objects.items(), key=preference)
            if (not param.object_types or o.type in param.object_types) and (o.movable or not param.movable)
        ]

    # ------------------------------------------------------------ repair branches
    def _robust(self, lit: Literal, state: SymbolicState, depth: int) -> Node:
        alternatives = self._alternatives(lit, state, exclude=None, depth=depth)
        return (
            {"type": "fallback", "memory": False, "children": [cond(lit), *alternatives]} if alternatives else cond(lit)
        )

    def _alternatives(
        self, lit: Literal, state: SymbolicState, exclude: Achiever | None, depth: int, skip: set[Literal] | None = None
    ) -> list[Node]:
        """Shallow achievers for bindings the simulated state did not need, so unforeseen disturbances repair too."""
        if depth <= 0:
            return []
        rule = state.derived_rule(lit.atom.name) if lit.positive else None
        out: list[Node] = []
        if rule is not None:
            binding = match(rule.head, lit.atom)
            if binding is None:
                return []
            blocker = rule.blocked_by.substitute(binding)
            cubes = [k for k, o in self.objects.items() if o.movable and o.type == "cube"]
            for cube in sorted(cubes):
                fact = Atom(blocker.name, tuple(cube if a == "?_" else a for a in blocker.args))
                if (skip and Literal(fact, False) in skip) or cube in lit.atom.args:
                    continue
                sub = self._alternatives(Literal(fact, False), state, None, depth)
                if sub:
                    out.append({"type": "sequence", "memory": False, "children": [cond(Literal(fact)), *sub[:1]]})
            return out
        covered: set[tuple[str, Literal]] = set()
        if exclude is not None and exclude.guards:
            covered.add((exclude.skill.name, exclude.guards[0]))
        for achiever in self._achievers(lit, state, state_bound=False):
            if exclude is not None and achiever.skill is exclude.skill and achiever.args == exclude.args:
                continue
            if achiever.guards:
                # One branch per binding of the first guard (per cube in hand), with the best-ranked other arguments.
                key = (achiever.skill.name, achiever.guards[0])
                if key in covered:
                    continue
                covered.add(key)
            children = [cond(g) for g in achiever.guards]
            pre = [
                p
                for p in achiever.skill.grounded(achiever.skill.parsed_preconditions(), self.agent, achiever.args)
                if p not in achiever.guards
            ]
            for p in pre:
                children.append(self._robust(p, state, depth - 1) if depth > 1 else cond(p))
            out.append({"type": "sequence", "memory": False, "children": [*children, achiever.node(self.agent)]})
            if not achiever.guards:
                break  # one unguarded achiever is enough; guarded ones cover each possible binding
        return out

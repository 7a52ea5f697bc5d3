"""A symbolic world state for planning and dry runs: facts, object types, and the world's derived rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.sims.predicates import Atom, Literal, match
from ember.sims.world import DerivedRule, ObjectInfo, World, WorldError


@dataclass(frozen=True)
class SymbolicState:
    facts: frozenset[Atom]
    types: Mapping[str, str] = field(default_factory=dict)
    """Object id -> object type."""
    rules: tuple[DerivedRule, ...] = ()

    @classmethod
    def from_world(cls, world: World) -> SymbolicState:
        return cls(world.facts(), {k: o.type for k, o in world.objects().items()}, world.derived_rules())

    def apply(self, effects: Iterable[Literal]) -> SymbolicState:
        """Delete negative effects (``?_`` matches anything), add positive ones, then recompute derived predicates."""
        facts = set(self.facts)
        effects = list(effects)
        for lit in effects:
            if not lit.positive:
                facts = {f for f in facts if match(lit.atom, f) is None}
        for lit in effects:
            if lit.positive:
                facts.add(lit.atom)
        return SymbolicState(self.derive(facts), self.types, self.rules)

    def derive(self, facts: set[Atom]) -> frozenset[Atom]:
        heads = {r.head.name for r in self.rules}
        base = {f for f in facts if f.name not in heads}
        derived = set()
        for rule in self.rules:
            var = rule.head.variables[0]
            for obj, kind in self.types.items():
                if kind in rule.always_for_types:
                    derived.add(rule.head.substitute({var: obj}))
                    continue
                blocker = rule.blocked_by.substitute({var: obj})
                # Only objects that can take part in the blocking relation get the derived fact (cubes, not agents).
                if not any(match(blocker, f) is not None for f in base):
                    derived.add(rule.head.substitute({var: obj}))
        return frozenset(base | derived)

    def derived_rule(self, name: str) -> DerivedRule | None:
        return next((r for r in self.rules if r.head.name == name), None)

    def with_fact(self, atom: Atom, present: bool) -> SymbolicState:
        facts = set(self.facts)
        (facts.add if present else facts.discard)(atom)
        return SymbolicState(self.derive(facts), self.types, self.rules)


class SnapshotWorld(World):
    """A frozen world built from data (facts, objects, derived rules): for planning away from any simulator.

    It has no physics: ``advance`` only moves time, ``apply`` is refused, and ``render`` is a blank image.
    """

    control_dt = 0.1

    def __init__(
        self,
        facts: Iterable[Atom],
        objects: Mapping[str, ObjectInfo],
        agents: Iterable[str],
        rules: Iterable[DerivedRule] = (),
    ) -> None:
        self._facts = frozenset(facts)
        self._objects = dict(objects)
        self._agents = list(agents)
        self._rules = tuple(rules)
        self._t = 0.0

    def facts(self) -> frozenset[Atom]:
        return self._facts

    def objects(self) -> dict[str, ObjectInfo]:
        return dict(self._objects)

    def agents(self) -> list[str]:
        return list(self._agents)

    def derived_rules(self) -> tuple[DerivedRule, ...]:
        return self._rules

    def render(self) -> np.ndarray:
        return np.zeros((8, 8, 3), dtype=np.uint8)

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        return {"policy": np.zeros(0, dtype=np.float32)}

    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        raise WorldError("a SnapshotWorld has no physics; it cannot take actions")

    def advance(self) -> None:
        self._t += self.control_dt

    def time(self) -> float:
        return self._t

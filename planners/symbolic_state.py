"""A symbolic world state for planning and dry runs: facts, object types, and the world's derived rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ember.sims.predicates import Atom, Literal, match
from ember.sims.world import DerivedRule, World


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

"""Goals: predicate conjunctions, or a small English form grounded in the world's objects and facts.

Free text beyond these forms is the LLM planner's job; anything else is refused with the list below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ember.sims.predicates import Atom, Literal, PredicateError, parse_conjunction
from ember.sims.world import ObjectInfo, World

ACCEPTED_FORMS = (
    "on(red_cube, tray) & on(green_cube, red_cube)   (predicates joined by &)",
    "put X in the tray",
    "put X on Y   (Y: a cube or the table)",
    "stack X on Y [and Z on X ...]",
    "put every cube in the tray",
    "unstack everything",
    "clear the tray",
    "several of these joined by 'and' or 'then'",
)

_VERB = r"(?:put|place|move|set|stack)"
_SPLIT = re.compile(
    r" ?(?:, ?and then|, ?then|\band then|\bthen|, ?and|\band|;|,|\.(?: then)?) "
    rf"(?={_VERB}\b|unstack\b|clear\b|empty\b)",
    re.IGNORECASE,
)  # on text whose whitespace is single spaces: no backtracking over runs of spaces
MAX_GOAL_CHARS = 2000


class GoalError(ValueError):
    """A goal that cannot be understood or reached; the message names the part and the fix."""


def _forms() -> str:
    return "accepted forms:\n" + "\n".join(f"  - {f}" for f in ACCEPTED_FORMS)


def _resolve(name: str, objects: Mapping[str, ObjectInfo], goal: str) -> str:
    words = re.sub(r"\b(the|a|an)\b", " ", name.lower()).split()
    key = "_".join(words)
    candidates = [key, f"{key}_cube", key.removesuffix("_cube") + "_cube"]
    for cand in candidates:
        if cand in objects:
            return cand
    raise GoalError(f"goal {goal!r}: no object called {name.strip()!r}; objects are {sorted(objects)}")


def _cubes(objects: Mapping[str, ObjectInfo]) -> list[str]:
    return sorted(k for k, o in objects.items() if o.type == "cube")


def _in_tray(facts: frozenset[Atom], cubes: list[str]) -> list[str]:
    """Cubes on the tray, and cubes stacked (transitively) on those."""
    inside: list[str] = [c for c in cubes if Atom("on", (c, "tray")) in facts]
    grew = True
    while grew:
        grew = False
        for c in cubes:
            if c not in inside and any(Atom("on", (c, d)) in facts for d in inside):
                inside.append(c)
                grew = True
    return inside


def _clause(text: str, objects: Mapping[str, ObjectInfo], facts: frozenset[Atom], goal: str) -> list[Literal]:
    t = text.strip().lower().rstrip(".!")
    cubes = _cubes(objects)
    if re.fullmatch(r"(?:put|place|move) (?:every|each|all(?: of)?(?: the)?) cubes? (?:in|into|on|onto) the tray", t):
        if "tray" not in objects:
            raise GoalError(f"goal {goal!r}: the scene has no tray (task.tray=false)")
        return [Literal(Atom("on", (c, "tray"))) for c in cubes]
    if re.fullmatch(r"unstack (?:everything|all(?: the)?(?: cubes)?|every cube)", t):
        return [Literal(Atom("on", (c, "table"))) for c in cubes]
    if re.fullmatch(r"(?:clear|empty) the tray", t):
        if "tray" not in objects:
            raise GoalError(f"goal {goal!r}: the scene has no tray")
        return [Literal(Atom("on", (c, "table"))) for c in _in_tray(facts, cubes)]
    m = re.fullmatch(rf"{_VERB} (.+?) (?:in|into) (?:the )?tray", t)
    if m:
        if "tray" not in objects:
            raise GoalError(f"goal {goal!r}: the scene has no tray (task.tray=false)")
        return [Literal(Atom("on", (_resolve(m.group(1), objects, goal), "tray")))]
    if t.startswith("stack "):
        pairs = re.split(r"\s*(?:,\s*and|\band|,)\s+", t.removeprefix("stack "))
        out = []
        for pair in pairs:
            pm = re.fullmatch(r"(.+?) (?:on top of|onto|on) (.+)", pair.strip())
            if not pm:
                raise GoalError(f"goal {goal!r}: {pair!r} is not 'X on Y'; {_forms()}")
            out.append(
                Literal(Atom("on", (_resolve(pm.group(1), objects, goal), _resolve(pm.group(2), objects, goal))))
            )
        return out
    m = re.fullmatch(rf"{_VERB} (.+?) (?:on top of|onto|on) (.+)", t)
    if m:
        return [Literal(Atom("on", (_resolve(m.group(1), objects, goal), _resolve(m.group(2), objects, goal))))]
    raise GoalError(
        f"goal {goal!r}: {text.strip()!r} is not a form the symbolic planner understands "
        f"(free text needs planner=llm); {_forms()}"
    )


def parse_goal(goal: str, world: World) -> list[Literal]:
    """Predicates or English -> ground literals, checked against the world's objects."""
    if not isinstance(goal, str) or not goal.strip():
        raise GoalError(f"goal must be a non-empty string; got {goal!r}. {_forms()}")
    if len(goal) > MAX_GOAL_CHARS:
        raise GoalError(f"goal has {len(goal)} characters, over {MAX_GOAL_CHARS}: {goal[:60]!r}...; state it shorter")
    goal = " ".join(goal.split()).rstrip(".")
    objects = world.objects()
    if "(" in goal:
        try:
            literals = parse_conjunction(goal)
        except PredicateError as err:
            raise GoalError(f"goal {goal!r}: {err}") from err
        known = set(objects) | set(world.agents()) | {"none"}
        for lit in literals:
            for arg in lit.atom.args:
                if isinstance(arg, str) and arg not in known:
                    raise GoalError(f"goal predicate {lit}: unknown object {arg!r}; objects are {sorted(objects)}")
        return literals
    facts = world.facts()
    out: list[Literal] = []
    for clause in _SPLIT.split(goal.strip()):
        for lit in _shared_verb(clause, objects, facts, goal):
            if lit not in out:
                out.append(lit)
    return out


def _shared_verb(clause: str, objects: Mapping[str, ObjectInfo], facts: frozenset[Atom], goal: str) -> list[Literal]:
    """A clause, or — when it does not parse whole — its parts joined by 'and' or commas sharing the clause's verb
    ("put red in the tray and blue on green")."""
    try:
        return _clause(clause, objects, facts, goal)
    except GoalError as first:
        verb = re.match(rf"\s*({_VERB})\s", clause, re.IGNORECASE)
        parts = re.split(r"\s*(?:,\s*and|\band|,)\s+", clause.strip(), flags=re.IGNORECASE)
        if verb is None or verb.group(1).lower() == "stack" or len(parts) < 2:
            raise
        try:
            head = _clause(parts[0], objects, facts, goal)
        except GoalError:
            raise first from None
        # the first part parses on its own: the clause is a list, and an error in a later part names that part
        return head + [lit for part in parts[1:] for lit in _clause(f"{verb.group(1)} {part}", objects, facts, goal)]

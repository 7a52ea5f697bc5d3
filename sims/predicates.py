"""Predicates: the symbolic vocabulary shared by worlds, skills and planners.

An :class:`Atom` is a predicate applied to arguments, written ``on(red_cube, tray)``. Arguments are object ids,
agent ids, the word ``none``, integers (counts, as in ``has(bot0, oak_log, 3)``), or variables starting with ``?``
(``?obj``) in skill preconditions and effects. ``?_`` is a wildcard that matches anything and binds nothing.

A :class:`Literal` is an atom or its negation (``not on(red_cube, tray)``). Counted facts are exact, while a goal or
precondition over a count means *at least* that many (../shared/DESIGN.md, contract 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Arg = str | int

_NAME = r"[A-Za-z_][A-Za-z0-9_\-]*"
_ATOM_RE = re.compile(rf"^\s*(?P<neg>not\s+|!\s*|~\s*)?(?P<name>{_NAME})\s*\((?P<args>[^()]*)\)\s*$")
_ARG_RE = re.compile(rf"^(\?{_NAME}|\?_|{_NAME}|-?\d+)$")
WILDCARD = "?_"


class PredicateError(ValueError):
    """A predicate string that does not parse; the message says what was received and the accepted form."""


@dataclass(frozen=True, order=True)
class Atom:
    """``name(arg0, arg1, ...)``."""

    name: str
    args: tuple[Arg, ...] = ()

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if isinstance(a, str) and a.startswith("?") and a != WILDCARD)

    def substitute(self, binding: Mapping[str, Arg]) -> Atom:
        """Replace bound variables; unbound ones stay as they are."""
        return Atom(self.name, tuple(binding.get(a, a) if isinstance(a, str) else a for a in self.args))

    @property
    def is_ground(self) -> bool:
        return not any(isinstance(a, str) and a.startswith("?") for a in self.args)


@dataclass(frozen=True, order=True)
class Literal:
    """An atom that must hold (``positive``) or must not hold."""

    atom: Atom
    positive: bool = True

    def __str__(self) -> str:
        return str(self.atom) if self.positive else f"not {self.atom}"

    def substitute(self, binding: Mapping[str, Arg]) -> Literal:
        return Literal(self.atom.substitute(binding), self.positive)


def _parse_arg(text: str, source: str) -> Arg:
    text = text.strip()
    if not _ARG_RE.match(text):
        raise PredicateError(
            f"predicate {source!r}: argument {text!r} is not an object id, a ?variable or an integer; "
            "write arguments as identifiers such as red_cube, ?obj or 3"
        )
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def parse_literal(text: str) -> Literal:
    """Parse ``on(a, b)`` or ``not on(a, b)`` (also ``!on(a, b)``)."""
    if not isinstance(text, str):
        raise PredicateError(
            f"predicate must be a string like 'on(red_cube, tray)'; got {type(text).__name__} {text!r}"
        )
    match = _ATOM_RE.match(text)
    if not match:
        raise PredicateError(
            f"predicate {text!r} does not parse; write name(arg, ...) such as 'on(red_cube, tray)', "
            "optionally preceded by 'not '"
        )
    raw_args = match.group("args").strip()
    args = tuple(_parse_arg(a, text) for a in raw_args.split(",")) if raw_args else ()
    return Literal(Atom(match.group("name"), args), positive=match.group("neg") is None)


def parse_atom(text: str) -> Atom:
    """Parse a positive atom; a negation is refused."""
    literal = parse_literal(text)
    if not literal.positive:
        raise PredicateError(f"predicate {text!r}: a negation is not allowed here; write the atom alone")
    return literal.atom


def parse_conjunction(text: str) -> list[Literal]:
    """Parse ``on(a, b) & on(c, a)`` (also ``and`` or ``,`` between atoms at the top level)."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch in "&,":
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    literals: list[Literal] = []
    for part in parts:
        for piece in re.split(r"\s+and\s+", part.strip()):
            if piece.strip():
                literals.append(parse_literal(piece))
    if not literals:
        raise PredicateError(
            f"goal {text!r} holds no predicate; write e.g. 'on(red_cube, tray) & on(green_cube, red_cube)'"
        )
    return literals


def match(pattern: Atom, fact: Atom, binding: Mapping[str, Arg] | None = None) -> dict[str, Arg] | None:
    """Unify ``pattern`` (may hold variables) with a ground ``fact``; return the extended binding or None."""
    if pattern.name != fact.name or len(pattern.args) != len(fact.args):
        return None
    out: dict[str, Arg] = dict(binding or {})
    for p, f in zip(pattern.args, fact.args, strict=True):
        if p == WILDCARD:
            continue
        if isinstance(p, str) and p.startswith("?"):
            if p in out and out[p] != f:
                return None
            out[p] = f
        elif p != f:
            return None
    return out


def holds(literal: Literal, facts: Iterable[Atom]) -> bool:
    """Whether a ground literal holds in ``facts``. A trailing integer argument means *at least* that count."""
    atom = literal.atom
    found = False
    for fact in facts:
        if fact.name != atom.name or len(fact.args) != len(atom.args):
            continue
        if atom.args and isinstance(atom.args[-1], int) and isinstance(fact.args[-1], int):
            if fact.args[:-1] == atom.args[:-1] and fact.args[-1] >= atom.args[-1]:
                found = True
                break
        elif match(atom, fact) is not None:
            found = True
            break
    return found == literal.positive


def format_facts(facts: Iterable[Atom]) -> list[str]:
    """Sorted string form, for traces and prompts."""
    return sorted(str(f) for f in facts)

from __future__ import annotations

import pytest

from ember.sims.predicates import Atom, Literal, PredicateError, holds, match, parse_conjunction, parse_literal


def test_parse_atom_and_negation() -> None:
    assert parse_literal("on(red_cube, tray)") == Literal(Atom("on", ("red_cube", "tray")))
    assert parse_literal(" not on(a,b) ") == Literal(Atom("on", ("a", "b")), positive=False)
    assert parse_literal("has(bot0, oak_log, 3)").atom.args == ("bot0", "oak_log", 3)
    assert str(parse_literal("not clear( x )")) == "not clear(x)"


@pytest.mark.parametrize("bad", ["on(red_cube tray", "on", "(a, b)", "on(a, b c)", "on(a, $b)", 42])
def test_malformed_predicates_are_refused_with_the_text(bad: object) -> None:
    with pytest.raises(PredicateError, match="predicate"):
        parse_literal(bad)  # type: ignore[arg-type]


def test_conjunction_forms() -> None:
    goals = parse_conjunction("on(a, b) & on(c, a) and clear(c)")
    assert [str(g) for g in goals] == ["on(a, b)", "on(c, a)", "clear(c)"]


def test_counts_mean_at_least_in_goals() -> None:
    facts = {Atom("has", ("bot0", "oak_log", 3))}
    assert holds(parse_literal("has(bot0, oak_log, 2)"), facts)
    assert holds(parse_literal("has(bot0, oak_log, 3)"), facts)
    assert not holds(parse_literal("has(bot0, oak_log, 4)"), facts)
    assert holds(parse_literal("not has(bot0, oak_log, 4)"), facts)


def test_match_binds_variables_and_wildcards() -> None:
    assert match(Atom("on", ("?x", "?_")), Atom("on", ("a", "b"))) == {"?x": "a"}
    assert match(Atom("on", ("?x", "?x")), Atom("on", ("a", "b"))) is None
    assert match(Atom("on", ("?x", "b")), Atom("on", ("a", "c"))) is None

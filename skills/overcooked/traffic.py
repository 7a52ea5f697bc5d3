"""Giving way in narrow kitchens: two chefs whose routes cross in a one-cell corridor (``corridor``,
``small_corridor``, ``bottleneck``) or a dead end cannot sidestep each other, and stepping aside at random only
shuffles them back and forth.

Every Ember skill publishes where it is heading (:func:`publish`: the floor cells it wants to stand on; an empty set
for a chef that is waiting) on the kitchen's ``intent`` board. When one chef stands on the other's only route (no
way around it), :func:`negotiate` decides who gives way: a chef that is not itself
blocked keeps to its route; of two chefs that block each other, the one nearer a refuge — a cell off the other's
route — backs into it (ties: ``chef1``) and waits there until the other has passed. A chef beside a partner that
publishes nothing (a scripted or learned partner) keeps the skills' old rule: step aside when stuck.
"""

from __future__ import annotations

from ember.sims.overcooked.kitchen import Kitchen
from ember.skills.overcooked.partners import shortest_path

Cell = tuple[int, int]
_MOVE = {(0, -1): "up", (0, 1): "down", (1, 0): "right", (-1, 0): "left"}


def publish(kitchen: Kitchen, me: int, goals: set[Cell]) -> None:
    """Chef ``me`` is heading for one of the floor cells ``goals`` (empty: it is staying where it is)."""
    kitchen.intent[me] = frozenset(goals)


def _route(kitchen: Kitchen, me: int, goals: frozenset[Cell]) -> list[Cell] | None:
    start = tuple(kitchen.state.players[me].position)
    return shortest_path(kitchen, start, set(goals), set()) if goals else []


def _blocked(kitchen: Kitchen, me: int, goals: frozenset[Cell], route: list[Cell]) -> bool:
    """Whether the other chef stands on ``me``'s route to ``goals`` and there is no way around it."""
    other = tuple(kitchen.state.players[1 - me].position)
    if other not in route:
        return False
    start = tuple(kitchen.state.players[me].position)
    around = shortest_path(kitchen, start, set(goals), {other})
    return around is None


def _refuge(kitchen: Kitchen, me: int, route: list[Cell]) -> list[Cell] | None:
    """The way from chef ``me`` to the nearest floor cell off ``route`` (the other chef's), not through it."""
    start = tuple(kitchen.state.players[me].position)
    other = tuple(kitchen.state.players[1 - me].position)
    terrain = kitchen.mdp.terrain_mtx
    off = {
        (x, y)
        for y, row in enumerate(terrain)
        for x, cell in enumerate(row)
        if cell == " " and (x, y) not in route and (x, y) != other
    }
    return shortest_path(kitchen, start, off, {other})


def negotiate(kitchen: Kitchen, me: int) -> str | None:
    """The move chef ``me`` makes this tick to give way or to let the other pass ("stay"), or None when its skill
    should go on as usual (no crossing, or the other chef publishes no intent)."""
    mine, theirs = kitchen.intent.get(me), kitchen.intent.get(1 - me)
    if mine is None or theirs is None:
        return None
    my_route, their_route = _route(kitchen, me, mine), _route(kitchen, 1 - me, theirs)
    if my_route is None or their_route is None:
        return None
    i_block = _blocked(kitchen, 1 - me, theirs, their_route)
    they_block = _blocked(kitchen, me, mine, my_route)
    if i_block and they_block:  # head on: the one nearer a refuge backs into it
        mine_out, theirs_out = _refuge(kitchen, me, their_route), _refuge(kitchen, 1 - me, my_route)
        cost = len(mine_out) if mine_out else 10**6
        their_cost = len(theirs_out) if theirs_out else 10**6
        if mine_out and (cost < their_cost or (cost == their_cost and me == 1)):
            return _step(kitchen, me, mine_out[0])
        return None  # the other backs off; follow it
    if i_block:
        out = _refuge(kitchen, me, their_route) if not mine else None  # a waiting chef steps off the route
        return _step(kitchen, me, out[0]) if out else None
    if they_block and my_route and my_route[0] in their_route:
        return "stay"  # back into the other's way: wait off its route until it has passed
    return None


def _step(kitchen: Kitchen, me: int, cell: Cell) -> str:
    x, y = kitchen.state.players[me].position
    return _MOVE[(cell[0] - x, cell[1] - y)]

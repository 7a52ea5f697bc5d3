"""Overcooked partners (low-level policies for one chef): stay, random, and the classic greedy "human model".

Every partner maps ``(kitchen, chef index)`` to an action name from ``ACTION_NAMES``. Motion is a breadth-first
shortest path over the floor cells that treats the other chef as an obstacle; when that chef blocks every path, the
path through it is taken, and a chef that has not moved for 3 ticks steps aside at random (this breaks head-on
deadlocks in corridors).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from ember.sims.overcooked.kitchen import ACTION_NAMES, Kitchen

_STEPS = {(0, -1): "up", (0, 1): "down", (1, 0): "right", (-1, 0): "left"}


def shortest_path(
    kitchen: Kitchen, start: tuple[int, int], goals: set[tuple[int, int]], blocked: set[tuple[int, int]]
) -> list[tuple[int, int]] | None:
    """Floor cells from ``start`` (exclusive) to the nearest cell of ``goals``, avoiding ``blocked``; None if none."""
    terrain = kitchen.mdp.terrain_mtx
    if start in goals:
        return []
    parents: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for dx, dy in _STEPS:
            nxt = (cell[0] + dx, cell[1] + dy)
            if nxt in parents or nxt in blocked:
                continue
            if not (0 <= nxt[1] < len(terrain) and 0 <= nxt[0] < len(terrain[0])) or terrain[nxt[1]][nxt[0]] != " ":
                continue
            parents[nxt] = cell
            if nxt in goals:
                path = [nxt]
                while parents[path[-1]] != start:
                    path.append(parents[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            queue.append(nxt)
    return None


def go_and_interact(kitchen: Kitchen, me: int, targets: list[tuple[int, int]], rng: np.random.Generator) -> str:
    """One tick towards the nearest of ``targets`` (feature cells): walk to a floor cell beside it, face it,
    interact."""
    player = kitchen.state.players[me]
    pos, facing = tuple(player.position), tuple(player.orientation)
    other = tuple(kitchen.state.players[1 - me].position)
    for target in targets:
        if (pos[0] + facing[0], pos[1] + facing[1]) == tuple(target):
            return "interact"
    for target in targets:
        delta = (target[0] - pos[0], target[1] - pos[1])
        if delta in _STEPS:
            return _STEPS[delta]  # turn to face it (moving into a non-floor cell only turns)
    beside = {
        (t[0] + dx, t[1] + dy)
        for t in targets
        for dx, dy in _STEPS
        if 0 <= t[1] + dy < len(kitchen.mdp.terrain_mtx)
        and 0 <= t[0] + dx < len(kitchen.mdp.terrain_mtx[0])
        and kitchen.mdp.terrain_mtx[t[1] + dy][t[0] + dx] == " "
    }
    path = shortest_path(kitchen, pos, beside, {other}) or shortest_path(kitchen, pos, beside, set())
    if not path:
        return ACTION_NAMES[int(rng.integers(0, 4))]
    step = (path[0][0] - pos[0], path[0][1] - pos[1])
    return _STEPS[step]


class Partner:
    """Base: ``act(kitchen, me) -> action name``; ``reset()`` between episodes."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def act(self, kitchen: Kitchen, me: int) -> str:
        raise NotImplementedError


class StayPartner(Partner):
    def act(self, kitchen: Kitchen, me: int) -> str:
        return "stay"


class RandomPartner(Partner):
    def act(self, kitchen: Kitchen, me: int) -> str:
        return ACTION_NAMES[int(self.rng.integers(0, len(ACTION_NAMES)))]


class GreedyPartner(Partner):
    """The classic greedy human model: holding soup -> serve it; holding a dish -> the nearest ready (else cooking)
    pot; holding an ingredient -> the nearest pot that still needs one; empty-handed -> a dish when a pot is cooking
    or ready and the other chef holds no dish, else an onion (from a counter if one lies there, else a dispenser). It
    never puts items on counters for the other chef."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self._last: tuple[int, int] | None = None
        self._still = 0

    def reset(self) -> None:
        self._last, self._still = None, 0

    def act(self, kitchen: Kitchen, me: int) -> str:
        player = kitchen.state.players[me]
        pos = tuple(player.position)
        self._still = self._still + 1 if pos == self._last else 0
        self._last = pos
        if self._still >= 3:
            self._still = 0
            return ACTION_NAMES[int(self.rng.integers(0, 4))]  # step aside: breaks head-on deadlocks
        return go_and_interact(kitchen, me, self.targets(kitchen, me), self.rng)

    @staticmethod
    def targets(kitchen: Kitchen, me: int) -> list[tuple[int, int]]:
        mdp, state = kitchen.mdp, kitchen.state
        held = state.players[me].held_object
        held_name = None if held is None else held.name
        pots = {pos: kitchen.pot_state(pos)[0] for pos in kitchen.pots}
        if held_name == "soup":
            return list(mdp.get_serving_locations())
        if held_name == "dish":
            ready = [p for p, s in pots.items() if s == "ready"]
            return ready or [p for p, s in pots.items() if s == "cooking"] or list(pots)
        if held_name in ("onion", "tomato"):
            needy = [p for p, s in pots.items() if s in ("empty", "filling")]
            return needy or list(pots)
        other = state.players[1 - me].held_object
        if any(s in ("cooking", "ready") for s in pots.values()) and (other is None or other.name != "dish"):
            return _counter_items(kitchen, "dish") + list(mdp.get_dish_dispenser_locations())
        return _counter_items(kitchen, "onion") + list(mdp.get_onion_dispenser_locations())


def _counter_items(kitchen: Kitchen, name: str) -> list[Any]:
    return [pos for pos, obj in kitchen.state.objects.items() if pos in kitchen.counters and obj.name == name]


PARTNERS: dict[str, type[Partner]] = {"stay": StayPartner, "random": RandomPartner, "greedy": GreedyPartner}


def make_partner(name: str, seed: int = 0) -> Partner:
    if name not in PARTNERS:
        raise ValueError(f"partner {name!r} is unknown; choose one of {sorted(PARTNERS)}")
    return PARTNERS[name](seed)


def play(kitchen: Kitchen, chefs: tuple[Partner, Partner], frames: list[np.ndarray] | None = None) -> int:
    """Play one episode from the start state with both chefs' policies; returns soups delivered. Appends a picture
    of every tick to ``frames`` when given (``imageio.mimsave(path, frames)`` makes the GIF)."""
    kitchen.reset()
    for chef in chefs:
        chef.reset()
    while not kitchen.done:
        kitchen.step((chefs[0].act(kitchen, 0), chefs[1].act(kitchen, 1)))
        if frames is not None:
            frames.append(kitchen.frame())
    return kitchen.delivered


def reachable_cells(kitchen: Kitchen, me: int) -> set[tuple[int, int]]:
    """Floor cells chef ``me`` can walk to (the other chef ignored: it moves)."""
    terrain = kitchen.mdp.terrain_mtx
    start = tuple(kitchen.state.players[me].position)
    seen = {start}
    queue = deque([start])
    while queue:
        x, y = queue.popleft()
        for dx, dy in _STEPS:
            nxt = (x + dx, y + dy)
            if nxt not in seen and 0 <= nxt[1] < len(terrain) and 0 <= nxt[0] < len(terrain[0]):
                if terrain[nxt[1]][nxt[0]] == " ":
                    seen.add(nxt)
                    queue.append(nxt)
    return seen

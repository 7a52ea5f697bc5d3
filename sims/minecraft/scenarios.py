"""Seeded scenarios on the local server's superflat world: where the bots stand, where trees grow (flying-squid's
generators plant none), and obstacles (cobblestone walls and pillars) between them. The same seed gives the same
layout — for any number of bots up to ``LAYOUT_BOTS``, the same trees and obstacles, so a team and a lone bot can be
compared on one layout; different seeds vary all three."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.sims.world import WorldError

log = logging.getLogger(__name__)

GROUND_Y = 4
"""Superflat: grass at y = 4, players stand at y = 5."""
LAYOUT_BOTS = 4
"""Spawn points drawn per layout: teams of up to this many bots share the trees and obstacles of a seed."""
GROUND_BLOCKS = ("grass_block", "dirt")
"""Superflat ground: more of it than any goal digs."""
SEEDS_TRIED = 500
TREE_DRAWS = 50_000
"""Tree spots drawn at most (some 20 trees fit around the bots; asking for more used to draw forever)."""
"""Seeds searched for one whose scenario holds what a goal needs (the suggestion of :meth:`Scenario.lacks`)."""


@dataclass
class Scenario:
    seed: int
    origin: tuple[int, int]
    spawns: dict[str, tuple[int, int, int]]
    trees: list[tuple[int, int, int, int]] = field(default_factory=list)
    """(x, y, z, height) of each tree."""
    obstacles: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)
    """Boxes (x, y, z, x2, y2, z2) of cobblestone."""

    def blocks(self) -> dict[str, int]:
        """How many of each block the scenario places (as the server's ``tree`` and ``fill`` lay them: leaves, then
        the trunk, then the obstacles over whatever they cross); the ground (:data:`GROUND_BLOCKS`) is not counted."""
        cells: dict[tuple[int, int, int], str] = {}
        for x, y, z, height in self.trees:
            for dy in range(height - 2, height + 2):
                r = 1 if dy >= height else 2
                for dx in range(-r, r + 1):
                    for dz in range(-r, r + 1):
                        if not (r == 2 and abs(dx) == 2 and abs(dz) == 2):
                            cells[(x + dx, y + dy, z + dz)] = "oak_leaves"
            for dy in range(height):
                cells[(x, y + dy, z)] = "oak_log"
        for x, y, z, x2, y2, z2 in self.obstacles:
            for cx in range(x, x2 + 1):
                for cy in range(y, y2 + 1):
                    for cz in range(z, z2 + 1):
                        cells[(cx, cy, cz)] = "cobblestone"
        counts: dict[str, int] = {}
        for block in cells.values():
            counts[block] = counts.get(block, 0) + 1
        return counts

    def shortfall(self, needed: dict[str, int]) -> dict[str, int]:
        """The blocks of ``needed`` (block -> count to dig) the scenario has fewer of, with the count needed."""
        have = self.blocks()
        return {b: n for b, n in needed.items() if b not in GROUND_BLOCKS and have.get(b, 0) < n}

    def lacks(self, needed: dict[str, int]) -> str | None:
        """What the scenario lacks for digging ``needed`` (block -> count), with a seed or a setting that has it;
        None when it has enough."""
        have = self.blocks()
        short = self.shortfall(needed)
        if not short:
            return None
        absent = sorted(b for b in short if b not in ("oak_log", "oak_leaves", "cobblestone"))
        if absent:
            return (
                f"the local scenario has no {', '.join(absent)}: it places only oak trees and cobblestone walls and "
                "pillars on flat grass; run such goals on a world that has them (task.host=... joins a server)"
            )
        trees, obstacles = len(self.trees), len(self.obstacles)
        what = {"oak_log": f"in {trees} trees (task.trees={trees})", "oak_leaves": f"on {trees} trees",
                "cobblestone": f"in {obstacles} walls and pillars (task.obstacles={obstacles})"}  # fmt: skip
        told = "; ".join(f"{n} {b} to dig, the scenario of seed {self.seed} has {have.get(b, 0)} {what[b]}"
                         for b, n in sorted(short.items()))  # fmt: skip
        bots = list(self.spawns)
        fixes = []
        seeds = (s for s in range(SEEDS_TRIED) if s != self.seed and _enough(s, bots, trees, obstacles, needed))
        seed = next(seeds, None)
        if seed is not None:
            fixes.append(f"seed={seed}")
        if "cobblestone" in short:
            k = next((k for k in range(obstacles + 1, obstacles + 9) if _enough(self.seed, bots, trees, k, needed)), 0)
            fixes += [f"task.obstacles={k}"] if k else []
        if "oak_log" in short or "oak_leaves" in short:
            k = next((k for k in range(trees + 1, trees + 9) if _enough(self.seed, bots, k, obstacles, needed)), 0)
            fixes += [f"task.trees={k}"] if k else []
        return f"{told}; try {' or '.join(fixes)}" if fixes else told


def _enough(seed: int, bots: list[str], trees: int, obstacles: int, needed: dict[str, int]) -> bool:
    try:
        return not make_scenario(seed, bots, trees, obstacles).shortfall(needed)
    except WorldError:  # that many trees do not fit
        return False


def seed_origin(seed: int) -> tuple[int, int]:
    """A fresh patch of ground per seed, 96 blocks apart (4096 seeds before one repeats); half-way between two of
    them (``+48``) is fresh ground too, for a second run of a seed's layout."""
    return 96 * (seed % 64) - 3072, 96 * (seed // 64 % 64) - 3072


def make_scenario(
    seed: int, bots: list[str], trees: int = 3, obstacles: int = 2, origin: tuple[int, int] | None = None
) -> Scenario:
    """Lay out a scenario: bots within 3 blocks of each other, trees 6-14 blocks away, walls in between."""
    rng = np.random.default_rng(seed)
    ox, oz = origin if origin is not None else seed_origin(seed)
    y = GROUND_Y + 1
    jitter = rng.integers(-1, 2, max(len(bots), LAYOUT_BOTS))  # as many draws for one bot as for a team
    points = [(ox + 2 * i, y, oz + int(dz)) for i, dz in enumerate(jitter)]
    spawns = {name: points[i] for i, name in enumerate(bots)}
    taken = {(x, z) for x, _, z in points}
    placed: list[tuple[int, int, int, int]] = []
    for _ in range(TREE_DRAWS):
        if len(placed) >= trees:
            break
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(6, 14)
        x, z = ox + round(dist * np.cos(angle)), oz + round(dist * np.sin(angle))
        if any(abs(x - a) <= 4 and abs(z - b) <= 4 for a, b in taken):
            continue
        placed.append((x, y, z, int(rng.integers(4, 6))))
        taken.add((x, z))
    if len(placed) < trees:
        raise WorldError(
            f"task.trees={trees}: only {len(placed)} trees fit 6-14 blocks from the bots (5 apart) on the layout of "
            f"seed {seed}; use task.trees={len(placed)} or fewer"
        )
    walls: list[tuple[int, int, int, int, int, int]] = []
    for _ in range(obstacles):
        tx, _, tz, _ = placed[int(rng.integers(0, len(placed)))] if placed else (ox + 8, y, oz, 0)
        mx, mz = (ox + tx) // 2, (oz + tz) // 2  # half-way to a tree
        if rng.random() < 0.5:  # a wall across the way, 2 high, 5 long
            if abs(tx - ox) > abs(tz - oz):
                walls.append((mx, y, mz - 2, mx, y + 1, mz + 2))
            else:
                walls.append((mx - 2, y, mz, mx + 2, y + 1, mz))
        else:  # a pillar 3 high
            walls.append((mx, y, mz, mx, y + 2, mz))
    return Scenario(seed, (ox, oz), spawns, placed, walls)


def apply_scenario(server: Any, scenario: Scenario, clear: bool = False) -> None:
    """Build it on a running :class:`~ember.sims.minecraft.server.MinecraftServer` and move the bots there (they
    must be online), with empty inventories. ``clear`` first resets the area (about 5 s) for a reused origin; seeded
    origins lie far apart, so fresh ground needs none."""
    ox, oz = scenario.origin
    y = GROUND_Y + 1
    if clear:
        server.control("fill", x=ox - 16, y=y, z=oz - 16, x2=ox + 16, y2=y + 7, z2=oz + 16, block="air")
        server.control(
            "fill", x=ox - 16, y=GROUND_Y, z=oz - 16, x2=ox + 16, y2=GROUND_Y, z2=oz + 16, block="grass_block"
        )
    for x, ty, z, height in scenario.trees:
        server.control("tree", x=x, y=ty, z=z, height=height)
    for x, wy, z, x2, y2, z2 in scenario.obstacles:
        server.control("fill", x=x, y=wy, z=z, x2=x2, y2=y2, z2=z2, block="cobblestone")
    for name, (x, sy, z) in scenario.spawns.items():
        server.control("clear", player=name)
        server.control("teleport", player=name, x=x, y=sy, z=z)


def lay_out(server: Any, world: Any, scenario: Scenario, attempts: int = 3, timeout: float = 10.0) -> bool:
    """:func:`apply_scenario` and :func:`settle`, again (teleporting the bots anew) when a bot does not see the
    scenario in ``timeout`` seconds: now and then the chunks of the new place reach a client late, without the trees,
    or not at all. True once every bot sees it."""
    for attempt in range(attempts):
        apply_scenario(server, scenario)
        if settle(world, scenario, timeout):
            return True
        log.warning(
            "scenario %d: a bot does not see its new place after %g s (try %d); teleporting again",
            scenario.seed,
            timeout,
            attempt + 1,
        )
    return False


def settle(world: Any, scenario: Scenario, timeout: float = 10.0, steady: float = 1.5) -> bool:
    """Advance ``world`` until every bot stands at its spawn point of ``scenario``, sees blocks there (some
    ``near(bot, ...)`` fact: the chunks of the new place arrived; now and then a teleported client gets none) and, when
    the scenario planted trees, a log — all of it for ``steady`` seconds running, longer than the agent's once-a-second
    block scan, so facts scanned at the old place do not count. At least 20 control steps (the emptied inventories
    arrive). True when settled within ``timeout`` seconds."""
    start = time.monotonic()
    since: float | None = None
    steps = 0
    while True:
        world.advance()
        steps += 1
        facts = {str(f) for f in world.facts()}
        placed = all(
            _at(world.state(name).get("position"), spawn)
            and any(f.startswith(f"near({name}, ") for f in facts)
            and (not scenario.trees or f"near({name}, oak_log)" in facts)
            for name, spawn in scenario.spawns.items()
        )
        now = time.monotonic()
        since = (since or now) if placed else None
        if since is not None and now - since >= steady and steps >= 20:
            return True
        if now - start > timeout:
            return False


def _at(position: Any, spawn: tuple[int, int, int]) -> bool:
    if not position:
        return False
    return abs(float(position[0]) - spawn[0] - 0.5) <= 1.5 and abs(float(position[2]) - spawn[2] - 0.5) <= 1.5

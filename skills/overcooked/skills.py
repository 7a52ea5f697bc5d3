"""Medium-level Overcooked skills (as in ProAgent), each compiled to motion by the partners' shortest-path planner
(the other chef is an obstacle; a chef stuck for 2 ticks steps aside onto a free cell, the two chefs on alternate
ticks, which resolves head-on deadlocks).

``fetch(ingredient)``, ``put_in_pot(pot)``, ``start_cooking(pot)``, ``fetch_dish``, ``pick_up_soup(pot)``, ``deliver``,
``place_on_counter(cell)``, ``pick_from_counter(cell)``, ``wait``. Each ends in SUCCESS when what it promises holds,
in FAILURE with a reason after ``max_ticks`` or when its target cannot be reached.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from ember.sims.overcooked.kitchen import Kitchen
from ember.skills.overcooked.partners import go_and_interact, reachable_cells, shortest_path
from ember.skills.overcooked.traffic import negotiate, publish
from ember.skills.skill import RUNNING, Outcome, Param, Skill, Status

POT = Param("pot", ("object",), "the pot", object_types=("pot",))
CELL = Param("cell", ("object",), "a counter cell", object_types=("counter",))


class KitchenSkill(Skill):
    max_ticks: ClassVar[int] = 60
    """Ticks after which the skill gives up."""

    def _start(self) -> None:
        assert self.ctx is not None
        world: Any = self.ctx.world
        self.kitchen: Kitchen = world.kitchen
        self.me = int(self.ctx.agent.removeprefix("chef"))
        self.rng = np.random.default_rng([int(self.settings.get("seed", 0)), self.me, self.kitchen.tick])
        self.t0 = self.kitchen.tick
        self._last: tuple[int, int] | None = None
        self._still = 0
        self._recent: deque[tuple[int, int]] = deque(maxlen=8)

    def held(self) -> str:
        obj = self.kitchen.state.players[self.me].held_object
        return "none" if obj is None else str(obj.name)

    def cell_of(self, name: str) -> tuple[int, int]:
        assert self.ctx is not None
        pos = self.ctx.world.objects()[name].position
        return int(pos[0]), int(pos[1])

    def targets(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        if self.done():
            return Outcome(Status.SUCCESS)
        if self.kitchen.tick - self.t0 >= self.max_ticks:
            return Outcome(Status.FAILURE, f"{self.name}: not done after {self.max_ticks} ticks")
        targets = self.targets()
        region = reachable_cells(self.kitchen, self.me)
        if not [t for t in targets if _beside(t, region)]:
            return Outcome(Status.FAILURE, f"{self.name}: no target {targets} can be reached from here")
        publish(self.kitchen, self.me, _floor_beside(self.kitchen, targets))
        yielding = negotiate(self.kitchen, self.me)
        if yielding is not None:
            self.ctx.world.apply(self.ctx.agent, {"move": yielding})
            return RUNNING
        pos = tuple(self.kitchen.state.players[self.me].position)
        self._recent.append(pos)
        self._still = self._still + 1 if pos == self._last else 0
        self._last = pos
        # Back and forth between two cells for 6 ticks: a livelock with the other chef (both replanning in step).
        swinging = len(self._recent) >= 6 and len(set(list(self._recent)[-6:])) <= 2 and self._still == 0
        if self._still >= 2 and (self.kitchen.tick + self.me) % 2 == 0:
            # Stuck: step aside onto a free floor cell (the chefs take turns, so they do not both dodge at once).
            free = free_moves(self.kitchen, self.me)
            action = free[int(self.rng.integers(0, len(free)))] if free else "stay"
            self._still = 0
        elif swinging and self.rng.random() < 0.5:
            action = "stay"  # let the other chef through
            self._recent.clear()
        else:
            action = go_and_interact(self.kitchen, self.me, targets, self.rng)
        self.ctx.world.apply(self.ctx.agent, {"move": action})
        return RUNNING


def free_moves(kitchen: Kitchen, me: int) -> list[str]:
    """Moves that take chef ``me`` onto a floor cell the other chef does not stand on."""
    terrain = kitchen.mdp.terrain_mtx
    x, y = kitchen.state.players[me].position
    other = tuple(kitchen.state.players[1 - me].position)
    moves = (("up", (0, -1)), ("down", (0, 1)), ("left", (-1, 0)), ("right", (1, 0)))
    return [
        name
        for name, (dx, dy) in moves
        if 0 <= y + dy < len(terrain)
        and 0 <= x + dx < len(terrain[0])
        and terrain[y + dy][x + dx] == " "
        and (x + dx, y + dy) != other
    ]


def _floor_beside(kitchen: Kitchen, targets: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """The floor cells a chef can stand on to use one of ``targets``."""
    terrain = kitchen.mdp.terrain_mtx
    cells = {(t[0] + dx, t[1] + dy) for t in targets for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0))}
    return {(x, y) for x, y in cells if 0 <= y < len(terrain) and 0 <= x < len(terrain[0]) and terrain[y][x] == " "}


def _beside(cell: tuple[int, int], region: set[tuple[int, int]]) -> bool:
    return any((cell[0] + dx, cell[1] + dy) in region for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)))


class Fetch(KitchenSkill):
    name = "fetch"
    description = "Pick up an ingredient from a dispenser (items on counters: pick_from_counter)."
    params = (Param("ingredient", ("string",), "onion or tomato"),)
    preconditions = ("holding(?agent, none)",)
    effects = ("holding(?agent, ?ingredient)", "not holding(?agent, none)")

    def targets(self) -> list[tuple[int, int]]:
        assert self.ctx is not None
        item = self.ctx.args["ingredient"]
        mdp = self.kitchen.mdp
        dispensers = mdp.get_onion_dispenser_locations() if item == "onion" else mdp.get_tomato_dispenser_locations()
        return [tuple(d) for d in dispensers]

    def done(self) -> bool:
        assert self.ctx is not None
        return self.held() == self.ctx.args["ingredient"]


class FetchDish(KitchenSkill):
    name = "fetch_dish"
    description = "Pick up a dish from the dish dispenser (dishes on counters: pick_from_counter)."
    preconditions = ("holding(?agent, none)",)
    effects = ("holding(?agent, dish)", "not holding(?agent, none)")

    def targets(self) -> list[tuple[int, int]]:
        return [tuple(d) for d in self.kitchen.mdp.get_dish_dispenser_locations()]

    def done(self) -> bool:
        return self.held() == "dish"


class PotSkill(KitchenSkill):
    """A skill whose target is the pot named by its ``pot`` argument."""

    params = (POT,)

    def targets(self) -> list[tuple[int, int]]:
        assert self.ctx is not None
        return [self.cell_of(self.ctx.args["pot"])]


class PutInPot(PotSkill):
    name = "put_in_pot"
    description = "Put the held ingredient into a pot."
    effects = ("holding(?agent, none)",)

    def done(self) -> bool:
        return self.held() == "none"

    def tick(self) -> Outcome:
        if self.ctx is not None and not self.done():
            status, n = self.kitchen.pot_state(self.targets()[0])
            if status in ("cooking", "ready") or n >= 3:  # filled by the other chef meanwhile: decide again
                return Outcome(Status.FAILURE, f"{self.name}: {self.ctx.args['pot']} is full ({status})")
        return super().tick()


class StartCooking(PotSkill):
    name = "start_cooking"
    description = "Start the soup in a pot cooking, empty-handed (kitchens whose pots do not start by themselves)."
    preconditions = ("holding(?agent, none)",)

    def done(self) -> bool:
        return self.kitchen.pot_state(self.targets()[0])[0] in ("cooking", "ready")

    def tick(self) -> Outcome:
        if self.ctx is not None and not self.done() and self.kitchen.pot_state(self.targets()[0])[0] == "empty":
            return Outcome(Status.FAILURE, f"{self.name}: {self.ctx.args['pot']} is empty")
        return super().tick()


class PickUpSoup(PotSkill):
    name = "pick_up_soup"
    description = "Scoop a ready soup from a pot with the held dish (waits beside a cooking pot)."
    preconditions = ("holding(?agent, dish)",)
    effects = ("holding(?agent, soup)", "not holding(?agent, dish)")

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        if self.ctx is not None and not self.done():
            pot = self.targets()[0]
            status = self.kitchen.pot_state(pot)[0]
            player = self.kitchen.state.players[self.me]
            facing = (player.position[0] + player.orientation[0], player.position[1] + player.orientation[1])
            if status != "ready" and facing == pot:
                if status in ("empty", "filling"):
                    return Outcome(Status.FAILURE, f"{self.name}: {self.ctx.args['pot']} has no soup ({status})")
                self.ctx.world.apply(self.ctx.agent, {"move": "stay"})  # wait for it to finish cooking
                return RUNNING
        return super().tick()

    def done(self) -> bool:
        return self.held() == "soup"


class Deliver(KitchenSkill):
    name = "deliver"
    description = "Bring the held soup to a serving window."
    preconditions = ("holding(?agent, soup)",)
    effects = ("holding(?agent, none)", "not holding(?agent, soup)")

    def targets(self) -> list[tuple[int, int]]:
        return [tuple(s) for s in self.kitchen.mdp.get_serving_locations()]

    def done(self) -> bool:
        return self.held() == "none"


class PlaceOnCounter(KitchenSkill):
    name = "place_on_counter"
    description = "Put the held item on an empty counter cell (to hand it over)."
    params = (CELL,)
    effects = ("holding(?agent, none)",)

    def targets(self) -> list[tuple[int, int]]:
        assert self.ctx is not None
        return [self.cell_of(self.ctx.args["cell"])]

    def done(self) -> bool:
        return self.held() == "none"


class PickFromCounter(KitchenSkill):
    name = "pick_from_counter"
    description = "Take the item lying on a counter cell."
    params = (CELL,)
    preconditions = ("holding(?agent, none)",)
    effects = ("not holding(?agent, none)",)

    def targets(self) -> list[tuple[int, int]]:
        assert self.ctx is not None
        return [self.cell_of(self.ctx.args["cell"])]

    def done(self) -> bool:
        return self.held() != "none"


class Wait(KitchenSkill):
    name = "wait"
    description = "Stay in place for some ticks."
    params = (Param("ticks", ("number",), "how long", required=False, default=1),)

    def done(self) -> bool:
        assert self.ctx is not None
        return self.kitchen.tick - self.t0 >= int(self.ctx.args.get("ticks") or 1)

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        if self.done():
            return Outcome(Status.SUCCESS)
        assert self.ctx is not None
        publish(self.kitchen, self.me, set())
        self.ctx.world.apply(self.ctx.agent, {"move": negotiate(self.kitchen, self.me) or self._give_way()})
        return RUNNING

    def _give_way(self) -> str:
        """Park off the cells that reach a pot, window or dispenser (others need them), and step aside when the
        other chef comes next to this one; otherwise stay."""
        k = self.kitchen
        me = tuple(k.state.players[self.me].position)
        other = tuple(k.state.players[1 - self.me].position)
        mdp = k.mdp
        groups = (
            k.pots,
            mdp.get_serving_locations(),
            mdp.get_onion_dispenser_locations(),
            mdp.get_tomato_dispenser_locations(),
            mdp.get_dish_dispenser_locations(),
        )
        features = {tuple(c) for group in groups for c in group}
        region = reachable_cells(k, self.me)
        if other not in region:  # a bare path the chefs cannot pass on: back away to leave the other more room
            away = [m for m in free_moves(k, self.me) if _manhattan(_moved(me, m), other) > _manhattan(me, other)]
            return away[0] if away else "stay"
        parking = {c for c in region if not _beside_any(c, features)} - {other}
        if me not in parking and parking:
            path = shortest_path(k, me, parking, {other})
            if path:
                step = (path[0][0] - me[0], path[0][1] - me[1])
                return {(0, -1): "up", (0, 1): "down", (1, 0): "right", (-1, 0): "left"}[step]
        if abs(me[0] - other[0]) + abs(me[1] - other[1]) != 1:
            return "stay"
        free = free_moves(k, self.me)
        return free[int(self.rng.integers(0, len(free)))] if free else "stay"


def _manhattan(a: tuple[int, int], b: tuple[int, int]) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def _moved(cell: tuple[int, int], move: str) -> tuple[int, int]:
    dx, dy = {"up": (0, -1), "down": (0, 1), "right": (1, 0), "left": (-1, 0)}[move]
    return cell[0] + dx, cell[1] + dy


def _beside_any(cell: tuple[int, int], features: set[tuple[int, int]]) -> bool:
    return any((cell[0] + dx, cell[1] + dy) in features for dx, dy in ((0, 1), (0, -1), (1, 0), (-1, 0)))

"""The symbolic cooperative planner for Overcooked (the offline default): whenever a chef it controls is idle, it
picks that chef's next skill from the facts, the kitchen's geometry (which pots, dispensers and serving windows each
chef can reach, which counters both can) and what the other chef is doing, so the two do not fetch the same dish or
overfill a pot, and a chef cut off from the pots hands ingredients and dishes over a shared counter.

Each decision is a plan (contract 4) of one ``action`` node with its ``agent``; :func:`run_episode` executes the
chosen skills tick by tick for the chefs the planner controls and lets partners (``ember.skills.overcooked
.partners``) act for the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ember.sims.overcooked.kitchen import AGENTS, OvercookedWorld
from ember.skills.library import SkillLibrary
from ember.skills.overcooked.partners import Partner, reachable_cells, shortest_path
from ember.skills.skill import Skill, Status

_NEAR = ((0, 1), (0, -1), (1, 0), (-1, 0))


def _beside(cell: tuple[int, int], region: set[tuple[int, int]]) -> bool:
    return any((cell[0] + dx, cell[1] + dy) in region for dx, dy in _NEAR)


class SkillPlanner(Protocol):
    """What :func:`run_episode` needs of a planner: a skill library and a per-chef decision."""

    skills: SkillLibrary

    def decide(self, world: OvercookedWorld, chef: int, other: tuple[str, dict[str, Any]] | None) -> dict[str, Any]: ...


class CooperativePlanner:
    """Args: skills: the Overcooked skill library (``SkillLibrary.for_domain("overcooked")``)."""

    def __init__(self, skills: SkillLibrary) -> None:
        self.skills = skills

    def decide(self, world: OvercookedWorld, chef: int, other: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
        """A one-action plan for ``chef``; ``other`` is the other chef's current (skill, args), if known."""
        name, args = self._choose(world, chef, other)
        return {"version": 1, "root": {"type": "action", "skill": name, "args": args, "agent": AGENTS[chef]}}

    def _choose(
        self, world: OvercookedWorld, me: int, other: tuple[str, dict[str, Any]] | None
    ) -> tuple[str, dict[str, Any]]:
        k = world.kitchen
        mdp, state = k.mdp, k.state
        mine = reachable_cells(k, me)
        theirs = reachable_cells(k, 1 - me)
        objects = world.objects()
        names = {(int(o.position[0]), int(o.position[1])): n for n, o in objects.items()}
        held = state.players[me].held_object
        held = "none" if held is None else held.name
        their_held = state.players[1 - me].held_object
        their_held = "none" if their_held is None else their_held.name
        their_skill, their_args = other or ("", {})
        pots = {p: k.pot_state(p) for p in k.pots}
        my_pots = [p for p in pots if _beside(p, mine)]
        dispensers = {"onion": mdp.get_onion_dispenser_locations(), "tomato": mdp.get_tomato_dispenser_locations()}
        can_get = {x for x, cells in dispensers.items() if any(_beside(tuple(c), mine) for c in cells)}
        anyone = {x for x, cells in dispensers.items() if any(_beside(tuple(c), mine | theirs) for c in cells)}
        # What each pot still lacks for the soup it is filled towards (an empty pot: the best recipe's ingredients).
        best, missing = k.recipe_plan(anyone)
        serve_ok = any(_beside(tuple(s), mine) for s in mdp.get_serving_locations())
        shared = [
            c for c in k.counters if _beside(c, mine) and _beside(c, theirs) and c not in state.objects
        ]  # empty counters both can reach
        shared.sort(key=lambda c: min(abs(c[0] - x) + abs(c[1] - y) for x, y in mine))

        # A chef that cannot serve hands its soups back: ingredients and dishes leave it one shared counter.
        keep = 0 if any(_beside(tuple(s), theirs) for s in mdp.get_serving_locations()) else 1

        def hand_over(keep: int = keep) -> tuple[str, dict[str, Any]]:
            if len(shared) > keep:
                return "place_on_counter", {"cell": names[shared[0]]}
            return "wait", {"ticks": 1}

        if held == "soup":
            return ("deliver", {}) if serve_ok else hand_over(0)
        if held == "dish":
            claimed = their_args.get("pot") if their_skill == "pick_up_soup" else None
            order = sorted(
                (p for p in my_pots if pots[p][0] in ("ready", "cooking") and names[p] != claimed),
                key=lambda p: (pots[p][0] != "ready", pots[p][1]),
            )
            if order:
                return "pick_up_soup", {"pot": names[order[0]]}
            if not my_pots:
                return hand_over()
            only_me = [p for p in my_pots if pots[p][0] in ("empty", "filling") and not _beside(p, theirs)]
            # a pot waiting to be started, or one only this chef can fill: free its hands
            only_me += [p for p in my_pots if not k.auto_cook and pots[p][0] == "filling" and not missing.get(p)]
            if only_me and self._counters_near(k, only_me, mine):
                return "place_on_counter", {"cell": names[self._counters_near(k, only_me, mine)[0]]}
            return "wait", {"ticks": 1}
        if held in INGREDIENTS:
            incoming = 1 if their_held == held else 0
            needy = sorted(
                (p for p in my_pots if missing.get(p, {}).get(held, 0) > 0),
                key=lambda p: -pots[p][1],  # top up the fullest pot first
            )
            for p in needy:
                if missing[p][held] > (incoming if their_args.get("pot") == names[p] else 0):
                    return "put_in_pot", {"pot": names[p]}
            if not my_pots:
                return hand_over()
            ready = [p for p in my_pots if pots[p][0] == "ready" and not _beside(p, theirs)]
            if ready and self._counters_near(k, ready, mine):  # a soup only this chef can take: free its hands
                return "place_on_counter", {"cell": names[self._counters_near(k, ready, mine)[0]]}
            staged = sum(1 for c, obj in state.objects.items() if c in k.counters and obj.name == held)
            if staged < 2:  # stage onions beside the pot for the next soup while this one cooks
                near = self._counters_near(k, my_pots, mine)
                if near:
                    return "place_on_counter", {"cell": names[near[0]]}
            return "wait", {"ticks": 1}
        # Empty-handed.
        if not k.auto_cook:  # a pot holding its recipe's ingredients: start it
            for p in my_pots:
                started_by_them = their_skill == "start_cooking" and their_args.get("pot") == names[p]
                if pots[p][0] == "filling" and not missing.get(p) and not started_by_them:
                    return "start_cooking", {"pot": names[p]}
        on_counter = {p: obj.name for p, obj in state.objects.items() if p in k.counters}
        wanted = {x for p in my_pots for x, n in missing.get(p, {}).items() if n > 0}  # by pots this chef reaches
        for cell, item in sorted(on_counter.items(), key=lambda ci: self._distance(k, me, ci[0])):
            if not _beside(cell, mine) or (
                their_skill == "pick_from_counter" and their_args.get("cell") == names[cell]
            ):
                continue
            if (
                (item == "soup" and serve_ok)
                or (item in wanted)
                or (item == "dish" and my_pots and any(pots[p][0] in ("cooking", "ready") for p in my_pots))
            ):
                return "pick_from_counter", {"cell": names[cell]}
        dishes_busy = int(their_held == "dish" or their_skill == "fetch_dish")
        # items on counters this chef can reach: handed over, or staged (one out of reach may never be brought)
        in_reach = {c: item for c, item in on_counter.items() if _beside(c, mine)}
        dishes_busy += sum(1 for item in in_reach.values() if item == "dish")  # handed over, waiting for a soup
        soups_coming = sum(1 for s, _ in pots.values() if s in ("cooking", "ready"))
        # A soup that will be ready by the time a dish could be brought to it (or is ready now) takes the dish first.
        can_dish = any(_beside(tuple(d), mine) for d in mdp.get_dish_dispenser_locations())
        lead = self._dish_trip(k, me, mine) if can_dish else 0
        soon = sum(1 for s, n in pots.values() if s == "ready" or (s == "cooking" and n <= lead))
        if soon > dishes_busy and can_dish:
            return "fetch_dish", {}
        needed = {x: sum(m.get(x, 0) for m in missing.values()) for x in INGREDIENTS}  # still to go into pots
        for x in INGREDIENTS:
            needed[x] -= int(their_held == x or (their_skill == "fetch" and their_args.get("ingredient") == x))
            needed[x] -= sum(1 for item in in_reach.values() if item == x)
        fetchable = sorted((x for x in can_get if needed[x] > 0), key=lambda x: -needed[x])
        if fetchable and my_pots:
            return "fetch", {"ingredient": fetchable[0]}  # another pot to fill while this soup cooks
        if soups_coming > dishes_busy and can_dish:
            return "fetch_dish", {}
        if fetchable:
            return "fetch", {"ingredient": fetchable[0]}
        if can_dish and not my_pots and sum(1 for item in on_counter.values() if item == "dish") < 1:
            return "fetch_dish", {}  # a chef cut off from the pots keeps a dish ready on the counter
        if (
            can_dish
            and dishes_busy == 0
            and any(
                s == "filling" and sum(missing.get(p, {}).values()) <= 1 and (p not in my_pots or _beside(p, theirs))
                for p, (s, n) in pots.items()
            )
        ):  # early, for a pot the other chef can finish
            return "fetch_dish", {}
        spare = bool(my_pots and self._counters_near(k, my_pots, mine)) or any(_beside(p, theirs) for p in my_pots)
        first = next((x for x in best if x in can_get), None)
        if first is not None and my_pots and their_held != first and spare:
            return "fetch", {"ingredient": first}  # ready for the next soup, away from the pot
        return "wait", {"ticks": 1}

    @staticmethod
    def _dish_trip(k: Any, me: int, region: set[tuple[int, int]]) -> int:
        """Ticks to walk to a dish dispenser and on to a pot, plus the two interactions and turns (the cook ticks
        left at which an idle chef fetches the dish for a soup rather than onions for another pot)."""
        start = tuple(k.state.players[me].position)

        def beside(cells: Any) -> set[tuple[int, int]]:
            return {(c[0] + dx, c[1] + dy) for c in cells for dx, dy in _NEAR} & region

        at_dish = beside(k.mdp.get_dish_dispenser_locations())
        to_dish = shortest_path(k, start, at_dish, set())
        if to_dish is None:
            return 0
        stop = to_dish[-1] if to_dish else start
        to_pot = shortest_path(k, stop, beside(k.pots), set())
        return len(to_dish) + (len(to_pot) if to_pot is not None else 0) + 4

    @staticmethod
    def _distance(k: Any, me: int, cell: tuple[int, int]) -> int:
        x, y = k.state.players[me].position
        return abs(cell[0] - x) + abs(cell[1] - y)

    @staticmethod
    def _counters_near(k: Any, pots: list[tuple[int, int]], region: set[tuple[int, int]]) -> list[tuple[int, int]]:
        """Empty counter cells this chef can reach, nearest to its pots first."""
        free = [c for c in k.counters if c not in k.state.objects and _beside(c, region)]
        return sorted(free, key=lambda c: min(abs(c[0] - p[0]) + abs(c[1] - p[1]) for p in pots))


INGREDIENTS = ("onion", "tomato")


def run_episode(
    world: OvercookedWorld,
    planner: SkillPlanner,
    controlled: tuple[bool, bool] = (True, True),
    partners: tuple[Partner | None, Partner | None] = (None, None),
    on_event: Callable[[dict[str, Any]], None] | None = None,
    seed: int = 0,
    on_tick: Callable[[], None] | None = None,
) -> int:
    """One episode: the planner drives the chefs marked in ``controlled``, the partners the others; returns soups.
    ``seed`` seeds the skills' tie-breaking (the side steps that resolve deadlocks); ``on_tick`` runs after every
    world step (frames for a GIF)."""
    world.reset(world.seed)
    for partner in partners:
        if partner is not None:
            partner.reset()
    running: list[Skill | None] = [None, None]
    current: list[tuple[str, dict[str, Any]] | None] = [None, None]
    while not world.kitchen.done:
        for chef in (0, 1):
            if not controlled[chef]:
                partner = partners[chef]
                world.apply(AGENTS[chef], {"move": "stay" if partner is None else partner.act(world.kitchen, chef)})
                continue
            for _ in range(3):  # a skill that is done at once makes room for the next decision this tick
                if running[chef] is None:
                    other = current[1 - chef] if controlled[1 - chef] else None
                    plan = planner.decide(world, chef, other)
                    node = plan["root"]
                    skill = planner.skills[node["skill"]](seed=seed)
                    skill.start(world, AGENTS[chef], **node["args"])
                    running[chef], current[chef] = skill, (node["skill"], node["args"])
                    if on_event is not None:
                        on_event({"event": "skill_start", "t": world.time(), "agent": AGENTS[chef], **node})
                outcome = running[chef].tick()  # type: ignore[union-attr]
                if outcome.status == Status.RUNNING:
                    break
                if on_event is not None:
                    on_event(
                        {
                            "event": "skill_end",
                            "t": world.time(),
                            "agent": AGENTS[chef],
                            "status": str(outcome.status),
                            "reason": outcome.reason,
                        }
                    )
                running[chef], current[chef] = None, None
        world.advance()
        if on_tick is not None:
            on_tick()
    return world.kitchen.delivered

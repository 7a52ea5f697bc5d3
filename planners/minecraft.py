"""Minecraft planning: goals in words or predicates, and the symbolic recipe planner (the offline default).

:func:`parse_goal` turns "collect 3 oak logs", "craft a wooden pickaxe", "collect 5 dirt", "we need a wooden pickaxe
and 10 dirt" or ``has(bot0, oak_log, 3)`` into item counts. :class:`RecipePlanner` decomposes ``has(agent, item, n)``
into skills from minecraft-data's recipes (ingredients, crafting-table requirement) and blocks (what drops what,
which tool harvests it), starting from the agent's inventory and what is near it: mine what lies around, craft
the rest, place a crafting table when a recipe needs one and none is near, explore for what is nowhere near. The plan
(contract 4) is a sequence of actions; a failure is repaired by planning again from the facts of that moment, so a
bot that lost its connection or its progress resumes from what it holds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ember.sims.minecraft.data import MinecraftData, Recipe
from ember.sims.predicates import Atom, Literal, PredicateError, parse_literal

_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "some": 1, "another": 1,
}  # fmt: skip
_FILLER = {"collect", "craft", "get", "gather", "make", "mine", "obtain", "we", "need", "i", "want", "and", "the",
           "please", "build", "chop", "dig", "of", "some", "us", "me", "bring", "to", "have", "with",
           "then"}  # fmt: skip

EXPLORE_COST = 4.0
"""Planning cost of exploring for a block and digging it, against crafting's one per recipe plus its ingredients."""


class PlanningError(ValueError):
    """A goal that cannot be read or achieved; the message names the part and how to fix it."""


@dataclass
class GoalItem:
    item: str
    count: int
    agent: str | None = None
    """The bot a predicate names as the holder (``has(bot1, stick, 4)``); None for goals in words."""


def unobtainable(item: str, data: MinecraftData) -> str | None:
    """Why no bot can get ``item`` by mining and crafting (no recipe makes it, no block drops it), or None."""
    if data.recipes.get(item) or data.sources(item):
        return None
    if item == "air":
        return "air is the empty space between blocks, nothing a bot can hold"
    dug = f"; mining {item} gives {', '.join(data.drops(item))}" if item in data.blocks and data.drops(item) else ""
    return (
        f"{item} cannot be obtained here: no crafting recipe makes it and no block drops it{dug} (Ember plans mining "
        "and crafting; smelting, trading and mob drops are not planned)"
    )


def _singular(word: str) -> list[str]:
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms


MAX_COUNT = 36 * 64
"""The most of one item a goal may ask for: a full inventory (36 slots of 64)."""


def _count(goal: str, part: str, count: int) -> int:
    if not 1 <= count <= MAX_COUNT:
        raise PlanningError(
            f"goal {goal!r}: {part!r} asks for {count}; a count must be 1 to {MAX_COUNT} (an inventory)"
        )
    return count


def parse_goal(text: str, data: MinecraftData, agents: Sequence[str] | None = None) -> list[GoalItem]:
    """Item counts a goal asks for. Predicates (``has(bot0, oak_log, 3)``, joined by ``,``, ``and`` or ``&``) are read
    as they are (``agents``: the bots a predicate may name; the items go to the team); words are matched against
    minecraft-data's item names (plurals, ``a``/``two``/digits)."""
    text = text.strip()
    if not text:
        raise PlanningError("goal is empty; write e.g. goal='craft a wooden pickaxe' or goal='has(bot0, oak_log, 3)'")
    if "(" in text:
        read: list[GoalItem] = []
        for part in re.split(r"\)\s*(?:,|&|\band\b)\s*", text):
            part = part.strip()
            if not part:
                continue
            try:
                lit = parse_literal(part if part.endswith(")") else part + ")")
            except PredicateError as err:
                raise PlanningError(f"goal {part!r}: {err}; Minecraft goals are has(agent, item, count)") from err
            if not lit.positive:
                raise PlanningError(f"goal {part!r}: Minecraft goals ask for items to have; 'not' cannot be planned")
            if lit.atom.name != "has" or len(lit.atom.args) != 3 or not isinstance(lit.atom.args[2], int):
                raise PlanningError(f"goal {part!r}: Minecraft goals are has(agent, item, count) with a whole count")
            agent, item = str(lit.atom.args[0]), str(lit.atom.args[1])
            if agents is not None and agent not in agents:
                raise PlanningError(f"goal {part!r}: {agent!r} is not one of this run's bots {list(agents)}")
            if not data.is_item(item):
                raise PlanningError(f"goal {part!r}: {item!r} is not a Minecraft item")
            _obtainable(part, item, data)
            read.append(GoalItem(item, _count(text, part, int(lit.atom.args[2])), agent))
        holders = sorted({str(g.agent) for g in read})
        if len(holders) > 1:
            raise PlanningError(
                f"goal {text!r} asks {' and '.join(holders)} to hold items; a team gathers a goal's items at one bot: "
                f"name the same bot in every has(...), e.g. has({holders[0]}, ...), and run a goal per bot"
            )
        return read
    negative = re.search(r"(?<![a-z0-9_])-\s*\d+", text.lower())
    if negative:
        raise PlanningError(f"goal {text!r}: {negative.group(0)!r} is negative; a count must be 1 to {MAX_COUNT}")
    words = [w for w in re.findall(r"[a-z0-9_]+", text.lower())]
    out: list[GoalItem] = []
    count: int | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word.isdigit():
            if count is not None:
                raise PlanningError(f"goal {text!r}: two counts in a row before an item ({count}, {word})")
            count = _count(text, word, int(word))
            i += 1
            continue
        if word in _NUMBERS and (i + 1 < len(words)):
            count = _NUMBERS[word]
            i += 1
            continue
        if word in _FILLER:
            i += 1
            continue
        match = None
        for length in (3, 2, 1):  # longest item name first: "wooden pickaxe", "oak logs", "dirt"
            if i + length > len(words):
                continue
            head, last = words[i : i + length - 1], words[i + length - 1]
            for form in _singular(last):
                name = "_".join([*head, form])
                if data.is_item(name):
                    match = (name, length)
                    break
                if length == 1 and data.is_item(f"oak_{form}"):  # "logs", "planks": the oak kind
                    match = (f"oak_{form}", length)
                    break
            if match:
                break
        if match is None:
            raise PlanningError(
                f"goal {text!r}: {word!r} is not a Minecraft item (write item names as in the game, e.g. 'oak logs', "
                "'wooden pickaxe', 'dirt', or a predicate has(bot0, oak_log, 3))"
            )
        _obtainable(text, match[0], data)
        out.append(GoalItem(match[0], count if count is not None else 1))
        count = None
        i += match[1]
    if not out:
        raise PlanningError(f"goal {text!r} names no item; e.g. 'collect 3 oak logs'")
    if count is not None:  # "craft a wooden pickaxe and 3": the count was read but counts nothing
        raise PlanningError(f"goal {text!r}: the count {count} at the end names no item; put it before one: '3 sticks'")
    return out


def goal_holder(goal: Sequence[GoalItem]) -> str | None:
    """The bot a predicate goal names as the holder of its items (:func:`parse_goal` allows one), or None."""
    return next((g.agent for g in goal if g.agent is not None), None)


def _obtainable(goal: str, item: str, data: MinecraftData) -> None:
    why = unobtainable(item, data)
    if why is not None:
        raise PlanningError(f"goal {goal!r}: {why}; ask for something to mine or craft, e.g. 'collect 3 oak logs'")


@dataclass
class Step:
    skill: str
    args: dict[str, Any]
    agent: str


@dataclass
class _State:
    inventory: dict[str, int]
    near: set[str]
    steps: list[Step] = field(default_factory=list)
    table: bool = False


class RecipePlanner:
    """Args: data: the game data of the server's version."""

    max_depth = 8

    def __init__(self, data: MinecraftData) -> None:
        self.data = data
        self._universe: set[str] = set()
        self._cache: dict[tuple[frozenset[str], frozenset[str]], dict[str, float]] = {}

    # ------------------------------------------------------------------ public
    def plan(self, goal: list[GoalItem], facts: frozenset[Atom], agent: str) -> dict[str, Any]:
        """A plan (contract 4) that gets ``agent`` every goal item, from ``facts``."""
        steps = self.steps(goal, facts, agent)
        children = [{"type": "action", "skill": s.skill, "args": s.args, "agent": s.agent} for s in steps]
        if not children:  # already held: a tree that checks it (item names are not world objects, so no condition)
            children = [action_node(agent, "wait_for", item=g.item, count=g.count) for g in goal]
        return {"version": 1, "root": {"type": "sequence", "children": children}}

    def goal_literals(self, goal: list[GoalItem], agent: str) -> list[Literal]:
        return [Literal(Atom("has", (agent, g.item, g.count))) for g in goal]

    def steps(self, goal: list[GoalItem], facts: frozenset[Atom], agent: str) -> list[Step]:
        state = _State(inventory=inventory_of(facts, agent), near=near_of(facts, agent))
        state.table = "crafting_table" in state.near
        self._universe = self._closure({g.item for g in goal} | {"crafting_table"})
        self._cache = {}
        for g in goal:
            self._acquire(state, g.item, g.count, agent, frozenset())
            state.inventory[g.item] -= g.count  # reserved for the goal
        return _merge(self._hoist(state.steps))

    # ------------------------------------------------------------------ search
    def _acquire(self, state: _State, item: str, n: int, agent: str, chain: frozenset[str]) -> None:
        have = state.inventory.get(item, 0)
        if have >= n:
            return
        if item in chain or len(chain) > self.max_depth:
            raise PlanningError(f"{item}: needed to make itself ({' <- '.join(sorted(chain))}); no way to get it here")
        asked = not chain  # the goal's own item, not an ingredient
        chain = chain | {item}
        missing = n - have
        near_sources = [b for b in self.data.sources(item) if b in state.near]
        recipes = self.data.recipes.get(item, [])
        usable = [r for r in recipes if not any(i in chain for i, _ in r.ingredients)]  # no detours through itself
        craftable = bool(usable) and min(self._recipe_cost(r, state) for r in usable) < math.inf
        natural = self.data.natural_sources(item)
        if near_sources and (not recipes or item in near_sources or self._raw(item)):
            self._mine(state, near_sources[0], item, missing, agent, chain)
        elif craftable and not (natural and self.data.stored(item)):
            saved = (len(state.steps), dict(state.inventory), set(state.near), state.table)
            try:
                self._craft(state, item, missing, agent, chain)
                return
            except PlanningError:  # a dead end (a recipe leading back to this item): look for it instead, if one can
                if not natural:
                    raise
                del state.steps[saved[0] :]
                state.inventory, state.near, state.table = saved[1], saved[2], saved[3]
            self._explore_and_mine(state, natural[0], item, missing, agent, chain)
        elif natural or (asked and item in self.data.sources(item)):
            # Only blocks a world generates are worth looking for (coal_ore for coal, not coal_block); a goal that
            # names a block explicitly (prismarine, bone_block) is looked for as asked.
            self._explore_and_mine(state, natural[0] if natural else item, item, missing, agent, chain)
        else:
            lacking = sorted({i for r in recipes for i, _ in r.ingredients if math.isinf(self._cost(i, state))})
            why = f"; its recipes need {', '.join(lacking)}, which cannot be had either" if lacking else ""
            raise PlanningError(
                f"{item} can be neither mined nor crafted here: no block that is not itself crafted drops it, and no "
                f"crafting recipe makes it from what can be had (smelting is not supported){why}"
            )

    def _explore_and_mine(
        self, state: _State, block: str, item: str, n: int, agent: str, chain: frozenset[str]
    ) -> None:
        state.steps.append(Step("explore", {"block": block}, agent))
        state.near.add(block)
        self._mine(state, block, item, n, agent, chain)

    def _raw(self, item: str) -> bool:
        """A resource one mines rather than crafts (logs, dirt, cobblestone: drops of natural blocks)."""
        return any(b == item or self.data.blocks[b].get("hardness", 0) for b in self.data.sources(item)) and all(
            r.needs_table or len(r.ingredients) > 1 or r.ingredients[0][1] > 1 for r in self.data.recipes.get(item, [])
        )

    def _mine(self, state: _State, block: str, item: str, n: int, agent: str, chain: frozenset[str]) -> None:
        tools = self.data.harvest_tools(block)
        if tools and not any(state.inventory.get(t, 0) > 0 for t in tools):
            tool = min(tools, key=lambda t: self._cost(t, state))
            if math.isinf(self._cost(tool, state)):
                raise PlanningError(f"mining {block} needs one of {tools}, and none can be made here")
            self._acquire(state, tool, 1, agent, chain)
        state.steps.append(Step("mine", {"block": block, "count": n}, agent))
        state.inventory[item] = state.inventory.get(item, 0) + n

    def _craft(self, state: _State, item: str, n: int, agent: str, chain: frozenset[str]) -> None:
        usable = [r for r in self.data.recipes[item] if not any(i in chain for i, _ in r.ingredients)]
        recipe = min(usable, key=lambda r: self._recipe_cost(r, state))
        if math.isinf(self._recipe_cost(recipe, state)):
            raise PlanningError(f"{item}: no recipe whose ingredients can be had here")
        times = math.ceil(n / recipe.count)
        for ingredient, per in recipe.ingredients:
            self._acquire(state, ingredient, per * times, agent, chain)
            state.inventory[ingredient] -= per * times  # reserved: later ingredients must not use it up
        if recipe.needs_table and not state.table:
            self._acquire(state, "crafting_table", 1, agent, chain)
            state.inventory["crafting_table"] -= 1
            state.steps.append(Step("place", {"block": "crafting_table"}, agent))
            state.table = True
        state.steps.append(Step("craft", {"item": item, "count": times * recipe.count}, agent))
        state.inventory[item] = state.inventory.get(item, 0) + times * recipe.count

    def _recipe_cost(self, recipe: Recipe, state: _State) -> float:
        return 1 + sum(self._cost(i, state) for i, _ in recipe.ingredients)

    def _cost(self, item: str, state: _State) -> float:
        """Rough number of steps to get one ``item`` (inf when impossible): what is held is free, what lies near
        is one dig (plus making its tool), the rest is crafted or explored for. Read from a table computed for the
        state's holdings and surroundings (:meth:`_costs`)."""
        table = self._costs(state)
        if item not in table:
            self._universe |= self._closure({item})
            self._cache.clear()
            table = self._costs(state)
        return table[item]

    def _closure(self, items: set[str]) -> set[str]:
        """Every item the cost of ``items`` can depend on: recipe ingredients and tools of the blocks that drop them."""
        seen, todo = set(), list(items)
        while todo:
            item = todo.pop()
            if item in seen:
                continue
            seen.add(item)
            todo += [i for r in self.data.recipes.get(item, []) for i, _ in r.ingredients]
            todo += [t for b in self.data.sources(item) for t in self.data.harvest_tools(b)]
        return seen

    def _costs(self, state: _State) -> dict[str, float]:
        """Costs of every item of the universe at once, by value iteration to the fixed point (an AND-OR shortest
        path: a recipe costs one plus its ingredients, a dig its base plus the cheapest tool unless one is held).
        Recursion over recipes instead is exponential in the dyes and wools."""
        held = frozenset(k for k, v in state.inventory.items() if v > 0)
        key = (held, frozenset(state.near))
        if key in self._cache:
            return self._cache[key]
        cost = {item: (0.0 if item in held else math.inf) for item in self._universe}
        todo = [i for i in self._universe if i not in held]
        # What does not change while the costs settle: the near block that drops each item, each item's recipes.
        near = {i: next((b for b in self.data.sources(i) if b in state.near), None) for i in todo}
        recipes = {i: self.data.recipes.get(i, []) for i in todo}
        explore: dict[str, str] = {}  # item -> the natural block to look for

        def dig(block: str, base: float) -> float:
            tools = self.data.harvest_tools(block)
            if not tools or any(t in held for t in tools):
                return base
            return base + min(cost.get(t, math.inf) for t in tools)

        def relax() -> None:
            for _ in range(len(todo) + 1):
                changed = False
                for item in todo:
                    block = near[item]
                    if block is not None:
                        best = dig(block, 1.0)
                    else:
                        best = min(
                            (1 + sum(cost.get(i, math.inf) for i, _ in r.ingredients) for r in recipes[item]),
                            default=math.inf,
                        )
                        if item in explore:
                            best = min(best, dig(explore[item], EXPLORE_COST))
                    if best < cost[item]:
                        cost[item], changed = best, True
                if not changed:
                    return

        # Explored for: raw resources at once; anything else only where crafting cannot get it.
        natural = {i: self.data.natural_sources(i) for i in todo}
        explore |= {i: n[0] for i, n in natural.items() if n and (self.data.stored(i) or not recipes[i])}
        relax()
        late = {i: n[0] for i, n in natural.items() if n and i not in explore and math.isinf(cost[i])}
        if late:
            explore |= late
            relax()
        self._cache[key] = cost
        return cost

    def _hoist(self, steps: list[Step]) -> list[Step]:
        """Gather by hand first: digs that need no tool (and the explorations before them) move to the front, so a
        bot fells a tree once instead of walking back for every log; crafting keeps its order."""
        early = [
            s
            for s in steps
            if s.skill == "explore" or (s.skill == "mine" and not self.data.harvest_tools(s.args["block"]))
        ]
        return early + [s for s in steps if s not in early]


def _merge(steps: list[Step]) -> list[Step]:
    """Consecutive mine/craft steps of the same thing become one with the summed count."""
    out: list[Step] = []
    for step in steps:
        last = out[-1] if out else None
        key = {"mine": "block", "craft": "item"}.get(step.skill)
        if last and key and last.skill == step.skill and last.agent == step.agent and last.args[key] == step.args[key]:
            last.args["count"] += step.args["count"]
        else:
            out.append(Step(step.skill, dict(step.args), step.agent))
    return out


def inventory_of(facts: frozenset[Atom], agent: str) -> dict[str, int]:
    return {str(f.args[1]): int(f.args[2]) for f in facts if f.name == "has" and f.args[0] == agent}


def near_of(facts: frozenset[Atom], agent: str) -> set[str]:
    return {str(f.args[1]) for f in facts if f.name == "near" and f.args[0] == agent}


def action_node(agent: str, skill: str, **args: Any) -> dict[str, Any]:
    """A plan's action node (contract 4)."""
    return {"type": "action", "skill": skill, "args": args, "agent": agent}

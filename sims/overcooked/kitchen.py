"""Overcooked-AI kitchens (the ``overcooked`` package, numpy 2) behind Ember's world contract and a multi-agent
step API in the PettingZoo parallel convention.

Standard rules for layouts whose orders are all 3-ingredient soups: a soup starts cooking by itself when the third
ingredient goes in ("old dynamics", as in the classic benchmarks), cooks for 20 ticks, and is worth 20 when
delivered; episodes last 400 ticks. Layouts that set their own per-ingredient cook times and values keep them.
Layouts that order soups of 1-3 ingredients (``counter_circuit``, ``cramped_room_tomato``, the tutorials, ...) run
under the package's own rules ("new dynamics"): a chef starts a pot cooking by interacting with it empty-handed, a
soup is worth its recipe's value if it is on the layout's orders (twice that on a bonus order) and 0 otherwise, and
cook times and values are the layout's (:attr:`Kitchen.recipes`). The package keeps recipe settings in one
class-wide table, so kitchens of layouts with different recipe settings must not be stepped side by side in one
process (the classic five share theirs).
Chefs are ``chef0`` and ``chef1``; positions are ``(x, y)`` grid cells, x to the right, y down.

World facts (computed from the game state each call):

- ``holding(chefK, onion|tomato|dish|soup|none)``
- ``pot_state(potK, empty, 0)``, ``pot_state(potK, filling, n)`` (n ingredients), ``pot_state(potK, cooking, t)`` (t
  ticks left), ``pot_state(potK, ready, 0)``
- ``pot_contents(potK, onion|tomato, n)`` for each ingredient in a pot
- ``on_counter(counterK, onion|tomato|dish|soup)`` for every counter holding an item
- ``delivered(n)``: soups delivered so far this episode

Actions for ``apply(chef, action)``: one of ``up``, ``down``, ``left``, ``right``, ``stay``, ``interact`` (or
``{"move": name}``); ``advance()`` steps both chefs at once (a chef without a queued action stays).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from ember.sims.predicates import Atom
from ember.sims.world import ObjectInfo, World, WorldError

CLASSIC_LAYOUTS = (
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit_o_1order",
)
HORIZON = 400
COOK_TIME = 20
DELIVERY_REWARD = 20
ACTION_NAMES = ("up", "down", "right", "left", "stay", "interact")
"""Action indices of the multi-agent API, in the package's own order (``Action.INDEX_TO_ACTION``)."""
_MOVES: dict[str, Any] = {"up": (0, -1), "down": (0, 1), "right": (1, 0), "left": (-1, 0), "stay": (0, 0)}
_MOVES["interact"] = "interact"
AGENTS = ("chef0", "chef1")


def layouts() -> list[str]:
    """Every layout the ``overcooked`` package ships."""
    import overcooked

    folder = os.path.join(os.path.dirname(overcooked.__file__), "data", "layouts")
    return sorted(name.removesuffix(".layout") for name in os.listdir(folder) if name.endswith(".layout"))


def build_mdp(layout: str) -> Any:
    """The layout's gridworld under the standard rules; unknown layouts are refused with the list."""
    from overcooked import OvercookedGridworld

    known = layouts()
    if layout not in known:
        raise WorldError(f"layout {layout!r} is unknown; the overcooked package ships {known}")
    from overcooked.mdp.overcooked_mdp import Recipe

    if not Recipe._configured:  # the package reads a start state's soups before it configures recipes (tutorial_1)
        Recipe.configure({})  # defaults; the gridworld configures its own on construction
    try:
        try:
            try:
                return OvercookedGridworld.from_layout_name(
                    layout, old_dynamics=True, cook_time=COOK_TIME, delivery_reward=DELIVERY_REWARD
                )
            except ValueError as err:
                if "incompatible" not in str(err):
                    raise
                # The layout sets its own per-ingredient cook times and values: those are kept.
                return OvercookedGridworld.from_layout_name(layout, old_dynamics=True)
        except AssertionError:  # orders of 1-2 ingredients: the package's own rules, cooking started by a chef
            return OvercookedGridworld.from_layout_name(layout, old_dynamics=False)
    except ValueError as err:
        raise WorldError(f"layout {layout!r} cannot be loaded under the standard rules: {err}") from err
    except Exception as err:  # the package's own OvercookedException (e.g. tutorial layouts' unconfigured recipes)
        if type(err).__name__ != "OvercookedException":
            raise
        raise WorldError(f"layout {layout!r} cannot be loaded under the standard rules: {err}") from err


def _recipes(mdp: Any) -> dict[tuple[str, ...], tuple[float, int]]:
    from overcooked.mdp.overcooked_mdp import Recipe

    def table(orders: Any) -> dict[tuple[str, ...], Any]:
        return {tuple(sorted(o["ingredients"])): Recipe(o["ingredients"]) for o in orders or []}

    bonus = table(getattr(mdp, "start_bonus_orders", None))
    everything = table(getattr(mdp, "start_all_orders", None))
    if not everything:  # no orders named: any 3-ingredient soup (the package's default)
        everything = {tuple(r.ingredients): r for r in Recipe.ALL_RECIPES if len(r.ingredients) == 3}
    factor = float(getattr(mdp, "order_bonus", 2))
    return {
        key: (float(r.value) * (factor if key in bonus else 1.0), int(r.time)) for key, r in sorted(everything.items())
    }


def _item(obj: Any) -> str:
    return "none" if obj is None else str(obj.name)


class Kitchen:
    """One Overcooked game: the layout, its state, time and score. Shared by the world and the parallel env.

    Args:
        layout: a layout name from :func:`layouts`.
        horizon: ticks per episode.
    """

    def __init__(self, layout: str = "cramped_room", horizon: int = HORIZON) -> None:
        if horizon < 1:
            raise WorldError(f"horizon must be >= 1 tick; got {horizon}")
        self.layout, self.horizon = layout, horizon
        self.mdp = build_mdp(layout)
        if self.mdp.num_players != 2:
            n = self.mdp.num_players
            raise WorldError(f"layout {layout!r} has {n} chef{'s' * (n != 1)}; Ember's kitchens have 2")
        if not np.isfinite(float(getattr(self.mdp, "order_bonus", 2))):
            raise WorldError(f"layout {layout!r} pays an infinite bonus (order_bonus); scores would not be numbers")
        self.auto_cook = bool(self.mdp.old_dynamics)
        """Whether a pot starts cooking by itself at 3 ingredients (else a chef starts it: ``start_cooking``)."""
        self.recipes = _recipes(self.mdp)
        """The soups worth cooking: sorted ingredients -> (value, cook ticks), bonus orders at their bonus value."""
        available = {"onion"} if self.mdp.get_onion_dispenser_locations() else set()
        available |= {"tomato"} if self.mdp.get_tomato_dispenser_locations() else set()
        if not any(set(r) <= available for r in self.recipes):
            raise WorldError(
                f"layout {layout!r} orders {[list(r) for r in self.recipes]} but has dispensers for "
                f"{sorted(available) or 'no ingredient'}: no order can be cooked"
            )
        self.pots = [tuple(p) for p in self.mdp.get_pot_locations()]
        self.counters = [tuple(p) for p in self.mdp.get_counter_locations()]
        self.reset()

    def reset(self) -> None:
        self.state = self.mdp.get_standard_start_state()
        self.tick = 0
        self.intent: dict[int, frozenset[tuple[int, int]]] = {}
        """Where each chef's running skill is heading (floor cells; written by Ember's skills, read to give way)."""
        self.delivered = 0
        self.score = 0

    def step(self, joint: tuple[str, str]) -> tuple[list[int], dict[str, Any]]:
        """Advance one tick with each chef's action name; returns each chef's delivery reward and the info."""
        for name in joint:
            if name not in _MOVES:
                raise WorldError(f"action {name!r} is unknown; use one of {list(ACTION_NAMES)}")
        self.state, info = self.mdp.get_state_transition(self.state, tuple(_MOVES[n] for n in joint))
        rewards = [int(r) for r in info["sparse_reward_by_agent"]]
        self.tick += 1
        self.score += sum(rewards)
        self.delivered += sum(1 for r in rewards if r > 0)  # one soup a chef a tick, whatever the recipe's value
        return rewards, info

    @property
    def done(self) -> bool:
        return self.tick >= self.horizon

    def pot_contents(self, pos: tuple[int, int]) -> tuple[str, ...]:
        """The sorted ingredients in the pot at ``pos`` (cooking or not; empty when it holds no soup)."""
        soup = self.state.objects.get(pos)
        return tuple(sorted(soup.ingredients)) if soup is not None else ()

    def pot_state(self, pos: tuple[int, int]) -> tuple[str, int]:
        soup = self.state.objects.get(pos)
        if soup is None:
            return "empty", 0
        if soup.is_ready:
            return "ready", 0
        if soup.is_cooking:
            return "cooking", int(soup.cook_time_remaining)
        return "filling", len(soup.ingredients)

    def recipe_plan(self, available: set[str]) -> tuple[tuple[str, ...], dict[tuple[int, int], dict[str, int]]]:
        """The recipe an empty pot is filled towards and what every pot that is not cooking still lacks, with the
        ingredients in ``available`` (those some chef can fetch).

        A recipe scores its value over an estimate of the ticks a soup of it takes (its cook time, or ten ticks an
        ingredient to bring, whichever is longer, plus twenty to dish and serve it); only recipes whose ingredients
        are available count. A pot that holds ingredients is filled towards the best recipe containing them; one
        whose contents no recipe contains is cooked as it is (filled up to three first where pots start by
        themselves)."""

        def score(recipe: tuple[str, ...]) -> float:
            value, cook = self.recipes[recipe]
            return float(value) / (max(cook, 10 * len(recipe)) + 20)

        def lacks(recipe: tuple[str, ...], contents: tuple[str, ...]) -> dict[str, int] | None:
            out = {x: recipe.count(x) - contents.count(x) for x in set(recipe) | set(contents)}
            return None if min(out.values(), default=0) < 0 else {x: n for x, n in out.items() if n > 0}

        usable = sorted((r for r in self.recipes if set(r) <= available), key=lambda r: (-score(r), r))
        best = usable[0] if usable else ()
        missing: dict[tuple[int, int], dict[str, int]] = {}
        for p in self.pots:
            if self.pot_state(p)[0] in ("cooking", "ready"):
                continue
            contents = self.pot_contents(p)
            fits = [(r, m) for r in usable if (m := lacks(r, contents)) is not None]
            if fits:
                missing[p] = fits[0][1]
            elif self.auto_cook and available:
                missing[p] = {sorted(available)[0]: 3 - len(contents)}  # no order matches: fill up, it cooks anyway
            else:
                missing[p] = {}
        return best, missing

    def ascii(self) -> str:
        """The grid as text: terrain letters (X counter, P pot, O onion, T tomato, D dishes, S serving), chefs as
        their index with an arrow for facing, pot contents and counter items in a legend."""
        grid = [list(row) for row in self.mdp.terrain_mtx]
        arrows = {(0, -1): "^", (0, 1): "v", (1, 0): ">", (-1, 0): "<"}
        legend = []
        for k, player in enumerate(self.state.players):
            x, y = player.position
            grid[y][x] = str(k)
            legend.append(f"chef{k} {arrows[tuple(player.orientation)]} holding {_item(player.held_object)}")
        for k, pos in enumerate(self.pots):
            status, n = self.pot_state(pos)
            legend.append(f"pot{k} {status} {n}")
        for pos, obj in sorted(self.state.objects.items()):
            if pos not in self.pots:
                legend.append(f"{_item(obj)} on {pos}")
        head = f"{self.layout}  t={self.tick}/{self.horizon}  soups={self.delivered}"
        return "\n".join([head, *("".join(row) for row in grid), *legend])

    def frame(self, cell: int = 24) -> np.ndarray:
        """An RGB picture of the state, ``cell`` pixels per grid cell (for GIFs)."""
        colors = {
            "X": (150, 120, 90),
            "P": (70, 70, 70),
            "O": (240, 200, 60),
            "T": (220, 60, 50),
            "D": (230, 230, 230),
            "S": (90, 180, 90),
            " ": (245, 240, 225),
        }
        items = {"onion": (240, 200, 60), "tomato": (220, 60, 50), "dish": (255, 255, 255), "soup": (200, 120, 40)}
        terrain = self.mdp.terrain_mtx
        img = np.zeros((len(terrain) * cell, len(terrain[0]) * cell, 3), dtype=np.uint8)

        def fill(x: int, y: int, color: tuple[int, int, int], margin: int = 0) -> None:
            img[y * cell + margin : (y + 1) * cell - margin, x * cell + margin : (x + 1) * cell - margin] = color

        for y, row in enumerate(terrain):
            for x, ch in enumerate(row):
                fill(x, y, colors.get(ch, colors[" "]))
        for pos, obj in self.state.objects.items():
            fill(pos[0], pos[1], items.get(_item(obj), (0, 0, 0)), cell // 3)
        for k, player in enumerate(self.state.players):
            x, y = player.position
            fill(x, y, ((40, 90, 220), (220, 60, 160))[k % 2], cell // 6)
            if player.held_object is not None:
                fill(x, y, items.get(_item(player.held_object), (0, 0, 0)), cell // 3)
        return img


class OvercookedWorld(World):
    """The world contract over a :class:`Kitchen` (see the module docstring for facts and actions)."""

    def __init__(self, layout: str = "cramped_room", horizon: int = HORIZON, seed: int = 0) -> None:
        self.kitchen = Kitchen(layout, horizon)
        self.seed = seed
        self._pending: dict[str, str] = {}

    def reset(self, seed: int = 0) -> None:
        self.seed = seed
        self.kitchen.reset()
        self._pending = {}

    def facts(self) -> frozenset[Atom]:
        k = self.kitchen
        out = {Atom("holding", (f"chef{i}", _item(p.held_object))) for i, p in enumerate(k.state.players)}
        for i, pos in enumerate(k.pots):
            status, n = k.pot_state(pos)
            out.add(Atom("pot_state", (f"pot{i}", status, n)))
            contents = k.pot_contents(pos)
            for item in sorted(set(contents)):
                out.add(Atom("pot_contents", (f"pot{i}", item, contents.count(item))))
        for i, pos in enumerate(k.counters):
            obj = k.state.objects.get(pos)
            if obj is not None:
                out.add(Atom("on_counter", (f"counter{i}", _item(obj))))
        out.add(Atom("delivered", (k.delivered,)))
        return frozenset(out)

    def objects(self) -> dict[str, ObjectInfo]:
        k, mdp = self.kitchen, self.kitchen.mdp
        out: dict[str, ObjectInfo] = {}
        groups = {
            "pot": k.pots,
            "counter": k.counters,
            "onion_dispenser": mdp.get_onion_dispenser_locations(),
            "tomato_dispenser": mdp.get_tomato_dispenser_locations(),
            "dish_dispenser": mdp.get_dish_dispenser_locations(),
            "serving": mdp.get_serving_locations(),
        }
        for kind, cells in groups.items():
            for i, (x, y) in enumerate(cells):
                out[f"{kind}{i}"] = ObjectInfo(
                    id=f"{kind}{i}", type=kind, position=(float(x), float(y), 0.0), movable=False
                )
        return out

    def agents(self) -> list[str]:
        return list(AGENTS)

    def render(self) -> np.ndarray:
        return self.kitchen.frame()

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        index = self._index(agent)
        planes = self.kitchen.mdp.lossless_state_encoding(self.kitchen.state)[index]
        return {"policy": np.asarray(planes, dtype=np.float32).ravel()}

    def apply(self, agent: str, action: Mapping[str, Any] | str) -> None:
        self._index(agent)
        name = action.get("move") if isinstance(action, Mapping) else action
        if name not in _MOVES:
            raise WorldError(
                f"action for {agent} must be one of {list(ACTION_NAMES)} (or {{'move': name}}); got {action!r}"
            )
        self._pending[agent] = str(name)

    def advance(self) -> None:
        joint = (self._pending.get("chef0", "stay"), self._pending.get("chef1", "stay"))
        self._pending = {}
        if not self.kitchen.done:
            self.kitchen.step(joint)

    def time(self) -> float:
        return float(self.kitchen.tick)

    def close(self) -> None:
        pass

    @staticmethod
    def _index(agent: str) -> int:
        if agent not in AGENTS:
            raise WorldError(f"agent {agent!r} is unknown; this world has agents {list(AGENTS)}")
        return AGENTS.index(agent)


class OvercookedParallelEnv:
    """Two chefs in the PettingZoo parallel convention: ``reset(seed, options) -> (observations, infos)``,
    ``step(actions) -> (observations, rewards, terminations, truncations, infos)``, each a dict keyed by agent name;
    actions are indices into :data:`ACTION_NAMES`; observations the package's lossless grid encoding, flattened.
    Rewards are the shared delivery reward (both chefs get the team's score). An episode ends by truncation at the
    horizon, after which ``agents`` is empty until the next reset."""

    metadata: ClassVar[dict[str, Any]] = {"name": "ember_overcooked_v0", "render_modes": ["ansi", "rgb_array"]}

    def __init__(self, layout: str = "cramped_room", horizon: int = HORIZON, render_mode: str | None = None) -> None:
        self.kitchen = Kitchen(layout, horizon)
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.render_mode = render_mode
        size = int(np.prod(self.kitchen.mdp.lossless_state_encoding_shape))
        self._obs_space = gym.spaces.Box(0.0, float(horizon + COOK_TIME), (size,), np.float32)
        self._act_space = gym.spaces.Discrete(len(ACTION_NAMES))

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return self._act_space

    def _observations(self) -> dict[str, np.ndarray]:
        planes = self.kitchen.mdp.lossless_state_encoding(self.kitchen.state)
        return {a: np.asarray(planes[i], dtype=np.float32).ravel() for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self.kitchen.reset()
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: Mapping[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise WorldError("the episode is over; call reset() before step()")
        joint = []
        for agent in self.possible_agents:
            index = actions.get(agent, ACTION_NAMES.index("stay"))
            if not isinstance(index, int | np.integer) or not 0 <= int(index) < len(ACTION_NAMES):
                raise WorldError(f"actions[{agent!r}] must be an index in 0..{len(ACTION_NAMES) - 1}; got {index!r}")
            joint.append(ACTION_NAMES[int(index)])
        rewards, _ = self.kitchen.step((joint[0], joint[1]))
        team = float(sum(rewards))
        done = self.kitchen.done
        obs = self._observations()
        out = (
            obs,
            {a: team for a in self.possible_agents},
            {a: False for a in self.possible_agents},
            {a: done for a in self.possible_agents},
            {a: {"delivered": self.kitchen.delivered} for a in self.possible_agents},
        )
        if done:
            self.agents = []
        return out

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "ansi":
            return self.kitchen.ascii()
        if self.render_mode == "rgb_array":
            return self.kitchen.frame()
        return None

    def close(self) -> None:
        pass

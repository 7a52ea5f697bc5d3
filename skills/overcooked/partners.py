"""Overcooked partners (low-level policies for one chef): stay, random, the classic greedy "human model", and a
learned one (a PPO policy trained in self-play with ``ember train task=overcooked_selfplay``).

Every partner maps ``(kitchen, chef index)`` to an action name from ``ACTION_NAMES``. Motion is a breadth-first
shortest path over the floor cells that treats the other chef as an obstacle; when that chef blocks every path, the
path through it is taken, and a chef that has not moved for 3 ticks steps aside at random (this breaks head-on
deadlocks in corridors).
"""

from __future__ import annotations

import pickle
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
    """The classic greedy human model, with the layout's recipes: holding soup -> serve it; holding a dish -> the
    nearest ready (else cooking) pot; holding an ingredient -> the nearest pot it reaches whose recipe still lacks it
    (none: where pots start by themselves, the classic model's wait at a pot; else a free counter it reaches, so it
    spoils no soup); empty-handed -> a pot that holds a whole recipe and waits to be started, else a dish when a pot
    is cooking or ready and the other chef holds no dish, else an ingredient the pots it reaches lack (from a counter
    if one lies there, else a dispenser). Pots are filled towards :meth:`Kitchen.recipe_plan`'s recipes. On the
    classic layouts (three-onion soups, pots that start by themselves) it plays as the overcooked-ai greedy model."""

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
        # Ingredients and empty hands: the recipes and what this chef reaches (a flood fill a tick, so only here).
        region = reachable_cells(kitchen, me)

        def near(cells: Iterable[Any]) -> list[tuple[int, int]]:
            return [(int(x), int(y)) for x, y in cells if any((x + dx, y + dy) in region for dx, dy in _STEPS)]

        dispensers = {
            "onion": [tuple(c) for c in mdp.get_onion_dispenser_locations()],
            "tomato": [tuple(c) for c in mdp.get_tomato_dispenser_locations()],
        }
        best, missing = kitchen.recipe_plan({x for x, cells in dispensers.items() if cells})
        if held_name in dispensers:
            needy = [p for p, lack in missing.items() if lack.get(held_name, 0) > 0]
            busy = [p for p, s in pots.items() if s in ("cooking", "ready")]
            if kitchen.auto_cook:  # the classic model: it waits at a pot (an unreachable one too)
                return near(needy) or needy or busy or list(pots)
            free = near(c for c in kitchen.counters if c not in state.objects)
            return near(needy) or free or busy or list(pots)  # a counter rather than a soup it would spoil
        if not kitchen.auto_cook:
            whole = near(p for p, s in pots.items() if s == "filling" and not missing.get(p))
            if whole:
                return whole
        other = state.players[1 - me].held_object
        if any(s in ("cooking", "ready") for s in pots.values()) and (other is None or other.name != "dish"):
            return _counter_items(kitchen, "dish") + list(mdp.get_dish_dispenser_locations())
        mine = {p: lack for p, lack in missing.items() if near([p])} or missing  # pots it reaches, else all
        lacking = {x: sum(lack.get(x, 0) for lack in mine.values()) for x in dispensers}
        wanted = [x for x in sorted(lacking, key=lambda x: -lacking[x]) if lacking[x] > 0] or list(dict.fromkeys(best))
        cells = near(c for x in wanted for c in _counter_items(kitchen, x))
        return cells or [c for x in wanted for c in dispensers[x]] or dispensers["onion"] + dispensers["tomato"]


def _counter_items(kitchen: Kitchen, name: str) -> list[Any]:
    return [pos for pos, obj in kitchen.state.objects.items() if pos in kitchen.counters and obj.name == name]


CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""Committed learned partners: ``checkpoints/ppo_selfplay_<layout>.pt``."""


class PolicyPartner(Partner):
    """A learned partner: the categorical actor of a PPO run on ``overcooked_selfplay`` (its ``partner.pt``), fed the
    kitchen's features from its own seat. It samples its action (``sample=False``: the most likely one); sampling
    keeps a self-play policy from freezing in the states it never met beside itself.

    Args:
        path: a ``partner.pt`` written by ``ember train task=overcooked_selfplay``.
        seed: seeds the sampling.
        sample: sample from the policy instead of taking its most likely action.
    """

    def __init__(self, path: str | Path, seed: int = 0, sample: bool = True) -> None:
        super().__init__(seed)
        from ember.skills.learning.networks import CategoricalActor

        try:
            self.meta = torch.load(Path(path), map_location="cpu", weights_only=True)
            self.actor = CategoricalActor(
                self.meta["policy_dim"], len(ACTION_NAMES), tuple(self.meta["hidden"]), self.meta["activation"]
            )
            self.actor.load_state_dict(self.meta["actor"])
        except (OSError, RuntimeError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as err:
            raise ValueError(
                f"learned partner {path}: not a partner.pt of `ember train task=overcooked_selfplay` "
                f"({type(err).__name__}: {err}); train one or pick a committed one from {CHECKPOINTS}"
            ) from err
        self.mean, self.std, self.clip = self.meta["norm_mean"], self.meta["norm_std"], float(self.meta["norm_clip"])
        self.sample = sample
        self.generator = torch.Generator().manual_seed(seed)
        self._features: Any = None
        self._kitchen: Kitchen | None = None

    def reset(self) -> None:
        self._kitchen = None

    def act(self, kitchen: Kitchen, me: int) -> str:
        from ember.sims.overcooked.vec_env import KitchenFeatures

        if kitchen.layout != self.meta["layout"]:
            raise ValueError(
                f"learned partner trained on layout {self.meta['layout']!r} cannot play {kitchen.layout!r}; "
                f"train one there with `ember train task=overcooked_selfplay task.layout={kitchen.layout}`"
            )
        if self._kitchen is not kitchen:
            self._kitchen, self._features = kitchen, KitchenFeatures(kitchen)
        obs = torch.as_tensor(self._features(me)).unsqueeze(0)
        with torch.no_grad():
            dist = self.actor.distribution(((obs - self.mean) / self.std).clamp(-self.clip, self.clip))
            index = torch.multinomial(dist.probs, 1, generator=self.generator) if self.sample else dist.probs.argmax()
        return ACTION_NAMES[int(index.reshape(-1)[0])]


def save_partner(algo: Any, layout: str, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write a PPO (``discrete=True``) actor and its observation normalizer as a ``partner.pt`` (atomically)."""
    import io

    from ember.sims.atomic import atomic_write_bytes

    first = algo.actor.logits[0]
    norm = algo.policy_norm
    dim = first.in_features
    state = {
        **meta,
        "layout": layout,
        "policy_dim": dim,
        "hidden": [m.out_features for m in algo.actor.logits if isinstance(m, torch.nn.Linear)][:-1],
        "activation": meta.get("activation", "elu"),
        "actor": algo.actor.state_dict(),
        "norm_mean": norm.mean.clone() if norm is not None else torch.zeros(dim),
        "norm_std": (norm.var + norm.eps).sqrt() if norm is not None else torch.ones(dim),
        "norm_clip": float(norm.clip) if norm is not None else float("inf"),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


PARTNERS: dict[str, type[Partner]] = {"stay": StayPartner, "random": RandomPartner, "greedy": GreedyPartner}


def make_partner(name: str, seed: int = 0, layout: str | None = None) -> Partner:
    """A partner by name: ``stay``, ``random``, ``greedy``, ``ppo`` (the committed self-play partner of ``layout``)
    or a path to a ``partner.pt``."""
    if name in PARTNERS:
        return PARTNERS[name](seed)
    if name == "ppo":
        path = CHECKPOINTS / f"ppo_selfplay_{layout}.pt"
        if not path.is_file():
            have = sorted(p.stem.removeprefix("ppo_selfplay_") for p in CHECKPOINTS.glob("ppo_selfplay_*.pt"))
            raise ValueError(
                f"partner='ppo': no committed self-play partner for layout {layout!r} (there are: {have}); train one "
                f"with `ember train task=overcooked_selfplay task.layout={layout}` and pass its partner.pt path"
            )
        return PolicyPartner(path, seed)
    if name.endswith(".pt"):
        partner = PolicyPartner(name, seed)
        trained = partner.meta.get("layout")
        if layout is not None and trained is not None and trained != layout:  # refused now, not mid-episode
            raise ValueError(
                f"learned partner {name} was trained on layout {trained!r} and cannot play {layout!r}; train one "
                f"there with `ember train task=overcooked_selfplay task.layout={layout}`"
            )
        return partner
    raise ValueError(f"partner {name!r} is unknown; choose one of {[*sorted(PARTNERS), 'ppo']} or a partner.pt path")


def partner_names() -> list[str]:
    return [*sorted(PARTNERS), "ppo"]


def partner_factory(name: str, layout: str) -> Callable[[int], Partner]:
    """``seed -> partner`` for :class:`ember.sims.overcooked.vec_env.OvercookedVecEnv` (checked once, here)."""
    make_partner(name, 0, layout)
    return lambda seed: make_partner(name, seed, layout)


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
    """Floor cells chef ``me`` can walk to. The other chef is ignored (it moves) unless the floor is a single
    one-cell-wide path (no branch, no loop: ``m_shaped_s``), where the two can never pass each other: then the cells
    beyond it are out of reach."""
    terrain = kitchen.mdp.terrain_mtx
    start = tuple(kitchen.state.players[me].position)

    def flood(blocked: tuple[int, int] | None) -> set[tuple[int, int]]:
        seen = {start}
        queue = deque([start])
        while queue:
            x, y = queue.popleft()
            for dx, dy in _STEPS:
                nxt = (x + dx, y + dy)
                if nxt not in seen and nxt != blocked and 0 <= nxt[1] < len(terrain) and 0 <= nxt[0] < len(terrain[0]):
                    if terrain[nxt[1]][nxt[0]] == " ":
                        seen.add(nxt)
                        queue.append(nxt)
        return seen

    cells = flood(None)
    other = tuple(kitchen.state.players[1 - me].position)
    if other in cells and not _can_pass(cells):
        return flood(other)
    return cells


def _can_pass(cells: set[tuple[int, int]]) -> bool:
    """Whether two chefs on these connected floor cells can swap places: some cell has three or more floor neighbours
    (a siding to step into) or the cells close a loop; a bare path cannot."""
    degrees = [sum((x + dx, y + dy) in cells for dx, dy in _STEPS) for x, y in cells]
    return max(degrees, default=0) >= 3 or sum(degrees) // 2 >= len(cells)

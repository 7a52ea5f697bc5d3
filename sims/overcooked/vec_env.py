"""Overcooked kitchens as a batched env for learning (contract 1), with the partner inside the env.

Two ways to fill the batch:

- ``partner="self"`` (self-play): every kitchen gives two rows, row ``2k`` is chef0 of kitchen ``k`` and row
  ``2k + 1`` its chef1, so one policy plays both seats; ``num_envs`` must be even.
- ``partner=factory``: ``factory(seed)`` returns a partner object (``reset()``, ``act(kitchen, me) -> action name``;
  ``ember.skills.overcooked.partners`` has greedy, random, stay and learned ones) that plays the other chef inside
  the env; each row is one kitchen, the learner sits in seat ``seat`` (``"both"``: even rows seat 0, odd rows seat 1).

Actions are ``(num_envs,)`` int64 indices into :data:`ACTION_NAMES` (``single_action_space`` is ``Discrete(6)``).
Observations (``policy``) are :class:`KitchenFeatures` from the row's chef's point of view; the ``critic`` group adds
the time left in the episode. The reward is shared by both chefs: soups delivered this tick plus, while
``shaping_steps`` has not passed, the package's shaped rewards (3 per onion potted, 3 per dish picked up, 5 per soup
picked up, in soups of 20) weighted by a factor that falls linearly from 1 to 0 over ``shaping_steps`` env steps (the
annealed shaping of the Overcooked-AI baselines). Episodes last the horizon (400 ticks) and end by truncation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from ember.sims.env import Obs, StepResult, VecEnv
from ember.sims.overcooked.kitchen import ACTION_NAMES, DELIVERY_REWARD, HORIZON, Kitchen

_ORIENT = {(0, -1): 0, (0, 1): 1, (1, 0): 2, (-1, 0): 3}
_ITEMS = ("onion", "tomato", "dish", "soup")


class PartnerLike(Protocol):
    def reset(self) -> None: ...

    def act(self, kitchen: Kitchen, me: int) -> str: ...


class KitchenFeatures:
    """A fixed-size feature vector of a kitchen from one chef's point of view (the same layout, any state).

    For the chef, then the other chef: cell one-hot (width x height), facing one-hot (4), held item one-hot (none,
    onion, tomato, dish, soup); the other chef's offset from this one; for this chef, the offset (dx / width,
    dy / height) to the nearest onion dispenser, tomato dispenser, dish dispenser and serving window and to every pot;
    per pot: ingredients / 3, cook ticks left / 20, ready, empty; per counter: the item on it (one-hot of 4).
    """

    def __init__(self, kitchen: Kitchen) -> None:
        mdp = kitchen.mdp
        self.kitchen = kitchen
        self.height, self.width = len(mdp.terrain_mtx), len(mdp.terrain_mtx[0])
        self.pots, self.counters = kitchen.pots, kitchen.counters
        self.counter_index = {pos: i for i, pos in enumerate(self.counters)}
        cells = [(x, y) for y in range(self.height) for x in range(self.width)]
        groups = [
            list(mdp.get_onion_dispenser_locations()),
            list(mdp.get_tomato_dispenser_locations()),
            list(mdp.get_dish_dispenser_locations()),
            list(mdp.get_serving_locations()),
            *[[pot] for pot in self.pots],
        ]
        # Offset from every cell to the nearest feature of each group (Manhattan), looked up per step.
        self.offsets: dict[tuple[int, int], np.ndarray] = {}
        for x, y in cells:
            row = []
            for group in groups:
                if not group:
                    row += [0.0, 0.0]
                    continue
                gx, gy = min(group, key=lambda g: abs(g[0] - x) + abs(g[1] - y))
                row += [(gx - x) / self.width, (gy - y) / self.height]
            self.offsets[(x, y)] = np.asarray(row, dtype=np.float32)
        self.chef_size = self.width * self.height + 4 + 5
        self.size = 2 * self.chef_size + 2 + len(groups) * 2 + 4 * len(self.pots) + 4 * len(self.counters)

    def _chef(self, out: np.ndarray, at: int, player: Any) -> None:
        x, y = player.position
        out[at + y * self.width + x] = 1.0
        out[at + self.width * self.height + _ORIENT[tuple(player.orientation)]] = 1.0
        held = player.held_object
        out[at + self.width * self.height + 4 + (0 if held is None else 1 + _ITEMS.index(held.name))] = 1.0

    def __call__(self, me: int) -> np.ndarray:
        state = self.kitchen.state
        out = np.zeros(self.size, dtype=np.float32)
        mine, other = state.players[me], state.players[1 - me]
        self._chef(out, 0, mine)
        self._chef(out, self.chef_size, other)
        at = 2 * self.chef_size
        out[at] = (other.position[0] - mine.position[0]) / self.width
        out[at + 1] = (other.position[1] - mine.position[1]) / self.height
        at += 2
        offsets = self.offsets[tuple(mine.position)]
        out[at : at + len(offsets)] = offsets
        at += len(offsets)
        for pos in self.pots:
            status, n = self.kitchen.pot_state(pos)
            if status == "filling":
                out[at] = n / 3
            elif status == "cooking":
                out[at], out[at + 1] = 1.0, n / 20
            elif status == "ready":
                out[at], out[at + 2] = 1.0, 1.0
            else:
                out[at + 3] = 1.0
            at += 4
        for pos, obj in state.objects.items():
            index = self.counter_index.get(pos)
            if index is not None and obj.name in _ITEMS:
                out[at + 4 * index + _ITEMS.index(obj.name)] = 1.0
        return out


class OvercookedVecEnv(VecEnv):
    """Batched Overcooked kitchens (see the module docstring).

    Args:
        layout: a layout name (``ember.sims.overcooked.kitchen.layouts()``).
        num_envs: rows of the batch (kitchens x 2 in self-play).
        partner: ``"self"`` or a factory ``seed -> partner``.
        seat: the learner's chef with a partner inside: 0, 1 or ``"both"``.
        shaping_steps: env steps (rows x ticks) over which the shaped-reward weight falls from 1 to 0; 0: sparse only.
        horizon: ticks per episode.
        seed: seeds the partners.
        device: torch device of the tensors.
    """

    def __init__(
        self,
        layout: str = "cramped_room",
        num_envs: int = 32,
        partner: str | Callable[[int], PartnerLike] = "self",
        seat: int | str = "both",
        shaping_steps: int = 0,
        horizon: int = HORIZON,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.self_play = partner == "self"
        if isinstance(partner, str) and not self.self_play:
            raise ValueError(
                f"partner={partner!r}: the env takes 'self' (self-play) or a factory seed -> partner; build named "
                "partners with ember.skills.overcooked.partners.partner_factory"
            )
        if self.self_play and num_envs % 2:
            raise ValueError(f"num_envs={num_envs}: self-play fills two rows per kitchen, so it must be even")
        if seat not in (0, 1, "both"):
            raise ValueError(f"seat={seat!r} must be 0, 1 or 'both'")
        if shaping_steps < 0:
            raise ValueError(f"shaping_steps={shaping_steps} must be >= 0 (0: sparse reward only)")
        self.layout, self.num_envs, self.device = layout, num_envs, torch.device(device)
        self.max_episode_length, self.shaping_steps = horizon, shaping_steps
        n_kitchens = num_envs // 2 if self.self_play else num_envs
        self.kitchens = [Kitchen(layout, horizon) for _ in range(n_kitchens)]
        self.features = [KitchenFeatures(k) for k in self.kitchens]
        if self.self_play:
            self.rows = [(k, s) for k in range(n_kitchens) for s in (0, 1)]
            self.partners: list[PartnerLike] = []
        else:
            assert callable(partner)
            self.rows = [(k, k % 2 if seat == "both" else int(seat)) for k in range(n_kitchens)]
            self.partners = [partner(seed + k) for k in range(n_kitchens)]
        size = self.features[0].size
        self.single_observation_space = gym.spaces.Dict(
            {
                "policy": gym.spaces.Box(-1.0, 1.0, (size,), np.float32),
                "critic": gym.spaces.Box(-1.0, 1.0, (size + 1,), np.float32),
            }
        )
        self.single_action_space = gym.spaces.Discrete(len(ACTION_NAMES))  # type: ignore[assignment]
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.int64)
        self.total_steps = 0
        self._soups: list[int] = []

    # ------------------------------------------------------------------ helpers
    def shaping_weight(self) -> float:
        if self.shaping_steps <= 0:
            return 0.0
        return max(0.0, 1.0 - self.total_steps / self.shaping_steps)

    def _observe(self) -> Obs:
        policy = np.stack([self.features[k](seat) for k, seat in self.rows])
        left = np.array([[1.0 - self.kitchens[k].tick / self.max_episode_length] for k, _ in self.rows], np.float32)
        return {
            "policy": torch.as_tensor(policy, device=self.device),
            "critic": torch.as_tensor(np.concatenate([policy, left], axis=1), device=self.device),
        }

    # ------------------------------------------------------------------ contract
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        for kitchen in self.kitchens:
            kitchen.reset()
        for k, partner in enumerate(self.partners):
            if seed is not None and hasattr(partner, "rng"):
                partner.rng = np.random.default_rng(seed + k)
            partner.reset()
        self.episode_length_buf.zero_()
        return self._observe(), {"log": {}}

    def step(self, actions: torch.Tensor) -> StepResult:
        acts = torch.as_tensor(actions).reshape(-1).tolist()
        if len(acts) != self.num_envs:
            raise ValueError(f"actions must have {self.num_envs} entries (one per row); got {len(acts)}")
        if any(not 0 <= int(a) < len(ACTION_NAMES) for a in acts):
            raise ValueError(f"actions must be indices in 0..{len(ACTION_NAMES) - 1}; got {sorted(set(acts))}")
        weight = self.shaping_weight()
        team = np.zeros(len(self.kitchens), dtype=np.float32)
        if self.self_play:
            for k, kitchen in enumerate(self.kitchens):
                joint = (ACTION_NAMES[int(acts[2 * k])], ACTION_NAMES[int(acts[2 * k + 1])])
                team[k] = self._tick(kitchen, joint, weight)
        else:
            for k, kitchen in enumerate(self.kitchens):
                seat = self.rows[k][1]
                mine, theirs = ACTION_NAMES[int(acts[k])], self.partners[k].act(kitchen, 1 - seat)
                team[k] = self._tick(kitchen, (mine, theirs) if seat == 0 else (theirs, mine), weight)
        reward = torch.as_tensor(np.array([team[k] for k, _ in self.rows]), device=self.device)
        self.episode_length_buf += 1
        self.total_steps += self.num_envs
        done = torch.as_tensor([self.kitchens[k].done for k, _ in self.rows], device=self.device)
        log: dict[str, float] = {"shaping_weight": weight}
        obs = self._observe()
        extras: dict[str, Any] = {"time_outs": done.clone(), "final_obs": obs, "log": log}
        if done.any():
            finished = [k for k, kitchen in enumerate(self.kitchens) if kitchen.done]
            log["soups"] = float(np.mean([self.kitchens[k].delivered for k in finished]))
            for k in finished:
                self.kitchens[k].reset()
                if self.partners:
                    self.partners[k].reset()
            self.episode_length_buf[done] = 0
            obs = self._observe()
        return obs, reward, torch.zeros_like(done), done, extras

    @staticmethod
    def _tick(kitchen: Kitchen, joint: tuple[str, str], weight: float) -> float:
        rewards, info = kitchen.step(joint)
        shaped = sum(info["shaped_reward_by_agent"]) if weight > 0 else 0.0
        return (sum(rewards) + weight * shaped) / DELIVERY_REWARD

    # ------------------------------------------------------------------ resume
    def save_state(self) -> dict[str, Any]:
        """Kitchens' states and the shaping clock (a resumed run continues the same episodes)."""
        return {
            "states": [(k.state.deepcopy(), k.tick, k.delivered, k.score) for k in self.kitchens],
            "total_steps": self.total_steps,
            "episode_length_buf": self.episode_length_buf.clone(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for kitchen, (s, tick, delivered, score) in zip(self.kitchens, state["states"], strict=True):
            kitchen.state, kitchen.tick, kitchen.delivered, kitchen.score = s.deepcopy(), tick, delivered, score
        self.total_steps = state["total_steps"]
        self.episode_length_buf = state["episode_length_buf"].clone()


def soups_per_episode(env: OvercookedVecEnv, act: Callable[[Obs], torch.Tensor], seed: int = 0) -> float:
    """Mean soups delivered in one episode of every kitchen of ``env`` with ``act`` choosing the rows' actions."""
    obs, _ = env.reset(seed=seed)
    extras: dict[str, Any] = {}
    for _ in range(env.max_episode_length):  # every kitchen starts at tick 0, so all finish on the last step
        obs, _, _, _, extras = env.step(act(obs))
    return float(extras["log"]["soups"])

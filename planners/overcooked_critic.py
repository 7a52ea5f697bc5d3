"""A joint-skill critic for Overcooked, after ReAd: trained by regression on rollouts, it scores a proposed skill for
one chef given the kitchen state and the partner's current skill; its advantage (the score minus the mean over every
skill that chef could take) tells an LLM planner when to revise a proposal (:class:`ReAdPlanner`).

Features (one-hot unless said): each pot's status (empty, filling, cooking, ready) and fill / time left (scaled),
what each chef holds, the proposed skill, the partner's skill. Target: soups delivered within the next ``horizon``
ticks after the decision. Model: a small MLP fitted with Adam on mean squared error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ember.planners.overcooked import CooperativePlanner, run_episode
from ember.sims.overcooked.kitchen import OvercookedWorld
from ember.skills.library import SkillLibrary

_STATUS = ("empty", "filling", "cooking", "ready")
_ITEMS = ("none", "onion", "tomato", "dish", "soup")


def _skills(library: SkillLibrary) -> list[str]:
    return library.names()


def features(world: OvercookedWorld, me: int, skill: str, partner_skill: str | None, names: list[str]) -> np.ndarray:
    k = world.kitchen
    out: list[float] = []
    for pot in k.pots[:2]:
        status, n = k.pot_state(pot)
        out += [float(status == s) for s in _STATUS] + [n / 20.0]
    out += [0.0] * (5 * (2 - min(2, len(k.pots))))
    for chef in (me, 1 - me):
        held = k.state.players[chef].held_object
        name = "none" if held is None else held.name
        out += [float(name == i) for i in _ITEMS]
    out += [float(skill == s) for s in names]
    out += [float(partner_skill == s) for s in names] + [float(partner_skill is None)]
    return np.asarray(out, dtype=np.float32)


class JointCritic:
    """Q(state, my skill, partner skill) ~ soups delivered within ``horizon`` ticks."""

    def __init__(self, skills: SkillLibrary, horizon: int = 60, hidden: int = 64, seed: int = 0) -> None:
        self.skills, self.horizon = skills, horizon
        self.names = _skills(skills)
        torch.manual_seed(seed)
        size = 2 * 5 + 2 * len(_ITEMS) + 2 * len(self.names) + 1
        self.net = nn.Sequential(
            nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def q(self, world: OvercookedWorld, me: int, skill: str, partner_skill: str | None) -> float:
        x = torch.as_tensor(features(world, me, skill, partner_skill, self.names))[None]
        with torch.no_grad():
            return float(self.net(x)[0, 0])

    def advantage(self, world: OvercookedWorld, me: int, skill: str, partner_skill: str | None) -> float:
        scores = {s: self.q(world, me, s, partner_skill) for s in self.names}
        return scores[skill] - float(np.mean(list(scores.values())))

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int = 1500, lr: float = 3e-3) -> float:
        """Regress ``y`` on ``x``; returns the final mean squared error."""
        xs, ys = torch.as_tensor(x), torch.as_tensor(y).reshape(-1, 1)
        optim = torch.optim.Adam(self.net.parameters(), lr=lr)
        loss = torch.zeros(())
        for _ in range(steps):
            idx = torch.randint(0, len(xs), (min(256, len(xs)),))
            loss = ((self.net(xs[idx]) - ys[idx]) ** 2).mean()
            optim.zero_grad()
            loss.backward()
            optim.step()
        with torch.no_grad():
            return float(((self.net(xs) - ys) ** 2).mean())


class _Exploring:
    """The cooperative planner with a random skill instead of its own choice at rate ``epsilon`` (rollout coverage);
    it records every decision's features."""

    def __init__(self, skills: SkillLibrary, critic: JointCritic, epsilon: float, rng: np.random.Generator) -> None:
        self.skills, self.critic, self.epsilon, self.rng = skills, critic, epsilon, rng
        self.base = CooperativePlanner(skills)
        self.records: list[tuple[int, np.ndarray]] = []

    def decide(self, world: OvercookedWorld, chef: int, other: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
        plan = self.base.decide(world, chef, other)
        node = plan["root"]
        if self.rng.random() < self.epsilon:
            options = candidate_skills(world, chef, self.skills)
            node["skill"], node["args"] = options[int(self.rng.integers(0, len(options)))]
        partner = other[0] if other else None
        self.records.append((world.kitchen.tick, features(world, chef, node["skill"], partner, self.critic.names)))
        return plan


def candidate_skills(world: OvercookedWorld, chef: int, skills: SkillLibrary) -> list[tuple[str, dict[str, Any]]]:
    """Skill choices whose arguments fit the world (what exploration and the erring stand-in draw from)."""
    objects = world.objects()
    pots = [n for n, o in objects.items() if o.type == "pot"]
    counters = [n for n, o in objects.items() if o.type == "counter"]
    mdp = world.kitchen.mdp
    ingredients = [
        x
        for x, cells in (
            ("onion", mdp.get_onion_dispenser_locations()),
            ("tomato", mdp.get_tomato_dispenser_locations()),
        )
        if cells
    ]
    out: list[tuple[str, dict[str, Any]]] = [("fetch", {"ingredient": x}) for x in ingredients]
    out += [("fetch_dish", {}), ("deliver", {})]
    out += [("put_in_pot", {"pot": p}) for p in pots] + [("pick_up_soup", {"pot": p}) for p in pots]
    if not world.kitchen.auto_cook:
        out += [("start_cooking", {"pot": p}) for p in pots]
    out += [("wait", {"ticks": 1})]
    if counters:
        out += [("place_on_counter", {"cell": counters[0]})]
    return [(name, args) for name, args in out if not skills[name].check_args(args, objects)]


def train_critic(
    layout: str, skills: SkillLibrary, episodes: int = 12, epsilon: float = 0.3, horizon: int = 60, seed: int = 0
) -> tuple[JointCritic, dict[str, float]]:
    """Roll the exploring cooperative planner out on ``layout`` and fit the critic; returns it and fit statistics."""
    critic = JointCritic(skills, horizon=horizon, seed=seed)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for episode in range(episodes):
        world = OvercookedWorld(layout)
        explorer = _Exploring(skills, critic, epsilon, rng)
        deliveries: list[int] = []
        original = world.advance

        def advance(
            world: OvercookedWorld = world, original: Any = original, deliveries: list[int] = deliveries
        ) -> None:
            before = world.kitchen.delivered
            original()
            deliveries.extend([world.kitchen.tick] * (world.kitchen.delivered - before))

        world.advance = advance  # type: ignore[method-assign]
        run_episode(world, explorer, seed=seed + episode)
        ticks = np.asarray(deliveries)
        for tick, x in explorer.records:
            xs.append(x)
            ys.append(float(np.sum((ticks > tick) & (ticks <= tick + horizon))))
    x, y = np.stack(xs), np.asarray(ys, dtype=np.float32)
    mse = critic.fit(x, y)
    return critic, {"samples": float(len(y)), "target_mean": float(y.mean()), "target_var": float(y.var()), "mse": mse}


class ReAdPlanner:
    """ReAd-style refinement around an LLM planner: the model proposes; the critic's advantage for the proposal is
    computed; only when it is below ``threshold`` is the model asked to revise (told the score and the critic's best
    alternatives), up to ``max_revisions`` times. Exposes ``calls``/``fallbacks`` like the planner it wraps."""

    def __init__(self, llm: Any, critic: JointCritic, threshold: float = -0.05, max_revisions: int = 1) -> None:
        self.llm, self.critic, self.threshold, self.max_revisions = llm, critic, threshold, max_revisions
        self.skills = llm.skills
        self.revisions = 0

    @property
    def calls(self) -> int:
        return int(self.llm.calls)

    @property
    def fallbacks(self) -> int:
        return int(self.llm.fallbacks)

    def decide(self, world: OvercookedWorld, chef: int, other: tuple[str, dict[str, Any]] | None) -> dict[str, Any]:
        partner = other[0] if other else None
        plan = self.llm.decide(world, chef, other)
        for _ in range(self.max_revisions):
            skill = plan["root"]["skill"]
            score = self.critic.advantage(world, chef, skill, partner)
            if score >= self.threshold:
                break
            ranked = sorted(self.critic.names, key=lambda s: -self.critic.q(world, chef, s, partner))
            self.revisions += 1
            self.llm.pending_note = (
                f"A critic trained on rollouts scores your proposal {skill} at advantage {score:.2f} (below "
                f"{self.threshold}); its best-scoring skills here are {ranked[:3]}. Revise your choice."
            )
            plan = self.llm.decide(world, chef, other)
        return plan

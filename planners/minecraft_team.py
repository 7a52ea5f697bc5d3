"""Minecraft with several bots, after MindForge: the team planner that divides a goal among bots and hands the
results to a leader, each bot's beliefs about the others (from chat and observation), and the planner ``ember run``
uses (``MinecraftPlanner``: goal reading, team division, replanning from the facts, learned-skill reuse)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ember.planners.minecraft import (
    GoalItem,
    PlanningError,
    RecipePlanner,
    Step,
    action_node,
    goal_holder,
    inventory_of,
    near_of,
    parse_goal,
)
from ember.planners.minecraft_learned import SOLO, TEAM, actions, compatible, learn, replay
from ember.sims.minecraft.data import MinecraftData
from ember.sims.predicates import Atom, Literal

_SECONDS = {"explore": 25.0, "craft": 0.6, "place": 1.5, "give": 6.0, "chat": 0.1, "goto": 5.0, "wait_for": 0.0,
            "wait_near": 0.0}  # fmt: skip
"""Rough seconds per step, for dividing work (mine: per drop, by block hardness). Measured here: a log about 4 s
with the walk; a hand-over 1.5 s between neighbours, but 5-8 s once the helper has walked to another tree and
back — helping with 1 of 3 logs then loses time, so the estimate is the far case."""


class TeamPlanner:
    """Divides a team goal among bots (after MindForge: each bot takes a share, says what it took, and hands its
    results to the leader) and plans each share with the :class:`RecipePlanner`.

    The goal holds when the leader has every item. Work is cut into chunks (one crafted item, or an even share of a
    raw resource per bot) and each chunk goes to the bot that would finish it soonest given what it holds, what lies
    near it and the work it already took (longest chunks first). The plan is a parallel node with one sequence per
    bot: a chat line announcing its share (the others' beliefs), its steps, then ``give`` to the leader.

    Args:
        data: game data.
        leader: the bot that collects the results (default: the first bot).
    """

    def __init__(self, data: MinecraftData, leader: str | None = None) -> None:
        self.data = data
        self.recipes = RecipePlanner(data)
        self.leader = leader

    def goal_literals(self, goal: list[GoalItem], bots: list[str]) -> list[Literal]:
        """``has(holder, item, n)``: the holder a predicate goal names, else the leader."""
        return self.recipes.goal_literals(goal, goal_holder(goal) or self.leader or bots[0])

    def plan(
        self,
        goal: list[GoalItem],
        facts: frozenset[Atom],
        bots: list[str],
        requests: dict[str, dict[str, int]] | None = None,
    ) -> dict[str, Any]:
        """The team's tree. ``requests``: what bots asked for (``need: 3 oak_log`` in chat, as the others'
        beliefs hold it, :meth:`Beliefs.requests`); a bot left without a share that holds what one asked for hands
        it over first. A predicate goal naming another bot than the leader (``has(bot1, stick, 4)``) is gathered
        at that bot."""
        leader = self.leader or bots[0]
        named = goal_holder(goal)
        if named is not None and named != leader:
            return TeamPlanner(self.data, leader=named).plan(goal, facts, bots, requests)
        if leader not in bots:
            raise PlanningError(f"leader {leader!r} is not one of the bots {bots}")
        shares = self.divide(goal, facts, bots)
        planned = {bot: self.recipes.steps(items, facts, bot) for bot, items in shares.items() if items}
        helpers = self._helpers(planned, shares, facts, bots, requests or {})
        branches = []
        for bot in bots:
            items = shares.get(bot, [])
            if not items:
                continue
            said = ", ".join(f"{g.count} {g.item}" for g in items)
            children: list[dict[str, Any]] = [
                {"type": "action", "skill": "chat", "args": {"message": f"doing: {said}"}, "agent": bot}
            ]
            children += [{"type": "action", "skill": s.skill, "args": s.args, "agent": s.agent} for s in planned[bot]]
            if bot != leader:
                for g in items:
                    children.append(
                        {
                            "type": "action",
                            "skill": "give",
                            "args": {"item": g.item, "count": g.count, "player": leader},
                            "agent": bot,
                        }
                    )
            branches.append({"type": "sequence", "children": children})
        branches += helpers
        if not branches:  # the leader holds everything already: a tree that checks it and succeeds
            first = goal[0]
            return {"version": 1, "root": action_node(leader, "wait_for", item=first.item, count=first.count)}
        if len(branches) == 1:
            return {"version": 1, "root": branches[0]}
        return {"version": 1, "root": {"type": "parallel", "policy": "all", "children": branches}}

    def _helpers(
        self,
        planned: dict[str, list[Step]],
        shares: dict[str, list[GoalItem]],
        facts: frozenset[Atom],
        bots: list[str],
        requests: dict[str, dict[str, int]],
    ) -> list[dict[str, Any]]:
        """Bots left without a share work for another: for one that asked for something they hold (``requests``),
        else for the busiest, in whichever of three ways the estimated times say finishes sooner (or not at all
        when none helps):

        - *hand-over*: the helper gives what it holds that the other's steps would otherwise mine or craft; the
          other plans with it and waits for it (``wait_for``) before its first craft;
        - *station*: the helper makes the station the busy bot would craft and place itself (a crafting table) and
          places it next to it, while the busy bot gathers less and waits for the station (``wait_near``) before
          the first craft that needs it;
        - *dig*: the helper digs part of a long ``mine`` step and hands the drops over, while the busy bot digs the
          rest and waits for the hand-over (``wait_for``) before crafting with them.
        """
        idle = [b for b in bots if b not in planned]
        branches: list[dict[str, Any]] = []
        for helper in idle:
            held = inventory_of(facts, helper)
            asked = [b for b in planned if b != helper and any(held.get(i, 0) > 0 for i in requests.get(b, {}))]
            busy = asked[0] if asked else max(planned, key=lambda b: self.seconds_of(planned[b]), default=None)
            if busy is None:
                break
            options = [
                self._hand_over_help(helper, busy, shares[busy], planned[busy], facts),
                self._station_help(helper, busy, shares[busy], planned[busy], facts),
                self._dig_help(helper, busy, planned[busy], facts),
            ]
            best = min((o for o in options if o is not None), key=lambda o: o[0], default=None)
            if best is None or best[0] >= self.seconds_of(planned[busy]):
                continue
            _, planned[busy], gather = best
            branches.append({"type": "sequence", "children": gather})
        return branches

    def _hand_over_help(
        self, helper: str, busy: str, items: list[GoalItem], steps: list[Step], facts: frozenset[Atom]
    ) -> tuple[float, list[Step], list[dict[str, Any]]] | None:
        """(makespan, the busy bot's new steps, the helper's nodes) for handing ``busy`` what the helper holds that
        its steps would mine or craft (the results of a failed share, a bot that came back with its inventory)."""
        made = {s.args["item"] if s.skill == "craft" else self.data.drops(s.args["block"])[0] for s in steps
                if s.skill in ("mine", "craft")}  # fmt: skip
        held = inventory_of(facts, helper)
        give = {i: n for i, n in held.items() if i in made and n > 0}
        if not give:
            return None
        have = inventory_of(facts, busy)
        more = {Atom("has", (busy, i, have.get(i, 0) + n)) for i, n in give.items()}
        mine = {f for f in facts if f.name == "has" and f.args[0] == busy and f.args[1] in give}
        try:
            own = self.recipes.steps(items, (facts - mine) | more, busy)
        except PlanningError:
            return None
        first = next((k for k, s in enumerate(own) if s.skill in ("craft", "place")), len(own))
        for i, n in sorted(give.items()):
            gathered = sum(int(s.args["count"]) for s in own[:first] if s.skill == "mine" and
                           self.data.drops(s.args["block"])[0] == i)  # fmt: skip
            own.insert(first, Step("wait_for", {"item": i, "count": have.get(i, 0) + n + gathered}, busy))
        gather = [
            action_node(helper, "chat", message="have: " + ", ".join(f"{n} {i}" for i, n in sorted(give.items())))
        ]
        gather += [action_node(helper, "give", item=i, count=n, player=busy) for i, n in sorted(give.items())]
        return max(self.seconds_of(own), _SECONDS["give"] * len(give)), own, gather

    def _station_help(
        self, helper: str, busy: str, items: list[GoalItem], steps: list[Step], facts: frozenset[Atom]
    ) -> tuple[float, list[Step], list[dict[str, Any]]] | None:
        """(makespan, the busy bot's new steps, the helper's nodes) for making and placing ``busy``'s station."""
        station = next((s.args["block"] for s in steps if s.skill == "place"), None)
        if station is None:
            return None
        try:
            own = self.recipes.steps(items, facts | {Atom("near", (busy, station))}, busy)
            make = self.recipes.steps([GoalItem(station, 1)], facts, helper)
        except PlanningError:
            return None
        if any(s.skill == "explore" for s in make):
            return None
        first = next((k for k, s in enumerate(own) if s.skill == "craft" and self._needs_table(s.args["item"])), None)
        if first is None:
            return None
        own.insert(first, Step("wait_near", {"block": station}, busy))
        gather = [action_node(helper, "chat", message=f"doing: 1 {station}")]
        gather += [action_node(s.agent, s.skill, **s.args) for s in make]
        gather.append(action_node(helper, "place", block=station, player=busy))
        helper_s = self.seconds_of(make) + _SECONDS["give"] + _SECONDS["place"]  # the walk over, as a hand-over's
        return max(self.seconds_of(own), helper_s), own, gather

    def _dig_help(
        self, helper: str, busy: str, steps: list[Step], facts: frozenset[Atom]
    ) -> tuple[float, list[Step], list[dict[str, Any]]] | None:
        """(makespan, the busy bot's new steps, the helper's nodes) for digging part of ``busy``'s first long dig."""
        for i, step in enumerate(steps):
            if step.skill != "mine" or step.args["block"] not in near_of(facts, helper):
                continue
            if self.data.harvest_tools(step.args["block"]):
                continue
            per = self._dig_seconds(step.args["block"])
            count = int(step.args["count"])
            share = int((count * per - _SECONDS["give"]) // (2 * per))  # both finish together
            if share < 1:
                continue
            item = self.data.drops(step.args["block"])[0]
            have = inventory_of(facts, busy).get(item, 0)
            own = list(steps)
            own[i] = Step("mine", {"block": step.args["block"], "count": count - share}, busy)
            own.insert(i + 1, Step("wait_for", {"item": item, "count": have + count}, busy))
            gather = [
                action_node(helper, "chat", message=f"doing: {share} {item}"),
                action_node(helper, "mine", block=step.args["block"], count=share),
                action_node(helper, "give", item=item, count=share, player=busy),
            ]
            helper_s = share * per + _SECONDS["give"]
            return max(self.seconds_of(own), helper_s), own, gather
        return None

    def _needs_table(self, item: str) -> bool:
        recipes = self.data.recipes.get(item, [])
        return bool(recipes) and all(r.needs_table for r in recipes)

    def _dig_seconds(self, block: str) -> float:
        return 1.5 + 1.2 * float(self.data.blocks[block].get("hardness") or 1.0)

    def seconds_of(self, steps: list[Step]) -> float:
        total = 0.0
        for s in steps:
            if s.skill == "mine":
                total += s.args["count"] * self._dig_seconds(s.args["block"])
            else:
                total += _SECONDS.get(s.skill, 2.0)
        return total

    def divide(self, goal: list[GoalItem], facts: frozenset[Atom], bots: list[str]) -> dict[str, list[GoalItem]]:
        """Which bot makes what: ``{bot: [GoalItem, ...]}`` for what the leader still lacks."""
        leader = self.leader or bots[0]
        held = inventory_of(facts, leader)
        chunks: list[GoalItem] = []
        for g in goal:
            missing = g.count - held.get(g.item, 0)
            if missing <= 0:
                continue
            raw = not self.data.recipes.get(g.item) or any(
                b in near_of(facts, bot) for bot in bots for b in self.data.sources(g.item)
            )
            if raw and missing >= len(bots):
                per = math.ceil(missing / len(bots))
                chunks += [
                    GoalItem(g.item, min(per, missing - i * per)) for i in range(len(bots)) if missing - i * per > 0
                ]
            else:
                chunks += [GoalItem(g.item, 1) for _ in range(missing)] if not raw else [GoalItem(g.item, missing)]
        shares: dict[str, list[GoalItem]] = {b: [] for b in bots}
        load = {b: 0.0 for b in bots}
        costed = sorted(chunks, key=lambda c: -self.seconds([c], facts, leader))
        for chunk in costed:
            best = min(bots, key=lambda b: (load[b] + self._extra(shares[b], chunk, facts, b), bots.index(b)))
            load[best] += self._extra(shares[best], chunk, facts, best)
            shares[best].append(chunk)
        return {b: _combine(items) for b, items in shares.items() if items}

    def _extra(self, taken: list[GoalItem], chunk: GoalItem, facts: frozenset[Atom], bot: str) -> float:
        """Seconds ``bot`` needs for its share with ``chunk`` added, minus without it (shared steps count once)."""
        before = self.seconds(_combine(taken), facts, bot) if taken else 0.0
        after = self.seconds(_combine([*taken, chunk]), facts, bot)
        give = _SECONDS["give"] if bot != (self.leader or bot) else 0.0
        return after - before + give

    def seconds(self, items: list[GoalItem], facts: frozenset[Atom], bot: str) -> float:
        try:
            steps = self.recipes.steps(items, facts, bot)
        except PlanningError:
            return math.inf
        return self.seconds_of(steps)


def _branches(root: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-bot branches of a team tree (the children of a parallel root, or the root itself)."""
    return list(root["children"]) if root.get("type") == "parallel" else [root]


def _agents(node: dict[str, Any]) -> set[str]:
    if node.get("type") == "action":
        return {str(node.get("agent"))}
    return set().union(*(_agents(c) for c in node.get("children", [])))


def _combine(items: list[GoalItem]) -> list[GoalItem]:
    out: dict[str, int] = {}
    for g in items:
        out[g.item] = out.get(g.item, 0) + g.count
    return [GoalItem(k, v) for k, v in out.items()]


class MinecraftPlanner:
    """The planner interface ``ember run`` uses (``plan(goal, world, feedback)``, ``goal_literals(goal, world)``):
    the goal read by :func:`parse_goal`, divided among the world's bots by :class:`TeamPlanner`, planned again from
    the facts of the moment after a failure.

    A predicate goal naming a bot (``has(bot1, stick, 4)``) is gathered at that bot; words go to the leader.

    With a skill store (Voyager-style lifelong learning), a goal that a stored skill achieved before (the same items
    and counts) with a team it fits (``planners/minecraft_learned.py``: a solo skill for any team, a team skill for
    the same team) is replayed; a tree that achieves a goal from the start is stored as a new skill
    (:meth:`on_success`); a replay that fails is recorded as failed and not offered again in this run. The first plan
    on the local server is checked against what its scenario holds (:meth:`_check_world`).

    Args:
        skills: the Minecraft skill library (kept for the common planner signature).
        leader: the bot that collects the results (default: the first).
        store: path of the persistent skill store (``null``: none).
    """

    def __init__(
        self,
        skills: Any = None,
        leader: str | None = None,
        store: str | None = None,
        planning: str = "central",
        **_: Any,
    ) -> None:
        from ember.skills.composite import SkillStore

        if planning not in ("central", "per_bot"):
            raise PlanningError(f"planning={planning!r} is unknown; choose central or per_bot")
        self.planning = planning

        self.skills = skills
        self.leader = leader
        self.store = SkillStore(store) if store else None
        self.calls = 0
        self.reused: str | None = None
        self.replanned = False
        """A tree failed in this run and was planned again (a planner serves one run)."""
        self._failed: set[str] = set()
        self.beliefs: dict[str, Beliefs] = {}
        self.on_event: Any = None

    def _data(self, world: Any) -> MinecraftData:
        from ember.sims.minecraft.data import game_data

        return game_data(world.version)

    def _team(self, world: Any) -> TeamPlanner:
        return TeamPlanner(self._data(world), leader=self.leader)

    def holder(self, goal: str, world: Any) -> str:
        """The bot that must end up holding the goal's items: the one a predicate goal names, else the leader."""
        return goal_holder(parse_goal(goal, self._data(world), world.agents())) or self.leader or world.agents()[0]

    def goal_literals(self, goal: str, world: Any) -> list[Literal]:
        team = self._team(world)
        return team.goal_literals(parse_goal(goal, team.data, world.agents()), world.agents())

    def extend_library(self, library: Any) -> Any:
        """The run's skill library with the store's learned skills added."""
        return self.store.library(library, SOLO) if self.store is not None else library

    def plan(self, goal: str, world: Any, feedback: str | None = None) -> dict[str, Any]:
        self.calls += 1
        data, bots = self._data(world), world.agents()
        items = parse_goal(goal, data, bots)
        named = goal_holder(items)
        holder = named or self.leader or bots[0]
        team = TeamPlanner(data, leader=named or self.leader)
        plain = [GoalItem(g.item, g.count) for g in items]  # the holder is the team's leader now
        self._update_beliefs(world, data)
        if feedback is not None:
            self.replanned = True
            if self.reused is not None and self.store is not None:
                self.store.record_use(self.reused, False)
                self._failed.add(self.reused)
                self.reused = None
        known = self._known(goal, items, data, bots, holder)
        first = self.calls == 1 and not self.replanned  # the world as laid out: nothing mined yet
        fresh: dict[str, Any] | None = None
        if known is None or first:
            try:
                if self.planning == "per_bot" and len(bots) > 1:
                    fresh = self._plan_per_bot(team, plain, world, holder)
                else:
                    fresh = team.plan(plain, world.facts(), bots, self.requests())
            except PlanningError:
                if known is None:
                    raise
        if first and fresh is not None:  # a replay digs what the fresh tree digs
            self._check_world(goal, fresh, world)
        if known is not None:
            self.reused = known.name
            return replay(known, holder)
        assert fresh is not None
        return fresh

    def _check_world(self, goal: str, plan: dict[str, Any], world: Any) -> None:
        """Refuse, before any bot moves, a plan that digs more of a block than the local scenario holds (a furnace's
        8 cobblestone where the walls hold 6; coal ore, which no scenario places): it could only fail after minutes
        of exploring. Worlds of unknown contents (an external server) are not checked."""
        scenario = getattr(world, "scenario", None)
        if scenario is None:
            return
        needed: dict[str, int] = {}
        for node in actions(plan["root"]):
            block = str((node.get("args") or {}).get("block"))
            if node.get("skill") == "mine":
                needed[block] = needed.get(block, 0) + int(node["args"].get("count", 1))
            elif node.get("skill") == "explore":
                needed[block] = max(needed.get(block, 0), 1)
        why = scenario.lacks(needed)
        if why is not None:
            raise PlanningError(f"goal {goal!r} cannot be met in this world: {why}")

    def _plan_per_bot(self, team: TeamPlanner, items: list[GoalItem], world: Any, leader: str) -> dict[str, Any]:
        """Each bot plans the team's division from what it knows — its own facts; the teammates online, assumed near
        the same blocks it sees; what they said they hold; what they asked for — and keeps its
        own branches. Bots that know the same divide alike; where they do not, both may make something, and the
        goal check and replanning sort it out."""
        facts, bots = world.facts(), world.agents()
        branches: list[dict[str, Any]] = []
        for bot in bots:
            if Atom("online", (bot,)) not in facts:
                continue
            beliefs = self.beliefs.get(bot)
            # Its teammates: the roster members online. (A bot's own player list would be the live source, but
            # flying-squid sends a joining player no list of those already online, so the run's connections stand in.)
            team_of = [b for b in bots if Atom("online", (b,)) in facts]
            if leader not in team_of:  # it cannot hand results to a leader that is offline: it works alone
                team_of = [bot]
            view = {f for f in facts if f.args and f.args[0] == bot}
            near = [f for f in view if f.name == "near"]
            for other in team_of:
                if other == bot:
                    continue
                view.add(Atom("online", (other,)))
                view |= {Atom("near", (other, f.args[1])) for f in near}
                belief = beliefs.about.get(other) if beliefs else None
                said = belief.have if belief is not None else {}
                view |= {Atom("has", (other, item, n)) for item, n in said.items()}
            sub = TeamPlanner(team.data, leader=leader if leader in team_of else bot)
            plan = sub.plan(items, frozenset(view), team_of, beliefs.requests() if beliefs else {})
            branches += [b for b in _branches(plan["root"]) if _agents(b) == {bot}]
        if not branches:
            return team.plan(items, facts, bots, self.requests())
        if len(branches) == 1:
            return {"version": 1, "root": branches[0]}
        return {"version": 1, "root": {"type": "parallel", "policy": "all", "children": branches}}

    def requests(self) -> dict[str, dict[str, int]]:
        """What the bots asked each other for, as their teammates believe it (the union over believers)."""
        out: dict[str, dict[str, int]] = {}
        for beliefs in self.beliefs.values():
            for bot, need in beliefs.requests().items():
                out.setdefault(bot, {}).update(need)
        return out

    def _update_beliefs(self, world: Any, data: MinecraftData) -> None:
        """Each bot's beliefs about the others, from the chat it heard and what it sees (traced as events)."""
        if not hasattr(world, "chat_since"):
            return
        for bot in world.agents():
            beliefs = self.beliefs.setdefault(bot, Beliefs(bot, data))
            beliefs.update(world)
            if self.on_event is not None and beliefs.about:
                self.on_event({"event": "beliefs", "agent": bot, "facts": sorted(str(f) for f in beliefs.facts()),
                               "last_words": {n: b.said for n, b in beliefs.about.items()}})  # fmt: skip

    def _known(self, goal: str, items: list[GoalItem], data: MinecraftData, bots: list[str], holder: str) -> Any:
        """A stored skill for the same items and counts that this team can replay (a team skill of the same team
        first, then a solo skill), not failed in this run; None if there is none."""
        if self.store is None:
            return None
        want = sorted((g.item, g.count) for g in items)
        for domain in [TEAM, SOLO] if len(bots) > 1 else [SOLO]:
            for entry, _ in self.store.search(goal, domain=domain, k=5):
                if entry.name in self._failed or not compatible(entry, bots, holder, data):
                    continue
                try:
                    if sorted((g.item, g.count) for g in parse_goal(entry.goal, data)) == want:
                        return entry
                except PlanningError:
                    continue
        return None

    def on_success(self, goal: str, plan: dict[str, Any], world: Any) -> None:
        """Count the reused skill's success, or store the tree that achieved ``goal`` as a skill — only a tree that
        did so from the start: after a failure the last tree is a repair from that moment's state (a bot holding
        half the logs), no program for the goal, and a failed replay is counted as failed, not as a success."""
        if self.store is None:
            return
        if self.reused is not None:
            self.store.record_use(self.reused, True)
            return
        if self.replanned:
            return
        items = parse_goal(goal, self._data(world), world.agents())
        bots = world.agents()
        learn(self.store, goal, items, plan, goal_holder(items) or self.leader or bots[0], bots)


_SAID = re.compile(r"^\s*(doing|done|need|have)\s*:\s*(.*)$", re.IGNORECASE)


@dataclass
class Belief:
    """What one bot believes about another: its announced share (``doing``), what it asked for (``need``), what it
    said it holds (``have``), what it finished (``done``), where it was last seen, and its last words."""

    doing: dict[str, int] = field(default_factory=dict)
    need: dict[str, int] = field(default_factory=dict)
    have: dict[str, int] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    position: tuple[float, float, float] | None = None
    said: str = ""


class Beliefs:
    """A bot's beliefs about the others (after MindForge's theory of mind), updated from chat — lines such as
    ``doing: 2 wooden_pickaxe``, ``need: 3 oak_log``, ``have: 4 oak_planks``, ``done: 1 wooden_pickaxe`` — and from
    observation (where the others stand). Anything else in the chat is kept as the speaker's last words and never
    raises: game chat is untrusted text.

    Args:
        owner: the bot holding these beliefs.
        data: game data (item names are checked against it).
    """

    def __init__(self, owner: str, data: MinecraftData) -> None:
        self.owner, self.data = owner, data
        self.about: dict[str, Belief] = {}
        self.seq = 0
        self.ignored = 0

    def hear(self, speaker: str, text: str) -> None:
        if speaker == self.owner or not isinstance(text, str):
            return
        belief = self.about.setdefault(speaker, Belief())
        belief.said = text[:256]
        match = _SAID.match(text)
        if match is None:
            return
        kind, rest = match.group(1).lower(), match.group(2)
        counts: dict[str, int] = {}
        for part in rest.split(","):
            words = part.split()
            if len(words) == 2 and words[0].isdigit() and self.data.is_item(words[1]) and 0 < int(words[0]) <= 10000:
                counts[words[1]] = int(words[0])
            elif part.strip():
                self.ignored += 1
        if kind == "doing":  # a new share: what it asked for before is stale
            belief.doing, belief.need = counts, {}
        elif kind == "done":
            for item, n in counts.items():
                belief.done[item] = belief.done.get(item, 0) + n
                belief.doing.pop(item, None)
        else:
            getattr(belief, kind).update(counts)

    def update(self, world: Any) -> None:
        """Read the chat the owner heard since the last update, and where the others stand."""
        for line in world.chat_since(self.owner, self.seq):
            self.seq = max(self.seq, int(line.get("seq", 0)))
            self.hear(str(line.get("from", "")), str(line.get("text", "")))
        for name, where in (world.state(self.owner).get("players") or {}).items():
            self.about.setdefault(name, Belief()).position = tuple(float(v) for v in where)  # type: ignore[assignment]

    def requests(self) -> dict[str, dict[str, int]]:
        """What each other bot asked for and has not said it got or finished: ``{bot: {item: n}}``."""
        return {name: dict(b.need) for name, b in self.about.items() if b.need}

    def claimed(self, online: set[str]) -> dict[str, int]:
        """Items the others (still online) said they are making."""
        out: dict[str, int] = {}
        for name, belief in self.about.items():
            if name in online:
                for item, n in belief.doing.items():
                    out[item] = out.get(item, 0) + n
        return out

    def facts(self) -> frozenset[Atom]:
        """The beliefs as predicates: ``believes_doing(bot1, wooden_pickaxe, 1)``, ``believes_need(...)``."""
        out = set()
        for name, belief in self.about.items():
            for kind in ("doing", "need", "have", "done"):
                for item, n in getattr(belief, kind).items():
                    out.add(Atom(f"believes_{kind}", (name, item, n)))
        return frozenset(out)

"""Minecraft skills: each starts one task of the bot (``sims/minecraft/js/agent.js``) through the world's ``apply``
and follows it tick by tick. Every skill has a timeout (``timeout`` seconds, overridable per call through the skill's
settings), cancels its task when stopped, and fails with the task's reason: ``no oak_log in reach``, ``missing
ingredients for 1 wooden_pickaxe: need 2 stick``, ``path blocked: ...``, ``disconnected: ...``, ``timeout after 60 s``.

``goto(x, y, z)``, ``mine(block, count)`` (digs and walks onto the drops), ``craft(item, count)`` (at a crafting
table within 32 blocks when the recipe needs one), ``place(block)`` (next to the bot), ``give(item, count, player)``
(walks to the player and drops the items at their feet; done when a bot of this world holds them),
``chat(message)``, ``explore(block)`` (walks out until the block is within 32 blocks), ``wait_for(item, count)``
(a hand-over) and ``wait_near(block)`` (a station a teammate places: ``place(block, player)`` puts it next to them).

A bot stuck for want of something asks for it: the failing skill says ``need: 3 oak_log`` in chat, which the other
bots' beliefs record (``believes_need``) and the next plan can act on.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, ClassVar

from ember.skills.skill import RUNNING, Outcome, Param, Skill, Status

_IDS = itertools.count(1)
_MISSING = re.compile(r"(\d+) ([a-z_]+)")


def _wanted(args: dict[str, Any], reason: str) -> list[tuple[str, int]]:
    """What a failure says the bot lacks: ``no oak_log in reach`` (with the skill's count), or ``missing
    ingredients ...: need 2 stick, 3 oak_planks``."""
    if reason.startswith("no ") and " in reach" in reason:
        return [(reason.split()[1], int(args.get("count") or 1))]
    if "missing ingredients" in reason and "need " in reason:
        return [(item, int(n)) for n, item in _MISSING.findall(reason.split("need ", 1)[1])]
    return []


def disconnected(agent: str, state: dict[str, Any]) -> Outcome:
    return Outcome(Status.FAILURE, f"disconnected: {agent} is {state.get('status')} ({state.get('reason')})")


class TaskSkill(Skill):
    task: ClassVar[str]
    timeout: ClassVar[float] = 60.0
    """Seconds of world time before the skill cancels its task and fails."""

    def task_args(self) -> dict[str, Any]:
        assert self.ctx is not None
        return {k: v for k, v in self.ctx.args.items() if v is not None}

    def _start(self) -> None:
        assert self.ctx is not None
        world: Any = self.ctx.world
        self.id = f"{self.name}-{next(_IDS)}"
        self.t0 = world.time()
        self.limit = float(self.settings.get("timeout", self.timeout))
        world.apply(self.ctx.agent, {"task": self.task, "args": self.task_args(), "id": self.id})

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        world: Any = self.ctx.world
        state = world.state(self.ctx.agent)
        if state.get("status") != "spawned":
            return disconnected(self.ctx.agent, state)
        task = state.get("task") or {}
        if task.get("id") == self.id and task.get("done"):
            if task.get("ok"):
                return self.finished(world)
            reason = str(task.get("error") or "failed")
            self.ask_for_help(world, reason)
            return Outcome(Status.FAILURE, f"{self.name}: {reason}")
        if world.time() - self.t0 > self.limit:
            self.cancel()
            return Outcome(Status.FAILURE, f"{self.name}: timeout after {self.limit:g} s")
        return RUNNING

    def ask_for_help(self, world: Any, reason: str) -> None:
        """Stuck for want of something (none in reach, missing ingredients): say so in chat as ``need: N item``, so
        teammates' beliefs carry the request and the next plan can bring it. Nothing is said otherwise."""
        assert self.ctx is not None
        wanted = _wanted(self.ctx.args, reason)
        if wanted:
            message = "need: " + ", ".join(f"{n} {item}" for item, n in wanted)
            world.apply(self.ctx.agent, {"task": "chat", "args": {"message": message}, "id": f"{self.id}-help"})

    def finished(self, world: Any) -> Outcome:
        """Outcome once the task reports success (a skill may wait for more, e.g. the receiver of a gift)."""
        return Outcome(Status.SUCCESS)

    def cancel(self) -> None:
        if self.ctx is not None:
            self.ctx.world.apply(self.ctx.agent, {"cancel": True})


class Goto(TaskSkill):
    name = "goto"
    task = "goto"
    description = "Walk to within a block of (x, y, z)."
    params = (
        Param("x", ("number",), "block x"),
        Param("y", ("number",), "block y"),
        Param("z", ("number",), "block z"),
    )


class Mine(TaskSkill):
    name = "mine"
    task = "mine"
    timeout = 120.0
    description = (
        "Dig the nearest blocks of a kind and walk onto their drops until `count` more of what it drops are in the "
        "inventory (grass_block drops dirt; logs drop themselves)."
    )
    params = (
        Param("block", ("string",), "block name, e.g. oak_log, grass_block, dirt"),
        Param("count", ("number",), "how many drops to collect", required=False, default=1),
    )
    effects = ("has(?agent, ?block, ?count)",)


class Craft(TaskSkill):
    name = "craft"
    task = "craft"
    description = "Craft `count` of an item from the inventory (at a crafting table within 32 blocks if it needs one)."
    params = (
        Param("item", ("string",), "item name, e.g. oak_planks, stick, crafting_table, wooden_pickaxe"),
        Param("count", ("number",), "how many to make", required=False, default=1),
    )
    effects = ("has(?agent, ?item, ?count)",)

    def _start(self) -> None:
        assert self.ctx is not None
        world: Any = self.ctx.world
        inventory = world.state(self.ctx.agent).get("inventory") or {}
        self.before = int(inventory.get(self.ctx.args["item"], 0))
        self.done_at: float | None = None
        super()._start()

    def finished(self, world: Any) -> Outcome:
        """Success once the inventory the world reports shows the crafted items (it can trail the craft by a few
        ticks; a plan checked against the older one would craft again), or 2 s after the task ended."""
        assert self.ctx is not None
        now = world.time()
        self.done_at = now if self.done_at is None else self.done_at
        have = int((world.state(self.ctx.agent).get("inventory") or {}).get(self.ctx.args["item"], 0))
        if have >= self.before + int(self.ctx.args.get("count", 1)) or now - self.done_at > 2.0:
            return Outcome(Status.SUCCESS)
        return RUNNING


def _where(world: Any, player: Any) -> list[float] | None:
    """Where a bot of this world reports it stands (None for a player outside the world)."""
    if player in world.agents():
        where = world.state(player).get("position")
        return list(where) if where else None
    return None


class Place(TaskSkill):
    name = "place"
    task = "place"
    description = (
        "Place a block from the inventory on the ground next to the bot, or next to another player (walks there "
        "first: a station for a teammate's crafting)."
    )
    params = (
        Param("block", ("string",), "block name, e.g. crafting_table"),
        Param("player", ("string",), "place it next to this player instead, e.g. bot0", required=False),
    )
    effects = ("near(?agent, ?block)",)

    def task_args(self) -> dict[str, Any]:
        assert self.ctx is not None
        args = super().task_args()
        where = _where(self.ctx.world, args.get("player")) if args.get("player") else None
        if where:  # the player's own report, for one this client has not been shown yet
            args.update(px=where[0], py=where[1], pz=where[2])
        return args


class Give(TaskSkill):
    name = "give"
    task = "toss"
    timeout = 60.0
    description = "Walk to another player and hand over items (dropped at their feet)."
    params = (
        Param("item", ("string",), "item name"),
        Param("count", ("number",), "how many", required=False, default=1),
        Param("player", ("string",), "the receiving player, e.g. bot1"),
    )
    effects = ("has(?player, ?item, ?count)",)

    def _start(self) -> None:
        assert self.ctx is not None
        world: Any = self.ctx.world
        player, item = self.ctx.args["player"], self.ctx.args["item"]
        self.receiver_before = None
        if player in world.agents():
            self.receiver_before = int((world.state(player).get("inventory") or {}).get(item, 0))
            self.where = _where(world, player)
        super()._start()

    def task_args(self) -> dict[str, Any]:
        args = super().task_args()
        where = getattr(self, "where", None)
        if where:  # the receiver's own report of where it stands
            args.update(x=where[0], y=where[1], z=where[2])
        return args

    def finished(self, world: Any) -> Outcome:
        assert self.ctx is not None
        if self.receiver_before is None:
            return Outcome(Status.SUCCESS)  # a player outside this world: dropped at their feet
        player, item, count = self.ctx.args["player"], self.ctx.args["item"], int(self.ctx.args["count"] or 1)
        have = int((world.state(player).get("inventory") or {}).get(item, 0))
        if have >= self.receiver_before + count:
            return Outcome(Status.SUCCESS)
        if world.time() - self.t0 > self.limit:
            return Outcome(Status.FAILURE, f"give: {player} did not pick up the {item} within {self.limit:g} s")
        return RUNNING


class Chat(TaskSkill):
    name = "chat"
    task = "chat"
    timeout = 5.0
    description = "Say something in the game chat (other bots read it)."
    params = (Param("message", ("string",), "what to say"),)


class Explore(TaskSkill):
    name = "explore"
    task = "explore"
    timeout = 90.0
    description = "Walk out in a seeded direction until a block of the kind is within 32 blocks."
    params = (
        Param("block", ("string",), "block to look for, e.g. oak_log"),
        Param("distance", ("number",), "blocks per leg", required=False, default=24),
    )
    effects = ("near(?agent, ?block)",)


class WaitNear(TaskSkill):
    name = "wait_near"
    task = "awaitBlock"
    timeout = 90.0
    description = "Wait until a block of a kind is within 32 blocks (a station a teammate is placing)."
    params = (Param("block", ("string",), "block name, e.g. crafting_table"),)
    effects = ("near(?agent, ?block)",)


class WaitFor(Skill):
    """Wait until the bot holds at least ``count`` of ``item`` (what a teammate is bringing)."""

    name = "wait_for"
    description = "Wait until the inventory holds at least `count` of an item (a teammate's hand-over)."
    params = (
        Param("item", ("string",), "item name"),
        Param("count", ("number",), "how many in total"),
    )
    timeout: ClassVar[float] = 120.0

    def _start(self) -> None:
        assert self.ctx is not None
        self.t0 = self.ctx.world.time()
        self.limit = float(self.settings.get("timeout", self.timeout))

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        world: Any = self.ctx.world
        state = world.state(self.ctx.agent)
        if state.get("status") != "spawned":
            return disconnected(self.ctx.agent, state)
        item, count = self.ctx.args["item"], int(self.ctx.args["count"])
        have = int((state.get("inventory") or {}).get(item, 0))
        if have >= count:
            return Outcome(Status.SUCCESS)
        if world.time() - self.t0 > self.limit:
            return Outcome(Status.FAILURE, f"wait_for: {have} of {count} {item} after {self.limit:g} s")
        return RUNNING

"""Minecraft behind Ember's world contract: mineflayer bots (``js/agent.js``) driven from Python through the
``javascript`` package (JSPyBridge), against a server on ``host:port`` — the local one Ember starts
(:class:`~ember.sims.minecraft.server.MinecraftServer`) or any other (host, port, version: a config change).

The game runs in real time: :meth:`MinecraftWorld.advance` starts the queued tasks, waits out the control period
(50 ms, one server tick) and reads every bot's state in one bridge call per bot. Facts:

- ``has(botK, item, n)`` for every item stack total in a bot's inventory (goals over counts mean *at least*)
- ``near(botK, block)`` when a watched block (logs, crafting tables, dirt, stone, ...) is within 32 blocks
- ``online(botK)`` while a bot is connected and spawned

Actions for :meth:`apply`: ``{"task": name, "args": {...}, "id": tag}`` (``goto``, ``mine``, ``craft``, ``place``,
``toss``, ``collect``, ``explore``, ``chat``; see ``js/agent.js``) or ``{"cancel": true}``. A bot that is kicked or
loses the server is reconnected under the same name (its running task fails with a ``disconnected`` reason);
malformed state from the bridge is logged and skipped, never raised into the agent loop.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import numpy as np

from ember.sims.minecraft.node import JS_DIR, node_modules
from ember.sims.minecraft.server import VERSION
from ember.sims.predicates import Atom
from ember.sims.world import ObjectInfo, World, WorldError

log = logging.getLogger(__name__)

WATCHED_BLOCKS = (
    "oak_log",
    "birch_log",
    "spruce_log",
    "crafting_table",
    "grass_block",
    "dirt",
    "stone",
    "cobblestone",
    "sand",
)
"""Blocks reported as ``near(bot, block)`` facts (what the planner needs to choose sources)."""

_COLORS = {
    "air": (200, 225, 255),
    "grass_block": (95, 160, 70),
    "dirt": (130, 95, 60),
    "stone": (125, 125, 125),
    "cobblestone": (110, 110, 110),
    "oak_log": (105, 80, 45),
    "oak_leaves": (50, 120, 40),
    "crafting_table": (160, 110, 60),
    "bedrock": (40, 40, 40),
    "oak_planks": (180, 145, 90),
}

_bridge: Any = None


def bridge() -> Any:
    """The ``agent.js`` module through JSPyBridge (node starts on first use, resolving modules from the project's
    ``node_modules`` only; nothing is installed at run time). The bridge's node process is stopped by an ``atexit``
    hook, which SIGTERM's default action skips: from here on SIGTERM exits through ``SystemExit`` (code 143), so the
    hooks run and no node process outlives Python."""
    global _bridge
    if _bridge is None:
        os.environ["NODE_PATH"] = str(node_modules())
        from javascript import require  # starts node; NODE_PATH must be set before

        _bridge = require(str(JS_DIR / "agent.js"))
        exit_on_sigterm()
    return _bridge


def bridge_alive() -> bool:
    """Whether the bridge's node process runs (Ctrl-C in a terminal stops it along with Python)."""
    if _bridge is None:
        return False
    from javascript import connection

    proc = connection.proc
    return proc is not None and proc.poll() is None


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def exit_on_sigterm() -> None:
    """Make SIGTERM exit through ``SystemExit`` (code 143) where it would kill Python outright, so the ``atexit`` hooks
    that stop Ember's node processes (the local server's, the bridge's) run."""
    if _main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class Interrupted(SystemExit):
    """A run stopped by SIGINT (Ctrl-C) or SIGTERM while a local Minecraft world was open: raised where the main
    thread is, so the cleanup around it runs (the bots quit, the local server stops; at exit the bridge's node process
    too). Exits with 128 + the signal's number, after one line on stderr instead of a traceback."""


class MinecraftWorld(World):
    """Args:
    host, port, version: the server to join.
    bots: number of bots (named ``bot0``, ``bot1``, ...) or their names.
    watched: block names reported as ``near`` facts.
    connect_timeout: seconds to wait for every bot to spawn.
    reconnect: rejoin bots that were kicked or lost the server.
    seed: seeds the bots' exploration directions.
    server: the managed server, if Ember started it (scenario setup and restarts go through it).
    """

    control_dt = 0.05

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25565,
        version: str = VERSION,
        bots: int | list[str] = 1,
        watched: tuple[str, ...] = WATCHED_BLOCKS,
        connect_timeout: float = 30.0,
        reconnect: bool = True,
        seed: int = 0,
        server: Any = None,
    ) -> None:
        names = [f"bot{i}" for i in range(bots)] if isinstance(bots, int) else list(bots)
        if not names or len(set(names)) != len(names):
            raise WorldError(f"bots={bots!r}: give a positive count or distinct names")
        for name in names:
            if not (3 <= len(name) <= 16) or not name.replace("_", "").isalnum():
                raise WorldError(f"bot name {name!r} must be 3-16 letters, digits or _ (Minecraft usernames)")
        self.host, self.port, self.version = host, int(port), version
        self.names, self.watched = names, tuple(watched)
        self._watched_json = json.dumps(self.watched)  # sent with every snapshot (each tick, each bot)
        self.connect_timeout, self.reconnect, self.seed = connect_timeout, reconnect, seed
        self.server = server
        self._agents: dict[str, Any] = {}
        self._state: dict[str, dict[str, Any]] = {}
        self._queued: list[tuple[str, Mapping[str, Any]]] = []
        self._down_since: dict[str, float] = {}
        self.reconnects = 0
        self.malformed = 0
        self._t0 = time.monotonic()
        self._last = self._t0
        self.connect()

    # ------------------------------------------------------------------ connection
    def _spawn_agent(self, name: str) -> None:
        options = {"host": self.host, "port": self.port, "username": name, "version": self.version}
        options["seed"] = self.seed + self.names.index(name)
        self._agents[name] = bridge().createAgent(json.dumps(options))

    def connect(self) -> None:
        for name in self.names:
            self._spawn_agent(name)
        deadline = time.monotonic() + self.connect_timeout
        while True:
            self.refresh()
            waiting = [n for n in self.names if self._state.get(n, {}).get("status") != "spawned"]
            if not waiting:
                return
            failed = {n: self._state[n] for n in waiting if self._state.get(n, {}).get("status") in ("ended", "kicked")}
            if failed or time.monotonic() > deadline:
                detail = {
                    n: (s.get("status"), s.get("reason"), s.get("errors"))
                    for n, s in (failed or {n: self._state.get(n, {}) for n in waiting}).items()
                }
                self.close()
                raise WorldError(
                    f"bots {waiting} could not join {self.host}:{self.port} (version {self.version}) within "
                    f"{self.connect_timeout} s: {detail}; start a server there (ember starts one when task.host is "
                    "null) or fix task.host/task.port/task.version"
                )
            time.sleep(0.05)

    def _read(self, name: str) -> dict[str, Any]:
        try:
            state = json.loads(bridge().snapshot(self._agents[name], self._watched_json))
            if not isinstance(state, dict):
                raise ValueError(f"snapshot is a {type(state).__name__}")
            return state
        except Exception as err:
            self.malformed += 1
            log.warning("%s: unreadable state from the bridge (%s); keeping the last one", name, err)
            return self._state.get(name, {"status": "unknown"})

    def refresh(self) -> None:
        for name in self.names:
            self._state[name] = self._read(name)

    def _heal(self) -> None:
        """Reconnect bots that were kicked or lost the server (after a second, then every 2 s)."""
        if not self.reconnect:
            return
        now = time.monotonic()
        for name in self.names:
            status = self._state.get(name, {}).get("status")
            if status not in ("ended", "kicked"):
                self._down_since.pop(name, None)
                continue
            since = self._down_since.setdefault(name, now)
            if now - since >= 1.0:
                log.info("%s is %s (%s); reconnecting", name, status, self._state[name].get("reason"))
                try:
                    bridge().quit(self._agents[name])
                except Exception:
                    pass
                self._spawn_agent(name)
                self.reconnects += 1
                self._down_since[name] = now + 1.0

    # ------------------------------------------------------------------ contract
    def facts(self) -> frozenset[Atom]:
        out: set[Atom] = set()
        for name in self.names:
            state = self._state.get(name, {})
            if state.get("status") != "spawned":
                continue
            out.add(Atom("online", (name,)))
            for item, count in (state.get("inventory") or {}).items():
                if isinstance(count, int) and count > 0:
                    out.add(Atom("has", (name, str(item), count)))
            for block in state.get("blocks") or {}:
                out.add(Atom("near", (name, str(block))))
        return frozenset(out)

    def objects(self) -> dict[str, ObjectInfo]:
        """The bots (blocks and items are named by kind in skill arguments, not objects: ``mine(oak_log)``; where the
        nearest of each watched kind lies is in :meth:`state`)."""
        return {
            name: ObjectInfo(
                id=name, type="bot", position=_xyz(self._state.get(name, {}).get("position")), movable=True
            )
            for name in self.names
        }

    def agents(self) -> list[str]:
        return list(self.names)

    def state(self, agent: str) -> dict[str, Any]:
        """The last state read for ``agent``: status, position, inventory, players, blocks, task, chatSeq."""
        self._check(agent)
        return self._state.get(agent, {})

    def render(self, radius: int = 16, cell: int = 8) -> np.ndarray:
        """Top-down map around the first online bot (highest block per column), bots as red squares."""
        name = next((n for n in self.names if self._state.get(n, {}).get("status") == "spawned"), None)
        size = 2 * radius + 1
        img = np.full((size * cell, size * cell, 3), 235, dtype=np.uint8)
        if name is None:
            return img
        try:
            rows = json.loads(bridge().topdown(self._agents[name], radius))
        except Exception:
            return img
        for z, row in enumerate(rows):
            for x, block in enumerate(row):
                img[z * cell : (z + 1) * cell, x * cell : (x + 1) * cell] = _COLORS.get(block, (170, 150, 120))
        cx, _, cz = self._state[name]["position"]
        for other in self.names:
            pos = self._state.get(other, {}).get("position")
            if pos is None:
                continue
            x, z = int(np.floor(pos[0] - np.floor(cx))) + radius, int(np.floor(pos[2] - np.floor(cz))) + radius
            if 0 <= x < size and 0 <= z < size:
                img[z * cell + 1 : (z + 1) * cell - 1, x * cell + 1 : (x + 1) * cell - 1] = (220, 40, 40)
        return img

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """``policy``: position, health, food, then the counts of the watched blocks' items in the inventory."""
        state = self.state(agent)
        inv = state.get("inventory") or {}
        values = [*(state.get("position") or [0.0, 0.0, 0.0]), state.get("health", 0.0), state.get("food", 0.0)]
        values += [float(inv.get(b, 0)) for b in self.watched]
        return {"policy": np.asarray(values, dtype=np.float32)}

    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        self._check(agent)
        if not isinstance(action, Mapping) or not ("task" in action or action.get("cancel")):
            raise WorldError(
                f"action for {agent} must be {{'task': name, 'args': {{...}}}} or {{'cancel': true}}; got {action!r}"
            )
        self._queued.append((agent, action))  # in order: a help request, then the next task

    def advance(self) -> None:
        queued, self._queued = self._queued, []
        for agent, action in queued:
            handle = self._agents[agent]
            if action.get("cancel"):
                bridge().cancelTask(handle)
            else:
                args = json.dumps(dict(action.get("args") or {}))
                bridge().startTask(handle, str(action["task"]), args, str(action.get("id", "")))
        wait = self.control_dt - (time.monotonic() - self._last)
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()
        self.refresh()
        self._heal()

    def time(self) -> float:
        return time.monotonic() - self._t0

    def chat_since(self, agent: str, seq: int) -> list[dict[str, Any]]:
        """Chat lines ``agent`` heard after sequence number ``seq`` (``{"seq", "from", "text"}``)."""
        self._check(agent)
        try:
            lines = json.loads(bridge().chatSince(self._agents[agent], int(seq)))
        except Exception:
            self.malformed += 1
            return []
        return [m for m in lines if isinstance(m, dict) and isinstance(m.get("text"), str)]

    def close(self) -> None:
        if bridge_alive():  # a dead bridge (Ctrl-C reaches its node process too) would time out on every quit
            for handle in self._agents.values():
                try:
                    bridge().quit(handle)
                except Exception:
                    pass
        self._agents = {}

    def _check(self, agent: str) -> None:
        if agent not in self.names:
            raise WorldError(f"agent {agent!r} is unknown; this world has bots {self.names}")


def _xyz(values: Any) -> tuple[float, float, float]:
    try:
        x, y, z = (float(v) for v in values)
    except (TypeError, ValueError):
        return (0.0, 0.0, 0.0)
    return (x, y, z)


class LocalMinecraftWorld(MinecraftWorld):
    """A :class:`MinecraftWorld` that brings its own server: with ``host`` unset it starts Ember's local server
    (stopped again by :meth:`close`) and lays out the seeded scenario (trees, obstacles, where the bots stand); with a
    ``host`` it joins that server as it is (an external server: no setup, the world there is used as found).

    Args:
        host, port, version: an external server; ``host=None`` starts a local one on a free port.
        bots: bot count or names.
        seed: scenario seed (spawn points, trees, obstacles).
        trees, obstacles: scenario contents on the local server.
        log_path: the local server's log file.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int = 25565,
        version: str = VERSION,
        bots: int | list[str] = 1,
        seed: int = 0,
        trees: int = 3,
        obstacles: int = 2,
        log_path: str | None = None,
        connect_timeout: float = 30.0,
    ) -> None:
        from ember.sims.minecraft.data import check_version, game_data
        from ember.sims.minecraft.scenarios import Scenario, lay_out, make_scenario
        from ember.sims.minecraft.server import MinecraftServer

        self.owned: MinecraftServer | None = None
        self.scenario: Scenario | None = None
        """The seeded layout on the local server (None on an external one): what blocks the world holds."""
        try:  # before any server starts: the planner reads this version's recipes and drops
            check_version(str(version), "task.version")
        except ValueError as err:
            raise WorldError(str(err)) from err
        game_data(version)
        if host is None:
            names = [f"bot{i}" for i in range(bots)] if isinstance(bots, int) else list(bots)
            self.scenario = make_scenario(seed, names, trees=trees, obstacles=obstacles)
        self._previous: dict[int, Any] = {}
        self._closing = False
        self._pending: int | None = None
        self._signalled: int | None = None
        self._catch_signals()
        try:
            if host is None:
                self.owned = MinecraftServer(version=version, log_path=log_path).start()
                host, port = "127.0.0.1", int(self.owned.port or 0)
            super().__init__(host, port, version, bots, connect_timeout=connect_timeout, seed=seed, server=self.owned)
            if self.owned is not None and self.scenario is not None:
                if not lay_out(self.owned, self, self.scenario):  # chunks, the block scan, emptied inventories
                    log.warning("the bots do not see the scenario of seed %d after 3 layouts; going on", seed)
        except BaseException:
            self._closing = True
            if self.owned is not None:
                self.owned.stop()
                self.owned = None
            self._release_signals()
            raise
        self._t0 = time.monotonic()

    def close(self) -> None:
        self._closing = True  # a signal now waits until the server is down
        try:
            if self._signalled is None:
                super().close()
            else:  # the bots drop with the server and the bridge; a quit would wait 10 s on a bridge Ctrl-C stopped
                self._agents = {}
            if self.owned is not None:
                self.owned.stop()
                self.owned = None
        finally:
            self._release_signals()
        if self._pending is not None and self._signalled is None:  # a signal came while an ordinary close ran
            self._interrupted(self._pending)

    # ------------------------------------------------------------------ signals
    def _catch_signals(self) -> None:
        """SIGINT and SIGTERM raise :class:`Interrupted` while the world is open (main thread only: Python runs
        handlers there), so the server and the bots stop as after any error — SIGTERM's default action would leave
        both node processes running, orphaned."""
        if not _main_thread():
            return
        exit_on_sigterm()  # what stays after close: the bridge's node process lives as long as Python
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _release_signals(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._closing:
            self._pending = self._pending or signum  # the cleanup under way finishes first
            return
        self._closing = True
        self._signalled = signum
        self._interrupted(signum)

    def _interrupted(self, signum: int) -> None:
        name = signal.Signals(signum).name
        print(f"interrupted ({name}): stopping the Minecraft bots and the local server", file=sys.stderr, flush=True)
        raise Interrupted(128 + signum)

"""A local Minecraft server (flying-squid, ``js/server.js``) as a managed subprocess: started on 127.0.0.1 with a
free port, ready when it prints ``EMBER_READY``, its output captured to a log file, stopped with SIGTERM (then
SIGKILL) — also at interpreter exit, so no test leaves a server behind.

The server also listens for scenario setup on a local control port (``control(op, **args)``): ``set_block``,
``fill``, ``get_block``, ``tree``, ``give``, ``clear``, ``inventory``, ``teleport``, ``kick``, ``say``,
``craft_match``, ``ping``.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from ember.sims.minecraft.node import JS_DIR, node_binary, node_env

VERSION = "1.20.4"
_LIVE: weakref.WeakSet[MinecraftServer] = weakref.WeakSet()


class ServerError(RuntimeError):
    """The server did not start, died, or refused a control request (the message has the log's tail)."""


class MinecraftServer:
    """Args:
    version: Minecraft version the server speaks.
    port: TCP port for clients (0: a free one).
    generation: flying-squid world generator (``superflat`` is flat and deterministic).
    seed: world seed.
    log_path: file for the server's output (default: a temporary file beside nothing — kept in memory).
    start_timeout: seconds to wait for readiness.
    """

    def __init__(
        self,
        version: str = VERSION,
        port: int = 0,
        generation: str = "superflat",
        seed: int = 0,
        log_path: str | Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if not 0 <= port < 65536:
            raise ValueError(f"port={port} must be in 0..65535 (0: a free port)")
        self.version, self.generation, self.seed = version, generation, seed
        self.requested_port = port
        self.log_path = Path(log_path) if log_path is not None else None
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.control_port: int | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._log: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MinecraftServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        options = {"port": self.requested_port, "version": self.version, "generation": self.generation}
        options["seed"] = self.seed
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._ready.clear()
        self.proc = subprocess.Popen(
            [node_binary(), str(JS_DIR / "server.js"), json.dumps(options)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=node_env(),
            cwd=str(JS_DIR),
        )
        _LIVE.add(self)
        self._reader = threading.Thread(target=self._read, name="minecraft-server-log", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(0.05):
            if self.proc.poll() is not None:
                raise ServerError(f"the Minecraft server exited with code {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"the Minecraft server was not ready within {self.start_timeout} s:\n{self.log_tail()}"
                )
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        sink = self.log_path.open("a", encoding="utf-8") if self.log_path is not None else None
        try:
            for line in self.proc.stdout:
                if line.startswith("EMBER_READY "):
                    info = json.loads(line.removeprefix("EMBER_READY "))
                    self.port, self.control_port = int(info["port"]), int(info["control"])
                    self._ready.set()
                self._log.append(line.rstrip("\n"))
                del self._log[:-500]
                if sink is not None:
                    sink.write(line)
                    sink.flush()
        finally:
            if sink is not None:
                sink.close()

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; idempotent."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port (clients see a server restart)."""
        port = self.port
        self.stop()
        if port is not None:
            self.requested_port = port
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log[-lines:])

    def __enter__(self) -> MinecraftServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ control
    def control(self, op: str, timeout: float = 30.0, **args: Any) -> Any:
        """Run a setup operation on the server (see the module docstring); returns its result."""
        if not self.running or self.control_port is None:
            raise ServerError(f"control({op!r}): the server is not running; start() it first")
        body = json.dumps({"op": op, **args}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}/",
            data=body,
            method="POST",
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as err:
            raise ServerError(f"control({op!r}) failed: {err}\n{self.log_tail(10)}") from err
        if not reply.get("ok"):
            raise ServerError(f"control({op!r}, {args}): {reply.get('error')}")
        return reply.get("result")


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop(timeout=2.0)

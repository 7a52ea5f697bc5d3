"""A rosbridge v2 server over the ROS 2 graph: a websocket server (``websockets``, its own asyncio loop in its own
thread) that relays the rosbridge JSON protocol to rclpy (its own context, node and executor thread). It lets a
rosbridge client (``roslibpy``, ``roslibjs``, :class:`~ember.robots.rosbridge.RosbridgeLink`) reach ROS 2 topics and
services where no ``rosbridge_suite`` is installed, and lets tests cross the rosbridge path against real ROS 2 nodes.

Ops: ``advertise``/``unadvertise``, ``publish``, ``subscribe``/``unsubscribe`` (``throttle_rate`` honoured,
``queue_length`` and ``compression: none`` tolerated), ``call_service`` (to an rclpy service; the type comes from the
graph), ``advertise_service``/``unadvertise_service`` and ``service_response`` (a client serves a ROS 2 service: each
ROS 2 request is forwarded to the client as ``call_service`` and answered with its ``service_response``, or with the
default response after ``service_timeout``). Types are ``pkg/Type`` or ``pkg/msg/Type`` (``pkg/srv/Type``), and
messages convert as rosbridge does (:mod:`ember.robots.rosbridge_messages`). A malformed or unserveable request gets
a ``status`` op with level ``error`` naming the problem; the connection and the server carry on.

Limits: no authentication, fragmentation, PNG/CBOR/BSON compression, actions or parameters; a client-served call
holds this server's executor (so other relaying waits) until the client answers or the timeout passes.
Run one with ``python -m ember.robots.rosbridge_server --port 9090``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import itertools
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ember.robots.ros2 import OwnNode
from ember.robots.rosbridge_messages import BridgeError, dict_to_message, interface_class, message_to_dict

log = logging.getLogger("ember.robots.rosbridge_server")
OUTBOX = 1000
"""Messages queued for one slow client before new ones are dropped."""


@dataclass
class _Subscription:
    handle: Any
    cls: Any
    ids: set[str]
    throttle_s: float
    last: float = -math.inf


@dataclass(eq=False)
class _Client:
    """One websocket connection and the ROS 2 entities it made."""

    ws: Any
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX))
    publishers: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    closed: bool = False
    dropped: int = 0

    def offer(self, text: str) -> None:
        """Queue one outgoing message (loop thread); a full queue drops it."""
        if self.closed:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 10) or self.dropped % 1000 == 0:
                log.warning("rosbridge client too slow: %d messages dropped", self.dropped)


class RosbridgeServer:
    """rosbridge v2 over websockets, relaying to the ROS 2 graph.

    Args:
        host: address to listen on.
        port: port to listen on (0: any free port; :attr:`port` holds the bound one after :meth:`start`).
        node_name: the rclpy node's name.
        service_timeout: seconds a service call may take (either direction).
        max_message_bytes: largest websocket message accepted.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        node_name: str | None = None,
        service_timeout: float = 5.0,
        max_message_bytes: int = 16 * 2**20,
    ) -> None:
        self.host, self.port = host, port
        self.node_name = node_name or f"ember_rosbridge_{os.getpid()}"
        self.service_timeout = service_timeout
        self.max_message_bytes = max_message_bytes
        self._own: OwnNode | None = None
        self._node: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._served: dict[str, _Client] = {}
        self._rclpy_clients: dict[tuple[str, Any], Any] = {}
        self._pending: dict[str, tuple[concurrent.futures.Future[Any], _Client]] = {}
        self._ids = itertools.count(1)
        self._ops = {
            "advertise": self._advertise,
            "unadvertise": self._unadvertise,
            "publish": self._publish,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "call_service": self._call_service,
            "advertise_service": self._advertise_service,
            "unadvertise_service": self._unadvertise_service,
            "service_response": self._service_response,
            "set_level": lambda client, request: None,
        }

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def __enter__(self) -> RosbridgeServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> None:
        """Start the rclpy node and the websocket server; returns once listening on :attr:`port`."""
        self._own = OwnNode(self.node_name)
        self._node = self._own.node
        self._own.spin_in_thread("ember-rosbridge-ros")
        self._loop_thread = threading.Thread(target=self._run_loop, name="ember-rosbridge-ws", daemon=True)
        self._loop_thread.start()
        if not self._ready.wait(timeout) or self._start_error is not None:
            self.stop()
            raise OSError(f"rosbridge server could not listen on {self.host}:{self.port}: {self._start_error}")

    def _run_loop(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        from websockets.asyncio.server import serve

        self._stopping = asyncio.Event()
        try:
            server = await serve(self._handle, self.host, self.port, max_size=self.max_message_bytes, close_timeout=2.0)
        except OSError as err:
            self._start_error = err
            self._ready.set()
            return
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        await self._stopping.wait()
        server.close()
        await server.wait_closed()
        for task in list(self._tasks):  # calls still waiting on a ROS 2 service
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def stop(self) -> None:
        """Close every connection, the websocket server and the rclpy node and context; joins both threads."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for future, _ in pending:  # unblock an executor waiting on a client's answer
            future.cancel()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=10.0)
            self._loop_thread = None
        own, self._own = self._own, None
        if own is not None:
            own.close(join_s=5.0)

    # ------------------------------------------------------------------ connections (loop thread)
    async def _handle(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        client = _Client(ws)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for text in ws:
                self._dispatch(client, text)
        except ConnectionClosed:
            pass
        finally:
            client.closed = True
            sender.cancel()
            self._forget(client)

    async def _send_loop(self, client: _Client) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                await client.ws.send(await client.outbox.get())
        except ConnectionClosed:
            pass

    def _forget(self, client: _Client) -> None:
        """Destroy what a closed connection created and fail the calls it was answering."""
        for pub, _ in client.publishers.values():
            self._node.destroy_publisher(pub)
        for sub in client.subscriptions.values():
            self._node.destroy_subscription(sub.handle)
        for name, srv in client.services.items():
            self._node.destroy_service(srv)
            self._served.pop(name, None)
        client.publishers.clear()
        client.subscriptions.clear()
        client.services.clear()
        with self._lock:
            mine = [k for k, (_, owner) in self._pending.items() if owner is client]
            futures = [self._pending.pop(k)[0] for k in mine]
        for future in futures:
            future.cancel()

    def _send(self, client: _Client, message: dict[str, Any]) -> None:
        """Queue a message for a client; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        text = json.dumps(message)
        try:
            loop.call_soon_threadsafe(client.offer, text)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _status(self, client: _Client, level: str, text: str, request_id: Any = None) -> None:
        message: dict[str, Any] = {"op": "status", "level": level, "msg": text}
        if request_id is not None:
            message["id"] = request_id
        log.info("rosbridge status %s: %s", level, text)
        self._send(client, message)

    def _dispatch(self, client: _Client, text: str | bytes) -> None:
        try:
            request = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            self._status(client, "error", f"malformed JSON: {err}")
            return
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            self._status(client, "error", "a rosbridge message is a JSON object with an 'op' string")
            return
        op, request_id = request["op"], request.get("id")
        handler = self._ops.get(op)
        try:
            if handler is None:
                raise BridgeError(f"unknown op (known: {', '.join(self._ops)})")
            handler(client, request)
        except BridgeError as err:
            self._status(client, "error", f"{op}: {err}", request_id)
        except Exception as err:
            log.exception("rosbridge %s failed", op)
            self._status(client, "error", f"{op} failed: {type(err).__name__}: {err}", request_id)

    # ------------------------------------------------------------------ topics
    @staticmethod
    def _name(request: dict[str, Any], key: str) -> str:
        name = request.get(key)
        if not isinstance(name, str) or not name:
            raise BridgeError(f"needs a {key!r} name")
        return name

    def _graph_type(self, name: str, services: bool) -> str | None:
        graph = self._node.get_service_names_and_types() if services else self._node.get_topic_names_and_types()
        types: list[str] = next((list(t) for n, t in graph if n == name), [])
        return types[0] if len(types) == 1 else None

    def _advertise(self, client: _Client, request: dict[str, Any]) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile

        topic = self._name(request, "topic")
        cls = interface_class(request.get("type"), "msg")
        if topic in client.publishers:
            if client.publishers[topic][1] is not cls:
                raise BridgeError(f"{topic} is already advertised as {client.publishers[topic][1].__name__}")
            return
        depth = request.get("queue_size") or 10
        qos = QoSProfile(depth=max(1, int(depth)) if isinstance(depth, int | float) else 10)
        if request.get("latch"):
            qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
        client.publishers[topic] = (self._node.create_publisher(cls, topic, qos), cls)

    def _unadvertise(self, client: _Client, request: dict[str, Any]) -> None:
        entry = client.publishers.pop(self._name(request, "topic"), None)
        if entry is not None:
            self._node.destroy_publisher(entry[0])

    def _publish(self, client: _Client, request: dict[str, Any]) -> None:
        topic = self._name(request, "topic")
        if topic not in client.publishers:  # rosbridge advertises implicitly when the type is known
            type_name = request.get("type") or self._graph_type(topic, services=False)
            if type_name is None:
                raise BridgeError(f"advertise {topic} (with its type) before publishing to it")
            self._advertise(client, {"topic": topic, "type": type_name})
        publisher, cls = client.publishers[topic]
        publisher.publish(dict_to_message(cls, request.get("msg", {})))

    def _subscribe(self, client: _Client, request: dict[str, Any]) -> None:
        from rclpy.qos import QoSProfile

        topic = self._name(request, "topic")
        type_name = request.get("type") or self._graph_type(topic, services=False)
        if type_name is None:
            raise BridgeError(f"the type of {topic} is not known yet; give 'type'")
        cls = interface_class(type_name, "msg")
        throttle = request.get("throttle_rate", 0) or 0
        if not isinstance(throttle, int | float) or throttle < 0:
            raise BridgeError(f"throttle_rate must be a number of milliseconds >= 0, got {throttle!r}")
        sub_id = str(request.get("id", ""))
        existing = client.subscriptions.get(topic)
        if existing is not None:
            if existing.cls is not cls:
                raise BridgeError(f"{topic} is already subscribed as {existing.cls.__name__}")
            existing.ids.add(sub_id)
            existing.throttle_s = min(existing.throttle_s, throttle / 1000.0)
            return
        entry = _Subscription(None, cls, {sub_id}, throttle / 1000.0)

        def deliver(msg: Any) -> None:  # executor thread
            now = time.monotonic()
            if now - entry.last < entry.throttle_s:
                return
            entry.last = now
            self._send(client, {"op": "publish", "topic": topic, "msg": message_to_dict(msg)})

        entry.handle = self._node.create_subscription(cls, topic, deliver, QoSProfile(depth=10))
        client.subscriptions[topic] = entry

    def _unsubscribe(self, client: _Client, request: dict[str, Any]) -> None:
        topic = self._name(request, "topic")
        entry = client.subscriptions.get(topic)
        if entry is None:
            return
        if "id" in request:
            entry.ids.discard(str(request["id"]))
        if not entry.ids or "id" not in request:
            del client.subscriptions[topic]
            self._node.destroy_subscription(entry.handle)

    # ------------------------------------------------------------------ services
    def _call_service(self, client: _Client, request: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._relay_call(client, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _relay_call(self, client: _Client, request: dict[str, Any]) -> None:
        service, call_id = request.get("service"), request.get("id")
        reply: dict[str, Any] = {"op": "service_response", "service": service, "result": False}
        if call_id is not None:
            reply["id"] = call_id
        timeout = request.get("timeout")
        timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else self.service_timeout
        deadline = time.monotonic() + timeout
        try:
            name = self._name(request, "service")
            type_name = request.get("type") or self._graph_type(name, services=True)
            while type_name is None:
                if time.monotonic() > deadline:
                    raise BridgeError(f"no service {name} on the ROS 2 graph within {timeout:.1f} s")
                await asyncio.sleep(0.02)
                type_name = self._graph_type(name, services=True)
            cls = interface_class(type_name, "srv")
            args = request.get("args") or {}
            ros_request = dict_to_message(cls.Request, args)
            key = (name, cls)
            if key not in self._rclpy_clients:
                self._rclpy_clients[key] = self._node.create_client(cls, name)
            rclpy_client = self._rclpy_clients[key]
            while not rclpy_client.service_is_ready():
                if time.monotonic() > deadline:
                    raise BridgeError(f"service {name} is not available")
                await asyncio.sleep(0.02)
            loop = asyncio.get_running_loop()
            answer: asyncio.Future[Any] = loop.create_future()
            future = rclpy_client.call_async(ros_request)

            def done(f: Any) -> None:  # executor thread
                def settle() -> None:
                    if not answer.done():
                        answer.set_result(f.result())

                try:
                    loop.call_soon_threadsafe(settle)
                except RuntimeError:  # the loop closed meanwhile
                    pass

            future.add_done_callback(done)
            try:
                response = await asyncio.wait_for(answer, max(0.0, deadline - time.monotonic()))
            except TimeoutError as err:
                rclpy_client.remove_pending_request(future)
                raise BridgeError(f"service {name} did not answer within {timeout:.1f} s") from err
            reply["values"], reply["result"] = message_to_dict(response), True
        except Exception as err:
            if not isinstance(err, BridgeError):
                log.exception("rosbridge call_service failed")
            reply["values"] = str(err)
            self._status(client, "error", f"call_service: {err}", call_id)
        self._send(client, reply)

    def _advertise_service(self, client: _Client, request: dict[str, Any]) -> None:
        name = self._name(request, "service")
        cls = interface_class(request.get("type"), "srv")
        owner = self._served.get(name)
        if owner is not None and owner is not client:
            raise BridgeError(f"service {name} is already served by another client")
        if name in client.services:
            self._node.destroy_service(client.services.pop(name))

        def forward(ros_request: Any, response: Any) -> Any:  # executor thread
            return self._forward(client, name, cls, ros_request, response)

        client.services[name] = self._node.create_service(cls, name, forward)
        self._served[name] = client

    def _forward(self, client: _Client, name: str, cls: Any, ros_request: Any, response: Any) -> Any:
        """Ask the serving client and wait for its ``service_response``; on failure, the default response."""
        call_id = f"service_request:{name}:{next(self._ids)}"
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            self._pending[call_id] = (future, client)
        self._send(client, {"op": "call_service", "id": call_id, "service": name, "args": message_to_dict(ros_request)})
        try:
            return dict_to_message(cls.Response, future.result(timeout=self.service_timeout))
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            reason = f"no answer from the rosbridge client serving {name} within {self.service_timeout:.1f} s"
        except BridgeError as err:
            reason = f"the rosbridge client serving {name} answered: {err}"
            self._status(client, "error", f"service_response: {err}", call_id)
        finally:
            with self._lock:
                self._pending.pop(call_id, None)
        log.warning("rosbridge: %s", reason)
        if "message" in response.get_fields_and_field_types():
            response.message = reason
        return response

    def _service_response(self, client: _Client, request: dict[str, Any]) -> None:
        call_id = str(request.get("id"))
        with self._lock:
            entry = self._pending.get(call_id)
            if entry is not None and entry[1] is client:
                del self._pending[call_id]
        if entry is None or entry[1] is not client:
            raise BridgeError(f"no call {call_id!r} is waiting for this client's answer (late, or never asked)")
        if request.get("result") is False:
            entry[0].set_exception(BridgeError(f"service failed: {request.get('values')!r}"))
        else:
            entry[0].set_result(request.get("values") or {})

    def _unadvertise_service(self, client: _Client, request: dict[str, Any]) -> None:
        name = self._name(request, "service")
        if name in client.services:
            self._node.destroy_service(client.services.pop(name))
            self._served.pop(name, None)


def main(argv: list[str] | None = None) -> int:
    """``python -m ember.robots.rosbridge_server [--host H] [--port P]``: serve until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m ember.robots.rosbridge_server", description="rosbridge v2 websocket server over ROS 2"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9090, help="port to listen on (default 9090; 0: any free)")
    parser.add_argument("--service-timeout", type=float, default=5.0, help="seconds a service call may take")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    server = RosbridgeServer(args.host, args.port, service_timeout=args.service_timeout)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"rosbridge ready on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        print("rosbridge stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The rosbridge path: ``RosbridgeServer`` relays the rosbridge v2 protocol to the ROS 2 graph (topics both ways,
services both ways, errors as ``status`` ops), and ``RosbridgeLink`` drives the robot-sim through it, the same
robot the ROS 2 link talks to. Every test stops what it started; no thread outlives a test."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from conftest import HAVE_ROS, requires_ros

if HAVE_ROS:
    import rclpy
    import roslibpy

pytestmark = requires_ros


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, every: Callable[[], None] | None = None) -> Any:
    """Poll until ``condition()`` is truthy (calling ``every()`` each round); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if every is not None:
            every()
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout} s")


@pytest.fixture(autouse=True)
def no_thread_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive() and "_pump" not in t.name]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"threads left behind: {[t.name for t in left]}"


class Ros2Node:
    """An rclpy node of the test's own, spinning in a thread."""

    def __init__(self) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node("rosbridge_test", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # shut down under it
            pass

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 10.0) -> Any:
        client: Any = self.node.create_client(srv_type, name)
        assert client.wait_for_service(timeout_sec=timeout), f"no service {name}"
        future = client.call_async(request)
        wait_for(future.done, timeout)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self.thread.join(2.0)


@pytest.fixture
def ros2() -> Iterator[Ros2Node]:
    node = Ros2Node()
    yield node
    node.close()


@pytest.fixture
def server() -> Iterator[Any]:
    from ember.robots.rosbridge_server import RosbridgeServer

    with RosbridgeServer(service_timeout=1.0) as running:
        yield running


@pytest.fixture
def client(server: Any) -> Iterator[Any]:
    """A roslibpy connection on its asyncio transport; its loop thread is stopped afterwards."""
    ros = roslibpy.Ros(server.url, transport="asyncio")
    ros.run(timeout=5)
    yield ros
    closed = threading.Event()
    ros.on("close", lambda *_: closed.set())
    ros.close()
    assert closed.wait(5.0), "the websocket did not close"
    ros.terminate()


def test_messages_convert_like_rosbridge() -> None:
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import Image, JointState
    from trajectory_msgs.msg import JointTrajectory

    from ember.robots.config import load_robot_config
    from ember.robots.rosbridge import RosbridgeLink
    from ember.robots.rosbridge_messages import BridgeError, dict_to_message, interface_class, message_to_dict

    assert interface_class("sensor_msgs/Image", "msg") is Image is interface_class("sensor_msgs/msg/Image", "msg")
    image = Image(height=1, width=2, encoding="rgb8", data=bytes(range(6)))
    image.header.stamp.sec, image.header.stamp.nanosec = 3, 5
    as_dict = message_to_dict(image)
    assert as_dict["data"] == "AAECAwQF" and as_dict["header"]["stamp"] == {"sec": 3, "nanosec": 5}
    assert bytes(dict_to_message(Image, json.loads(json.dumps(as_dict))).data) == bytes(range(6))
    state = message_to_dict(JointState(name=["a", "b"], position=[1.0, math.nan]))
    assert state["position"] == [1.0, None]
    assert math.isnan(dict_to_message(JointState, state).position[1])
    assert message_to_dict(DiagnosticStatus(level=b"\x02"))["level"] == 2
    assert dict_to_message(DiagnosticStatus, {"level": 1}).level == b"\x01"
    ros1 = dict_to_message(JointTrajectory, {"header": {"stamp": {"secs": 7, "nsecs": 9}, "frame_id": "seq=4"}})
    assert (ros1.header.stamp.sec, ros1.header.stamp.nanosec, ros1.header.frame_id) == (7, 9, "seq=4")
    for bad, names in (
        ({"nme": []}, "'nme'"),
        ({"position": "x"}, "'position'"),
        ({"header": {"stamp": {"nanosec": -1}}}, "'header.stamp.nanosec'"),
        ({"name": [1]}, "'name[0]'"),
    ):
        with pytest.raises(BridgeError, match=re.escape(names)):
            dict_to_message(JointState, bad)
    for unknown in ("nope_msgs/Thing", "sensor_msgs/srv/Image", "../etc", 5):
        with pytest.raises(BridgeError):
            interface_class(unknown, "msg")

    # what the link writes, in either time dialect, is what the server reads
    for ros1 in (False, True):
        link = RosbridgeLink(load_robot_config(None), url="ws://127.0.0.1:1", ros1=ros1)
        sent = dict_to_message(JointTrajectory, link._trajectory(["j1", "j2"], [0.5, -1.0], 12, 3.25))
        assert (sent.header.frame_id, sent.header.stamp.sec, sent.header.stamp.nanosec) == ("seq=12", 3, 250_000_000)
        assert list(sent.points[0].positions) == [0.5, -1.0] and sent.points[0].time_from_start.sec == 0


def test_server_relays_topics_both_ways(ros2: Ros2Node, client: Any) -> None:
    from std_msgs.msg import String

    heard: list[str] = []
    ros2.node.create_subscription(String, "/bridge_in", lambda m: heard.append(m.data), 10)
    to_client = ros2.node.create_publisher(String, "/bridge_out", 10)
    got: list[dict[str, Any]] = []
    roslibpy.Topic(client, "/bridge_out", "std_msgs/msg/String").subscribe(got.append)
    outgoing = roslibpy.Topic(client, "/bridge_in", "std_msgs/String")

    def both_ways() -> None:
        to_client.publish(String(data="from ros2"))
        outgoing.publish({"data": "from rosbridge"})

    wait_for(lambda: got and heard, every=both_ways)
    assert got[0] == {"data": "from ros2"} and heard[0] == "from rosbridge"


def test_server_services_both_ways(server: Any, ros2: Ros2Node, client: Any) -> None:
    from std_srvs.srv import SetBool
    from websockets.sync.client import connect

    # a rosbridge client serves a ROS 2 service
    asked: list[bool] = []

    def serve(request: dict[str, Any], response: dict[str, Any]) -> bool:
        asked.append(request["data"])
        response["success"], response["message"] = True, f"got {request['data']}"
        return True

    roslibpy.Service(client, "/bridge_served", "std_srvs/SetBool").advertise(serve)
    answer = ros2.call(SetBool, "/bridge_served", SetBool.Request(data=True))
    assert (answer.success, answer.message, asked) == (True, "got True", [True])

    # a client that never answers: after the server's timeout the ROS 2 caller gets the default response and why
    with connect(server.url) as silent:
        silent.send(json.dumps({"op": "advertise_service", "service": "/bridge_silent", "type": "std_srvs/SetBool"}))
        answer = ros2.call(SetBool, "/bridge_silent", SetBool.Request(data=True))
        forwarded = json.loads(silent.recv(timeout=1))
    assert forwarded["op"] == "call_service" and forwarded["args"] == {"data": True}
    assert not answer.success and "no answer" in answer.message

    # a rosbridge client calls a ROS 2 service
    def ros2_side(request: Any, response: Any) -> Any:
        response.success, response.message = True, f"ros2 saw {request.data}"
        return response

    ros2.node.create_service(SetBool, "/bridge_ros2", ros2_side)
    result = roslibpy.Service(client, "/bridge_ros2", "std_srvs/SetBool").call({"data": False}, timeout=10)
    assert result["success"] is True and result["message"] == "ros2 saw False"


def test_server_reports_bad_requests_and_keeps_serving(server: Any, ros2: Ros2Node) -> None:
    from std_msgs.msg import String
    from websockets.sync.client import connect

    publisher = ros2.node.create_publisher(String, "/bridge_still", 10)
    with connect(server.url) as ws:

        def reply() -> dict[str, Any]:
            return dict(json.loads(ws.recv(timeout=5)))

        for request, expected in (
            ("{not json", "malformed JSON"),
            ("[1, 2]", "'op'"),
            (json.dumps({"op": "teleport", "id": "t1"}), "teleport: unknown op"),
            (json.dumps({"op": "subscribe", "topic": "/x", "type": "nope_msgs/Thing"}), "nope_msgs/Thing"),
            (json.dumps({"op": "advertise", "topic": "/y", "type": "std_msgs/String"}), None),
            (json.dumps({"op": "publish", "topic": "/y", "msg": {"dta": "x"}}), "'dta'"),
            (json.dumps({"op": "publish", "topic": "/never_advertised", "msg": {}}), "advertise /never_advertised"),
            (json.dumps({"op": "service_response", "id": "nobody", "values": {}}), "no call 'nobody'"),
        ):
            ws.send(request)
            if expected is None:
                continue
            status = reply()
            assert status["op"] == "status" and status["level"] == "error", status
            assert expected in status["msg"], status
        # the connection survived every bad request; a valid one still works:
        ws.send(json.dumps({"op": "subscribe", "id": "s1", "topic": "/bridge_still", "type": "std_msgs/String"}))

        def heard() -> dict[str, Any] | None:
            publisher.publish(String(data="still here"))
            try:
                return dict(json.loads(ws.recv(timeout=0.2)))
            except TimeoutError:
                return None

        message = wait_for(heard)
        assert message == {"op": "publish", "topic": "/bridge_still", "msg": {"data": "still here"}}


def test_server_command_line_runs_until_sigterm() -> None:
    import os
    import signal
    import subprocess
    import sys

    from websockets.sync.client import connect

    command = [sys.executable, "-m", "ember.robots.rosbridge_server", "--port", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("rosbridge ready on ws://127.0.0.1:"), ready
        with connect(ready.split()[-1]) as ws:
            ws.send(json.dumps({"op": "teleport"}))
            assert json.loads(ws.recv(timeout=5))["level"] == "error"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
        assert "rosbridge stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


def test_link_connection_failure_names_the_url() -> None:
    import socket

    from ember.robots.config import load_robot_config
    from ember.robots.link import LinkCallbacks
    from ember.robots.rosbridge import RosbridgeLink

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    link = RosbridgeLink(load_robot_config(None), url=f"ws://127.0.0.1:{port}", connect_timeout=1.0)
    ignore = LinkCallbacks(print, print, print, lambda latch: (True, ""), print)
    with pytest.raises(ConnectionError, match=f"ws://127.0.0.1:{port}.*rosbridge_server"):
        link.start(ignore, [])
    link.close()
    with pytest.raises(ValueError, match="ws://"):
        RosbridgeLink(load_robot_config(None), url="http://robot:9090")


@pytest.mark.slow
def test_world_over_rosbridge_drives_the_robot_sim(robot_sim: Any, server: Any, ros2: Ros2Node) -> None:
    from std_srvs.srv import SetBool

    from ember.robots.config import load_robot_config
    from ember.robots.rosbridge import RosbridgeLink
    from ember.robots.world import RobotWorld
    from ember.sims.predicates import Atom

    robot_sim("seed=3")
    cfg = load_robot_config(None)
    link = RosbridgeLink(cfg, url=server.url)
    world = RobotWorld(link, cfg, connect_timeout=30.0)
    try:
        facts = world.facts()
        assert Atom("holding", ("panda", "none")) in facts
        assert Atom("on", ("red_cube", "table")) in facts, sorted(map(str, facts))
        from diagnostic_msgs.msg import DiagnosticArray

        health: list[Any] = []
        ros2.node.create_subscription(DiagnosticArray, cfg.topics.diagnostics, health.append, 10)
        start, yaw = world.ee_pose("panda")
        for i in range(1, 46):  # 5 cm down over 1.5 s at 30 Hz
            world.apply("panda", {"ee_pos": start - np.array([0.0, 0.0, 0.05 * min(1.0, i / 30)]), "ee_yaw": yaw})
            world.advance()
        wait_for(lambda: world.ee_pose("panda")[0][2] < start[2] - 0.035, timeout=5.0)
        assert world.fault() is None
        assert world.counters["commands"] > 0 and world.counters["refused"] == 0
        assert link.errors == []  # the server took every message the link sent
        wait_for(lambda: health, timeout=5.0)  # diagnostics reached ROS 2
        assert health[-1].status[0].name == "ember: panda" and health[-1].status[0].level == b"\x00"

        # an image that does not decode is dropped with its reason, not raised on roslibpy's thread
        link._ros.emit(cfg.topics.camera, {"height": 1, "width": 1, "encoding": "rgb8", "data": "not base64!"})
        assert world.counters["rejected_states"] == 1

        answer = ros2.call(SetBool, cfg.topics.estop, SetBool.Request(data=True))
        assert answer.success
        fault = world.fault()
        assert fault is not None and "e-stop" in fault
    finally:
        world.close()

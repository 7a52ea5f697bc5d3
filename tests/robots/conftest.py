"""ROS 2 test fixtures: a random ROS_DOMAIN_ID per test session, discovery kept on this machine, and ``ember
robot-sim`` processes that are always stopped (SIGTERM, then SIGKILL) when a test ends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import rclpy  # noqa: F401

    HAVE_ROS = True
except ImportError:  # pragma: no cover - depends on the install
    HAVE_ROS = False

requires_ros = pytest.mark.skipif(
    not HAVE_ROS, reason="the ROS extra is not installed: pip install -e '.[ros]' (make setup installs it)"
)


@pytest.fixture(scope="session", autouse=True)
def ros_domain() -> Iterator[int]:
    """One random domain for this session, so parallel runs on one machine never hear each other."""
    domain = random.SystemRandom().randint(1, 100)
    saved = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    yield domain
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class RobotSimProcess:
    """``ember robot-sim`` in a child process; its output goes to ``log``."""

    def __init__(self, log: Path, *overrides: str) -> None:
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ember.launch.cli", "robot-sim", *overrides],
            stdout=subprocess.PIPE,
            stderr=self._out,
            text=True,
            start_new_session=True,
        )
        self.ready = threading.Event()
        threading.Thread(target=self._pump, daemon=True).start()
        if not self.ready.wait(60.0):
            self.stop()
            raise RuntimeError(f"robot-sim did not start within 60 s; see {log}: {log.read_text()[-2000:]}")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._out.write(line)
            self._out.flush()
            if line.startswith("robot-sim ready"):
                self.ready.set()

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self._out.close()


@pytest.fixture
def robot_sim(tmp_path: Path) -> Iterator[type[RobotSimProcess]]:
    """Factory: ``robot_sim("seed=3")`` starts a robot-sim; every one started is stopped after the test."""
    started: list[RobotSimProcess] = []

    def start(*overrides: str) -> RobotSimProcess:
        sim = RobotSimProcess(tmp_path / f"robot_sim_{len(started)}.log", *overrides)
        started.append(sim)
        return sim

    yield start  # type: ignore[misc]
    for sim in started:
        sim.stop()

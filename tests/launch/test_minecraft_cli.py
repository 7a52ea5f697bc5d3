"""``ember run task=minecraft`` from a subprocess, as a user runs it: what it refuses before a server starts, how a
user error whose message is not text is printed, and how a run stops on SIGTERM or Ctrl-C (no node process left)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EMBER = [sys.executable, "-m", "ember.launch.cli", "run", "task=minecraft", "progress=false", "video=false"]
STARTED_S = 60.0
"""Longest wait for the server and the bots to be up [s]."""


def _ember(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EMBER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("version", ["1.8", "1.13", "1.18.2"])
def test_unsupported_versions_are_refused_before_a_server_starts(tmp_path: Path, version: str) -> None:
    """1.8 crashed in the data loader, 1.13 printed a second crash over ``KeyError: 0``, 1.18.2 said sticks can be
    neither mined nor crafted."""
    proc = _ember(tmp_path, 'goal="craft sticks"', f"task.version='{version}'", "skill_store=null")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"task.version={version} is not supported (supported: 1.19, " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("server.log"))  # no server was started


@pytest.mark.parametrize(
    ("goal", "says"),
    [
        ("craft a wooden pickaxe and 3", "the count 3 at the end names no item"),
        ("has(bot2, oak_log, 2)", "'bot2' is not one of this run's bots"),
        ("craft a flux capacitor", "'flux' is not a Minecraft item"),
        ("stack green on red", "task=minecraft needs a goal of its own"),
    ],
)
def test_goals_the_planner_refuses_are_refused_before_a_server_starts(tmp_path: Path, goal: str, says: str) -> None:
    """They were refused as well, but only once the server and the bots were up (7 s in, 16 s on a busy machine)."""
    given = [] if goal == "stack green on red" else [f'goal="{goal}"']  # the default goal: none given
    proc = _ember(tmp_path, *given, "skill_store=null", "bots=2")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert says in " ".join(proc.stderr.split()) and "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("server.log"))


def test_missing_node_packages_are_a_one_line_error(tmp_path: Path) -> None:
    """A traceback before: the setup error was not among the user errors ``ember run`` prints in one line."""
    env = {**os.environ, "EMBER_NODE_MODULES": str(tmp_path / "none")}
    proc = subprocess.run(
        [*EMBER, 'goal="craft sticks"', "skill_store=null"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "run `npm ci`" in " ".join(proc.stderr.split())


def test_a_key_error_that_is_not_text_is_printed(tmp_path: Path) -> None:
    """``KeyError(0)`` is a user error; its message, the int 0, crashed rich's print a second time."""
    script = (
        "import sys\n"
        "import ember.launch.run as run\n"
        "def boom(*args, **kwargs):\n"
        "    raise KeyError(0)\n"
        "run.run_episode = boom\n"
        "sys.argv = ['ember-run', 'task=minecraft', 'goal=craft sticks', 'progress=false', 'hydra.run.dir=out']\n"
        "run.main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: 0" in proc.stderr and "Traceback" not in proc.stderr


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc; no psutil needed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = set(), [pid]
    while todo:
        below = todo.pop()
        children = [p for p, parent in parents.items() if parent == below]
        found.update(children)
        todo += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie (exited, not yet reaped by its new parent) runs nothing


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "group"), [(signal.SIGTERM, False), (signal.SIGINT, True)])
def test_a_signal_stops_the_server_and_the_bridge(tmp_path: Path, sig: signal.Signals, group: bool) -> None:
    """SIGTERM left ``node js/server.js`` and JSPyBridge's ``bridge.js`` running under PID 1; Ctrl-C (SIGINT to the
    whole process group, as a terminal sends it) printed two tracebacks. Now both end in one line, and no node."""
    out = tmp_path / "stderr.txt"  # a file, not a pipe: a node process left running would hold a pipe open
    with out.open("w") as sink:
        run = subprocess.Popen(
            [*EMBER, 'goal="collect 60 dirt"', "task.trees=0", "task.obstacles=0", "skill_store=null"],
            cwd=tmp_path,
            stdout=sink,
            stderr=sink,
            start_new_session=True,  # its own process group: the signal reaches nothing of pytest's
        )
    try:
        deadline = time.monotonic() + STARTED_S
        nodes: set[int] = set()
        while time.monotonic() < deadline and run.poll() is None:
            nodes = {p for p in _descendants(run.pid) if "node" in Path(f"/proc/{p}/comm").read_text(errors="ignore")}
            traces = list(tmp_path.rglob("trace.jsonl"))
            if len(nodes) >= 2 and traces and '"skill_start"' in traces[0].read_text(errors="ignore"):
                break  # the server and the bridge run, and a bot is digging
            time.sleep(0.5)
        assert run.poll() is None and len(nodes) >= 2, f"not started: {nodes}\n{out.read_text()[-2000:]}"
        time.sleep(2.0)  # steady: neither node process writes to Python then (one that did would die of EPIPE)
        (os.killpg if group else os.kill)(run.pid, sig)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    err = out.read_text()
    time.sleep(1.0)
    left = [p for p in nodes if _alive(p)]
    for pid in left:  # not to leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"node processes left running: {left}"
    assert run.returncode == 128 + sig, err[-2000:]
    assert f"interrupted ({sig.name})" in err and "Traceback" not in err, err[-2000:]

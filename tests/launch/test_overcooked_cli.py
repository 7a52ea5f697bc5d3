"""``ember run task=overcooked`` end to end, from a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import default_sigint

pytestmark = pytest.mark.slow
EMBER = [sys.executable, "-m", "ember.launch.cli", "run", "task=overcooked", "progress=false"]


def test_run_writes_soups_trace_and_gif(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*EMBER, "layout=coordination_ring", "planner=symbolic", "partner=greedy", "episodes=2", "task.horizon=120"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = [p.parent for p in (tmp_path / "runs").rglob("metrics.json")]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["layout"] == "coordination_ring" and metrics["partner"] == "greedy" and len(metrics["soups"]) == 2
    events = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"episode_start", "skill_start", "skill_end", "episode_end"} <= kinds
    assert all(e["agent"] == "chef0" for e in events if e["event"] == "skill_start")  # seat 0; the partner is chef1
    assert (run / "episode.gif").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["partner=genius"], "partner 'genius' is unknown"),
        (["partner=ppo", "layout=coordination_ring"], "no committed self-play partner for layout 'coordination_ring'"),
        (["layout=kitchen_nightmare"], "layout 'kitchen_nightmare' is unknown"),
        (["planner=llm", "planner.base_url=ftp://x", "planner.model=m"], "planner.base_url must be an http(s) URL"),
        (["seat=2", "partner=stay"], "seat=2: must be in [0, 1]"),
        (["task.horizon=99999999999"], "task.horizon=99999999999: must be in [1, 100000]"),  # ran for ever
    ],
)
def test_bad_input_exits_2_naming_the_field(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = subprocess.run([*EMBER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr


def test_ctrl_c_keeps_the_finished_episodes_metrics(tmp_path: Path) -> None:
    """A long run stopped with Ctrl-C wrote nothing before; now metrics.json holds the episodes played, exit 130."""
    proc = subprocess.Popen(
        [*EMBER, "episodes=50", "task.horizon=400", "video=false"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:  # until the first episode has ended
            traces = list((tmp_path / "runs").rglob("trace.jsonl"))
            if traces and '"episode_end"' in traces[0].read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "interrupted in episode" in err
    metrics = json.loads(next((tmp_path / "runs").rglob("metrics.json")).read_text())
    assert metrics["interrupted"] and 1 <= metrics["episodes_played"] == len(metrics["soups"]) < 50


def test_train_a_self_play_partner_then_play_beside_it(tmp_path: Path) -> None:
    train = [sys.executable, "-m", "ember.launch.cli", "train", "progress=false", "task=overcooked_selfplay"]
    args = ["algo=ppo", "algo.num_steps=25", "total_steps=400", "eval_every_steps=200", "task.num_envs=8"]
    args += ["task.eval_envs=2", "task.horizon=25", "task.shaping_steps=200", "hydra.run.dir=selfplay"]
    proc = subprocess.run([*train, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "selfplay" / "metrics.json").read_text())
    assert metrics["algo"] == "ppo" and metrics["env_steps"] == 400
    partner = tmp_path / "selfplay" / "partner.pt"
    assert partner.is_file() and (tmp_path / "selfplay" / "policy.pt2").is_file()
    proc = subprocess.run(
        [*EMBER, f"partner={partner}", "seat=1", "episodes=1", "task.horizon=30"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (run,) = [p.parent for p in (tmp_path / "runs").rglob("metrics.json")]
    assert json.loads((run / "metrics.json").read_text())["partner"] == str(partner)
    # SAC cannot drive discrete actions: refused with the fix.
    proc = subprocess.run([*train, "algo=sac", "total_steps=10"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "algo=ppo" in proc.stderr

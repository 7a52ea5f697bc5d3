"""Scripted demonstrations on the push_obstacle task, recorded into a dataset; ``ember data``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ember.sims import make_env
from ember.sims.pybullet.tabletop_env import obstacle_side
from ember.skills.data.dataset import EpisodeDataset, EpisodeWriter
from ember.skills.data.recorder import episode_fields, record
from ember.skills.tabletop.demos import ObstaclePushDemonstrator


@pytest.mark.parametrize("side", [1, -1])
def test_demonstrations_pass_the_post_on_the_side_they_chose(tmp_path: Path, side: int) -> None:
    env = make_env("tabletop_push_obstacle", num_envs=2)
    try:
        writer = EpisodeWriter(tmp_path / "d.zarr", episode_fields(env), {"task": "tabletop_push_obstacle"})
        counts = record(env, ObstaclePushDemonstrator(2, side=side, seed=0), writer, 4, seed=3, action_noise=0.05)
    finally:
        env.close()
    data = EpisodeDataset(tmp_path / "d.zarr")
    assert counts["episodes"] == 4 and len(data) == 4
    name = "left" if side > 0 else "right"
    passed = []
    for arrays, attrs in data:
        assert attrs["side"] == name
        assert arrays["policy"].shape == (attrs["length"], 25) and arrays["action"].shape == (attrs["length"], 4)
        np.testing.assert_allclose(arrays["goal"], arrays["policy"][:, 21:23])
        assert np.all(np.abs(arrays["action"]) <= 1.0)
        if attrs["success"]:
            passed.append(obstacle_side(arrays["policy"]))
    assert len(passed) >= 3 and set(passed) == {name}


def test_data_cli_info_and_errors(tmp_path: Path) -> None:
    ember = [sys.executable, "-m", "ember.launch.cli", "data"]
    out = tmp_path / "demos.zarr"
    proc = subprocess.run(
        [*ember, "record", "--episodes", "2", "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["episodes"] == 2
    info = subprocess.run([*ember, "info", str(out)], capture_output=True, text=True, timeout=120)
    summary = json.loads(info.stdout)
    assert summary["episodes"] == 2 and summary["fields"]["action"]["shape"] == [4]
    assert summary["meta"]["task"] == "tabletop_push_obstacle"
    bad = subprocess.run([*ember, "info", str(tmp_path / "missing")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "not a dataset" in bad.stderr
    bad = subprocess.run(
        [*ember, "record", "--task", "pendulum", "--out", str(tmp_path / "x")], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "has no demonstrator" in bad.stderr

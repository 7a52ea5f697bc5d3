"""Episode datasets: round trip, refusals with the field named, and crash safety under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from ember.skills.data.dataset import DatasetError, EpisodeDataset, EpisodeWriter, Field

FIELDS = {"obs": Field((3,)), "action": Field((2,)), "reward": Field(())}


def _episode(rng: np.random.Generator, length: int) -> dict[str, np.ndarray]:
    return {
        "obs": rng.normal(size=(length, 3)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(length, 2)).astype(np.float32),
        "reward": rng.normal(size=length).astype(np.float32),
    }


def test_round_trip_and_append(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.zarr"
    writer = EpisodeWriter(path, FIELDS, {"task": "unit"}, chunk_steps=4)
    written = [_episode(rng, n) for n in (5, 9, 1)]
    for k, ep in enumerate(written):
        assert writer.add(ep, success=k != 1, side="left") == k
    more = _episode(rng, 7)
    assert EpisodeWriter(path, FIELDS).add(more, success=True) == 3  # reopening appends
    data = EpisodeDataset(path)
    assert len(data) == 4 and data.meta == {"task": "unit"}
    for k, ep in enumerate([*written, more]):
        arrays, attrs = data.episode(k)
        for name in FIELDS:
            np.testing.assert_array_equal(arrays[name], ep[name])
        assert attrs["length"] == len(ep["obs"])
    info = data.info()
    assert info["episodes"] == 4 and info["steps"] == 22 and info["success_rate"] == 0.75
    assert info["counts"]["side"] == {"left": 3}


def test_appending_keeps_each_recordings_settings(tmp_path: Path) -> None:
    """A noisier recording appended to a dataset used to leave its root meta saying action_noise 0.0."""
    path, rng = tmp_path / "d.zarr", np.random.default_rng(0)
    base = {"task": "unit", "seed": 0, "action_noise": 0.0}
    EpisodeWriter(path, FIELDS, base).add(_episode(rng, 3))
    EpisodeWriter(path, FIELDS, {**base, "action_noise": 0.5}).add(_episode(rng, 3))
    assert EpisodeDataset(path).meta["recordings"] == [
        {"seed": 0, "action_noise": 0.0},
        {"seed": 0, "action_noise": 0.5},
    ]
    with pytest.raises(DatasetError, match=r"already holds a recording with .* pass another --seed"):
        EpisodeWriter(path, FIELDS, {**base, "action_noise": 0.5})
    with pytest.raises(DatasetError, match="was recorded with task='unit', this recording has task='other'"):
        EpisodeWriter(path, FIELDS, {**base, "task": "other", "seed": 7})
    assert len(EpisodeDataset(path)) == 2


def test_a_lost_chunk_file_is_damage_not_zeros(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "d.zarr"
    writer = EpisodeWriter(path, FIELDS, chunk_steps=4)
    zeros = {name: np.zeros_like(a) for name, a in _episode(rng, 9).items()}
    writer.add(zeros)  # all-zero chunks are files too: this episode is whole
    writer.add(_episode(rng, 9))
    data = EpisodeDataset(path)
    np.testing.assert_array_equal(data.episode(0)[0]["obs"], zeros["obs"])
    (path / "episodes" / "episode_000001" / "obs" / "c" / "0" / "0").unlink()
    with pytest.raises(DatasetError, match=r"episode_000001: chunk files of \['obs'\] are missing"):
        data.episode(1)


def test_bad_episodes_are_refused_with_the_field_named(tmp_path: Path) -> None:
    writer = EpisodeWriter(tmp_path / "d.zarr", FIELDS)
    ep = _episode(np.random.default_rng(0), 4)
    with pytest.raises(DatasetError, match="missing \\['reward'\\]"):
        writer.add({k: v for k, v in ep.items() if k != "reward"})
    with pytest.raises(DatasetError, match="field 'obs'"):
        writer.add({**ep, "obs": np.zeros((4, 5))})
    with pytest.raises(DatasetError, match="NaN"):
        writer.add({**ep, "action": np.full((4, 2), np.nan)})
    with pytest.raises(DatasetError, match="same number of steps"):
        writer.add({**ep, "reward": np.zeros(3)})
    with pytest.raises(DatasetError, match="already holds episodes with fields"):
        EpisodeWriter(tmp_path / "d.zarr", {"obs": Field((4,))})
    assert len(EpisodeDataset(tmp_path / "d.zarr")) == 0
    with pytest.raises(DatasetError, match="not a dataset"):
        EpisodeDataset(tmp_path / "nothing")


def test_a_killed_recording_loses_at_most_the_current_episode(tmp_path: Path) -> None:
    path = tmp_path / "d.zarr"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from ember.skills.data.dataset import EpisodeWriter, Field
        w = EpisodeWriter({str(path)!r}, {{"obs": Field((64,)), "action": Field((8,))}}, chunk_steps=16)
        rng = np.random.default_rng(0)
        for k in range(100000):
            n = 200 + k % 50
            w.add({{"obs": np.full((n, 64), k, np.float32), "action": np.full((n, 8), k, np.float32)}}, success=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((path / "episodes").glob("episode_*"))) < 5:
            time.sleep(0.05)
        time.sleep(0.137)  # land somewhere inside an episode's write
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    data = EpisodeDataset(path)
    indices = data.indices()
    assert len(indices) >= 5 and indices == list(range(len(indices)))
    for k in indices:
        arrays, attrs = data.episode(k)
        assert attrs["length"] == 200 + k % 50 and arrays["obs"].shape == (attrs["length"], 64)
        assert np.all(arrays["obs"] == k) and np.all(arrays["action"] == k)
    assert not (path / "_staging").exists() or not any((path / "_staging").iterdir())
    writer = EpisodeWriter(path, {"obs": Field((64,)), "action": Field((8,))})
    assert writer.add({"obs": np.zeros((2, 64)), "action": np.zeros((2, 8))}) == len(indices)


def test_reading_during_a_recording_keeps_the_episode_being_written(tmp_path: Path) -> None:
    path = tmp_path / "d.zarr"
    script = textwrap.dedent(
        f"""
        import sys, time
        from ember.skills.data.dataset import EpisodeWriter, Field
        w = EpisodeWriter({str(path)!r}, {{"obs": Field((1,))}})
        (w.path / "_staging" / "episode_000000").mkdir(parents=True)  # an episode half written
        print("ready", flush=True)
        time.sleep(30)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        EpisodeDataset(path)  # a reader while the writer lives: its staging stays
        assert (path / "_staging" / "episode_000000").is_dir()
        with pytest.raises(DatasetError, match="being written by another recording"):
            EpisodeWriter(path, {"obs": Field((1,))})
    finally:
        proc.kill()
        proc.wait(timeout=30)
    EpisodeDataset(path)  # the writer is gone: its leftovers are swept
    assert not (path / "_staging").exists()

"""The run directory keeps runs apart."""

from __future__ import annotations

import json
from pathlib import Path

from ember.launch.rundir import RunDir


def test_a_second_run_in_the_same_folder_gets_its_own(tmp_path: Path) -> None:
    """Two runs started in the same second resolve to one timestamped folder: the second must not interleave its
    trace with the first or overwrite its metrics."""
    first, second = RunDir(tmp_path / "t_seed0"), RunDir(tmp_path / "t_seed0")
    first.trace({"event": "a"})
    second.trace({"event": "b"})
    first.write_json("metrics.json", {"run": 1})
    second.write_json("metrics.json", {"run": 2})
    first.close()
    second.close()
    assert second.path == tmp_path / "t_seed0_2"
    assert [json.loads(line)["event"] for line in (first.path / "trace.jsonl").read_text().splitlines()] == ["a"]
    assert json.loads((first.path / "metrics.json").read_text()) == {"run": 1}
    assert json.loads((second.path / "metrics.json").read_text()) == {"run": 2}

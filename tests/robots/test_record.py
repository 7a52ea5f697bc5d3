"""``record=``: the bag directory is checked before the run connects to a robot, so a path it cannot write ends in
one line and exit 2 (it was a FileExistsError or rosbags' FileNotFoundError traceback); no ROS process is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ember.robots.record import RecordError, check_record_path


def test_a_record_path_must_be_new_and_creatable(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordError, match=r"record='.*old' exists \(a directory\); give a new directory"):
        check_record_path(tmp_path / "old")
    with pytest.raises(RecordError, match=r"record='.*file' exists \(a file\)"):
        check_record_path(tmp_path / "file")
    with pytest.raises(RecordError, match=r"record='.*file/bag': '.*file' is a file, not a directory"):
        check_record_path(tmp_path / "file" / "bag")
    with pytest.raises(RecordError, match=r"record='' is empty"):
        check_record_path("")
    if Path("/proc/self").exists():  # Linux: nothing can be created in /proc, not even by root
        with pytest.raises(RecordError, match=r"record='/proc/nope': cannot create it"):
            check_record_path("/proc/nope")
    assert check_record_path(tmp_path / "new" / "deep" / "bag") == tmp_path / "new" / "deep" / "bag"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "old"]  # the check leaves nothing behind


def test_the_recorder_refuses_an_existing_bag_with_a_record_error(tmp_path: Path) -> None:
    pytest.importorskip("rosbags")
    from ember.robots.record import McapRecorder

    with pytest.raises(RecordError, match="exists"):
        McapRecorder(tmp_path)
    recorder = McapRecorder(tmp_path / "bag")
    recorder.close()
    assert list((tmp_path / "bag").glob("*.mcap"))


@pytest.mark.parametrize("where", ["existing", "/proc/nope"])
def test_ember_run_refuses_a_bad_record_path_before_connecting(where: str, tmp_path: Path) -> None:
    if where == "/proc/nope" and not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    bag = str(tmp_path) if where == "existing" else where
    args = ["backend=ros", f"record={bag}", "goal='\"put red in the tray\"'", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(
        [sys.executable, "-m", "ember.launch.cli", "run", *args, "progress=false"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"record='{bag}'" in proc.stderr and "Traceback" not in proc.stderr
    assert "nothing heard" not in proc.stderr  # refused before it waited for a robot

"""``ember train policy=...`` and ``ember eval`` end to end, from a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
EMBER = [sys.executable, "-m", "ember.launch.cli"]


def _ember(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*EMBER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)


def test_train_records_trains_resumes_and_eval_rolls_out(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [
        "train",
        "policy=beso",
        "task=tabletop_push_obstacle",
        "policy.demos=3",
        "policy.steps=200",
        "policy.checkpoint_every=100",
        "policy.hidden=32",
        "policy.eval_episodes=1",
        "progress=false",
        f"hydra.run.dir={run}",
    ]
    proc = _ember(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["policy"] == "beso" and metrics["gradient_steps"] == 200 and metrics["eval"]["episodes"] == 1
    assert (run / "demos.zarr" / "zarr.json").is_file() and (run / "checkpoints" / "last.pt").is_file()
    assert list((run / "tensorboard").iterdir())
    # A resumed run continues from the checkpoint (here: already complete) without recording again.
    resumed = _ember(tmp_path, *args[:-1], f"resume={run}", "policy.steps=300")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "metrics.json").read_text())["gradient_steps"] == 300

    evaluation = _ember(tmp_path, "eval", f"checkpoint={run / 'policy.pt'}", "episodes=2", "steps=1", "progress=false")
    assert evaluation.returncode == 0, evaluation.stderr
    summary = json.loads(evaluation.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and summary["steps"] == 1 and "side_left" in summary


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "policy=beso", "task=tabletop_push_obstacle", "policy.dataset=nowhere.zarr"], "not a dataset"),
        (["train", "policy=beso", "task=pendulum"], "has no scripted demonstrator"),
        (["train", "policy=beso", "task=tabletop_push_obstacle", "policy.sampler=rk4"], "sampler must be one of"),
        (["eval", "checkpoint=missing.pt"], "missing.pt"),
    ],
)
def test_bad_input_names_the_field(tmp_path: Path, args: list[str], needle: str) -> None:
    proc = _ember(tmp_path, *args, "progress=false")
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr


def test_eval_refuses_a_file_that_is_not_a_policy(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    proc = _ember(tmp_path, "eval", "checkpoint=junk.pt", "progress=false")
    assert proc.returncode == 2 and "is not a policy written by" in proc.stderr


def test_eval_refuses_sampling_options_for_a_policy_that_does_not_sample(tmp_path: Path) -> None:
    bc = Path(__file__).resolve().parents[2] / "skills" / "tabletop" / "checkpoints" / "push_obstacle_bc" / "policy.pt"
    out = _ember(tmp_path, "eval", f"checkpoint={bc}", "episodes=1", "sampler=heun", "guidance=2", "progress=false")
    assert out.returncode == 2 and "a bc policy does not sample" in out.stderr and "guidance=2" in out.stderr

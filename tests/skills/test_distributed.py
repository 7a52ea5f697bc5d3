"""Data-parallel learners (issue 12): ``torchrun`` with 2 gloo ranks on B/2 envs each makes the update 1 rank makes
on B envs, ranks stay identical, and ``ember train`` under ``torchrun`` writes one run directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import plain

HERE = Path(__file__).parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _run(cmd: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_two_gloo_ranks_on_half_batches_make_the_one_rank_update(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    script = str(HERE / "dist_ppo_update.py")
    _run([sys.executable, script, str(one)], tmp_path)
    _run([*TORCHRUN, script, str(two)], tmp_path)
    single = torch.load(one / "params_0.pt")
    rank0, rank1 = torch.load(two / "params_0.pt"), torch.load(two / "params_1.pt")
    for name, value in single.items():
        assert torch.equal(rank0[name], rank1[name]), f"ranks disagree on {name}"
        torch.testing.assert_close(rank0[name], value, rtol=0, atol=1e-5, msg=lambda m, n=name: f"{n}: {m}")
    assert rank0["first_grad"].abs().max() > 1e-3  # a real gradient was compared


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_ember_train_under_torchrun_writes_one_run(tmp_path: Path, algo: str) -> None:
    run = tmp_path / "run"
    budget = ["total_steps=8192", "eval_every_steps=4096"] if algo == "ppo" else ["total_steps=1200"]
    out = _run(
        [
            *TORCHRUN,
            "-m",
            "ember.launch.cli",
            "train",
            f"algo={algo}",
            "task.num_envs=16",
            "progress=false",
            "stop_at_target=false",
            *budget,
            f"hydra.run.dir={run}",
        ],
        tmp_path,
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["distributed"] == "torchrun x2" and metrics["env_steps"] >= int(budget[0].split("=")[1])
    assert plain(out.stdout + out.stderr).count('"distributed": "torchrun x2"') == 1  # only rank 0 reports
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "policy.pt2").is_file()
    assert len(list((run / "tensorboard").iterdir())) == 1  # one writer

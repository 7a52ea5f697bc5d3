"""Sweep results tables (``ember.launch.sweep``), and ``ember train -m`` on the joblib and Ray launchers."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from helpers import plain
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from ember.launch import sweep

EMBER = [sys.executable, "-m", "ember.launch.cli"]
TINY = ["total_steps=600", "eval_every_steps=300", "algo.learning_starts=100", "progress=false"]
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def _metrics(best: float | None) -> dict[str, Any]:
    return {"task": "pendulum", "algo": "sac", "env_steps": 600, "wall_s": 1.5, "best_eval_return": best}


def _job(sweep_dir: Path, num: int, overrides: list[str], **files: Any) -> Path:
    """A job dir as Hydra leaves it (``.hydra/overrides.yaml``, ``hydra.yaml``), plus ``files`` as JSON
    (``metrics=...`` -> metrics.json, ``job_status=...`` -> job_status.json)."""
    job = sweep_dir / str(num)
    (job / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": {"job": {"num": num}}}), job / ".hydra" / "hydra.yaml")
    for name, content in files.items():
        (job / f"{name}.json").write_text(json.dumps(content))
    return job


def _multirun_yaml(sweep_dir: Path, task_overrides: list[str]) -> None:
    cfg = {"hydra": {"sweeper": {"_target_": BASIC_SWEEPER, "params": None}, "overrides": {"task": task_overrides}}}
    OmegaConf.save(OmegaConf.create(cfg), sweep_dir / "multirun.yaml")


def _csv_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "results.csv").open() as f:
        return list(csv.DictReader(f))


def test_table_has_every_job_the_best_and_why_others_are_not_ok(tmp_path: Path) -> None:
    # algo.lr=0.001,0.0003 x seed=0,1: job 0 ok, 1 ok (best), 2 raised, 3 has no metrics.json;
    # 2 more seeds of lr 0.0003 were launched whose dirs are not here (another machine's).
    _multirun_yaml(tmp_path, ["algo.lr=0.001,0.0003", "seed=0,1,2", "total_steps=600"])
    _job(tmp_path, 0, ["algo.lr=0.001", "seed=0", "total_steps=600"], metrics=_metrics(-300.0))
    _job(tmp_path, 1, ["algo.lr=0.001", "seed=1", "total_steps=600"], metrics=_metrics(-150.0))
    failed = {"job": 2, "status": "failed", "error": "ValueError: lr must be > 0"}
    _job(tmp_path, 2, ["algo.lr=0.001", "seed=2", "total_steps=600"], job_status=failed)
    _job(tmp_path, 3, ["algo.lr=0.0003", "seed=0", "total_steps=600"])

    results = sweep.rebuild(tmp_path)

    statuses = [(j.job, j.status) for j in results.jobs]
    assert statuses == [(0, "ok"), (1, "ok"), (2, "failed"), (3, "missing"), (4, "missing"), (5, "missing")]
    assert results.jobs[2].error == "ValueError: lr must be > 0"
    assert "metrics.json" in str(results.jobs[3].error)
    assert "sync" in str(results.jobs[4].error)
    assert results.jobs[5].overrides == {"algo.lr": "0.0003", "seed": "2", "total_steps": "600"}
    rows = _csv_rows(tmp_path)
    assert [r["job"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [r["best"] for r in rows] == ["False", "True", "False", "False", "False", "False"]
    assert rows[1]["algo.lr"] == "0.001" and rows[1]["seed"] == "1" and rows[1]["best_eval_return"] == "-150.0"
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "ValueError: lr must be > 0"
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["best"]["job"] == 1 and summary["best"]["best_eval_return"] == -150.0
    assert summary["counts"] == {"ok": 2, "failed": 1, "missing": 3}
    assert summary["swept"] == ["algo.lr", "seed"]
    assert summary["best_over_seeds"] == {
        "overrides": {"algo.lr": "0.001"},
        "mean": -225.0,
        "std": 75.0,
        "seeds_ok": 2,
        "seeds": 3,
    }


def test_unrankable_returns_never_win_and_clashing_names_are_kept_apart(tmp_path: Path) -> None:
    _job(tmp_path, 0, ["task=pendulum"], metrics=_metrics(None))
    _job(tmp_path, 1, ["task=pendulum"], metrics=_metrics(float("-inf")))
    _job(tmp_path, 2, ["task=pendulum"], metrics=_metrics(-900.0))

    results = sweep.rebuild(tmp_path)  # no multirun.yaml: the job dirs alone

    assert results.best is not None and results.best.job == 2
    row = _csv_rows(tmp_path)[2]
    assert row["task"] == "pendulum" and row["metrics.task"] == "pendulum"  # override task= and the metric


def test_rebuild_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _job(tmp_path, 0, ["seed=0"], metrics=_metrics(-400.0))
    _job(tmp_path, 1, ["seed=1"], metrics=_metrics(-350.0))

    sweep.main([str(tmp_path)])

    out = capsys.readouterr().out
    assert "best: job 1" in out and "results.csv" in out
    assert len(_csv_rows(tmp_path)) == 2


@pytest.mark.parametrize(
    ("make", "needle"),
    [(lambda p: p / "nope", "does not exist"), (lambda p: p, "no multirun.yaml and no job dirs")],
)
def test_rebuild_of_a_non_sweep_dir_says_what_to_give(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: Any, needle: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        sweep.main([str(make(tmp_path))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and str(tmp_path) in err


def _job_config(tmp_path: Path, mode: RunMode) -> Any:
    return OmegaConf.create({"hydra": {"mode": mode, "job": {"num": 3}, "runtime": {"output_dir": str(tmp_path)}}})


def test_a_job_that_raised_is_recorded_as_failed(tmp_path: Path) -> None:
    table = sweep.SweepTable()
    ret = JobReturn(status=JobStatus.FAILED)
    ret.return_value = ValueError("algo.lr=-1 must be > 0")
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create(["algo.lr=-1"]), tmp_path / ".hydra" / "overrides.yaml")

    table.on_job_end(_job_config(tmp_path, RunMode.MULTIRUN), ret)

    job = sweep.read_job(tmp_path, tmp_path.parent)
    assert (job.job, job.status, job.error) == (3, "failed", "ValueError: algo.lr=-1 must be > 0")


def test_a_single_run_gets_no_job_status(tmp_path: Path) -> None:
    sweep.SweepTable().on_job_end(_job_config(tmp_path, RunMode.RUN), JobReturn(status=JobStatus.COMPLETED))
    assert not (tmp_path / sweep.JOB_STATUS_FILE).exists()


def _launcher_config(address: str | None, sweep_dir: str = "/abs/sweep") -> Any:
    ray = {"init": {"address": address}, "remote": {}}
    return OmegaConf.create(
        {"hydra": {"launcher": {"_target_": sweep.RAY_LAUNCHER, "ray": ray}, "sweep": {"dir": sweep_dir}}}
    )


def test_ray_setup_keeps_a_local_ray_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sweep.RAY_LOOPBACK_ENV, raising=False)
    sweep.RaySetup().on_multirun_start(_launcher_config(None))
    assert os.environ[sweep.RAY_LOOPBACK_ENV] == "0"


def test_ray_setup_lets_the_launcher_join_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sweep.RAY_LOOPBACK_ENV, raising=False)
    cfg = _launcher_config("auto")
    OmegaConf.set_readonly(cfg, True)  # as Hydra hands it over

    sweep.RaySetup().on_multirun_start(cfg)

    init = cfg.hydra.launcher.ray.init
    assert "object_store_memory" in init and init.object_store_memory is None
    assert init.setdefault("object_store_memory", 78643200) is None  # what hydra-ray-launcher then does
    assert sweep.RAY_LOOPBACK_ENV not in os.environ  # a cluster's nodes must reach each other


def _ember_train(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([*EMBER, "train", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_train_sweep_on_joblib_writes_one_table(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = _ember_train(tmp_path, "-m", "algo.lr=1e-3,3e-4", "seed=0,1", *TINY, f"hydra.sweep.dir={out}")

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel" in plain(proc.stderr + proc.stdout)  # the default launcher
    rows = _csv_rows(out)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert {(r["algo.lr"], r["seed"]) for r in rows} == {
        ("0.001", "0"),
        ("0.001", "1"),
        ("0.0003", "0"),
        ("0.0003", "1"),
    }
    assert all((out / r["dir"] / "metrics.json").is_file() for r in rows)
    (best,) = [r for r in rows if r["best"] == "True"]
    assert float(best["best_eval_return"]) == max(float(r["best_eval_return"]) for r in rows)
    summary = json.loads((out / "results.json").read_text())
    assert summary["best"]["job"] == int(best["job"]) and summary["best_over_seeds"]["seeds"] == 2
    assert f"best: job {best['job']}" in plain(proc.stdout)


def _pids_with(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (what one test's subprocess started, its Ray included)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:  # gone, or a zombie
            continue
    return pids


RAY_MISSING = (
    importlib.util.find_spec("ray") is None or importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None
)


@pytest.mark.slow
@pytest.mark.skipif(RAY_MISSING, reason="needs ray and hydra-ray-launcher: pip install -e '.[ray]'")
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover Ray processes through /proc (Linux)")
def test_train_sweep_on_a_local_ray(tmp_path: Path) -> None:
    marker = f"EMBER_SWEEP_TEST={uuid.uuid4().hex}"
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    out = tmp_path / "sweep"
    env = {marker.split("=")[0]: marker.split("=")[1], sweep.RAY_LOOPBACK_ENV: "0", "RAY_ADDRESS": ""}
    try:
        proc = _ember_train(
            tmp_path,
            "-m",
            "hydra/launcher=ray",
            f"+hydra.launcher.ray.init._temp_dir={ray_tmp}",
            "+hydra.launcher.ray.init.include_dashboard=false",
            "seed=0,1",
            *TINY,
            f"hydra.sweep.dir={out}",
            env=env,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = _csv_rows(out)
        assert [(r["job"], r["seed"], r["status"]) for r in rows] == [("0", "0", "ok"), ("1", "1", "ok")]
        assert sum(r["best"] == "True" for r in rows) == 1
        raylet = "".join(p.read_text(errors="replace") for p in Path(ray_tmp).glob("session_*/logs/raylet.out"))
        addresses = set(re.findall(r"node_manager address: ([\d.]+)", raylet))
        assert addresses == {"127.0.0.1"}, f"Ray listened on {addresses or '? (no node_manager address in raylet.out)'}"
    finally:
        deadline = time.monotonic() + 15  # the driver's exit stops the Ray it started; give it time
        while _pids_with(marker) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftover = _pids_with(marker)
        for pid in leftover:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert not leftover, f"Ray processes left behind (killed): {leftover}"

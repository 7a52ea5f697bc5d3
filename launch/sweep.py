"""Sweeps of ``ember train -m``: one results table per sweep, and Hydra's Ray launcher readied for a local Ray.

ember train -m algo.lr=1e-3,3e-4 seed=0,1,2                # joblib launcher: as many jobs at once as CPU cores
ember train -m hydra/launcher=ray seed=0,1,2                # a Ray started here, on 127.0.0.1 only
ember train -m hydra/launcher=ray hydra.launcher.ray.init.address=auto seed=0,1,2   # a running Ray cluster
python -m ember.launch.sweep runs/multirun/train_...        # rebuild the table (job dirs synced back from a cluster)

After a sweep, `SweepTable` writes ``results.csv`` and ``results.json`` into the sweep dir: one row per job (its
number, status, overrides and ``metrics.json``) and the best job by ``best_eval_return`` (higher is better). A job
that raised is ``failed``; one without ``metrics.json`` (killed, exited early, never started, or its dir is on
another machine) is ``missing``. Both stay in the table.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import itertools
import json
import logging
import math
import os
import statistics
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ember.launch.status import print_error

log = logging.getLogger("ember.sweep")

METRIC = "best_eval_return"
"""The metric that ranks jobs (higher is better)."""
SHOWN_METRICS = {"best_eval_return": "best", "last_eval_return": "last", "env_steps": "steps", "wall_s": "wall_s"}
"""Metrics the printed table shows, with their short headers (the files hold all of ``metrics.json``)."""
JOB_STATUS_FILE = "job_status.json"
"""Written into each job dir by `SweepTable.on_job_end`: ``{"job", "status", "error"}``."""
RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
RAY_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""``0`` makes Ray use 127.0.0.1 as this node's address (read once, when ``ray`` is imported)."""


class SweepDirError(ValueError):
    pass


@dataclass
class JobResult:
    """One job of a sweep."""

    job: int
    """Hydra's job number (``hydra.job.num``)."""
    status: str
    """``ok`` (has metrics.json), ``failed`` (raised) or ``missing`` (no metrics.json)."""
    overrides: dict[str, str]
    """The job's overrides, ``key -> value`` as Hydra recorded them in ``.hydra/overrides.yaml``."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """The job's ``metrics.json`` ({} when it has none)."""
    dir: str | None = None
    """The job's dir relative to the sweep dir (None: not there)."""
    error: str | None = None
    """Why the job is not ``ok``."""

    def score(self) -> float | None:
        """The ranking metric, when the job is ok and it is a finite number."""
        value = self.metrics.get(METRIC)
        if self.status != "ok" or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None


@dataclass
class SweepResults:
    """Every job of one sweep dir, in job order, with the best one."""

    sweep_dir: Path
    jobs: list[JobResult]

    @property
    def best(self) -> JobResult | None:
        """The ok job with the highest `METRIC` (the first such job on ties); None when no job has it."""
        scored = [(score, j) for j in self.jobs if (score := j.score()) is not None]
        return max(scored, key=lambda pair: pair[0])[1] if scored else None

    def swept_keys(self) -> list[str]:
        """Override keys whose value differs between jobs (the ones the sweep varies)."""
        keys = _ordered_union(j.overrides for j in self.jobs)
        return [k for k in keys if len({j.overrides.get(k) for j in self.jobs}) > 1]

    def best_over_seeds(self) -> dict[str, Any] | None:
        """When ``seed`` is swept: the setting (swept overrides but seed) with the highest mean `METRIC` over its ok
        seeds, as ``{"overrides", "mean", "std", "seeds_ok", "seeds"}``; None otherwise."""
        keys = self.swept_keys()
        if "seed" not in keys or len(keys) < 2:
            return None
        groups: dict[tuple[tuple[str, str | None], ...], list[JobResult]] = {}
        for j in self.jobs:
            groups.setdefault(tuple((k, j.overrides.get(k)) for k in keys if k != "seed"), []).append(j)
        best: dict[str, Any] | None = None
        for setting, jobs in groups.items():
            scores = [s for s in (j.score() for j in jobs) if s is not None]
            if not scores:
                continue
            mean = statistics.fmean(scores)
            if best is None or mean > best["mean"]:
                std = statistics.pstdev(scores) if len(scores) > 1 else 0.0
                overrides = {k: v for k, v in setting if v is not None}
                best = {"overrides": overrides, "mean": mean, "std": std, "seeds_ok": len(scores), "seeds": len(jobs)}
        return best

    def counts(self) -> dict[str, int]:
        return {s: sum(j.status == s for j in self.jobs) for s in ("ok", "failed", "missing")}


def collect(sweep_dir: str | Path) -> SweepResults:
    """Read a sweep dir: every job dir in it (any dir with ``.hydra/overrides.yaml``) and, from ``multirun.yaml``,
    the jobs the sweep launched whose dirs are not there (``missing``)."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepDirError(f"sweep dir {str(sweep_dir)!r} does not exist; give the dir `ember train -m` printed")
    found: dict[int, JobResult] = {}
    unnumbered: list[JobResult] = []
    for job_dir in job_dirs(sweep_dir):
        result = read_job(job_dir, sweep_dir)
        if result.job < 0 or result.job in found:
            unnumbered.append(result)
        else:
            found[result.job] = result
    expected = expected_jobs(sweep_dir)
    if expected is None and not found and not unnumbered:
        raise SweepDirError(
            f"sweep dir {str(sweep_dir)!r} has no multirun.yaml and no job dirs (with .hydra/overrides.yaml); "
            "give the dir `ember train -m` printed"
        )
    jobs = list(found.values())
    for num, overrides in enumerate(expected or []):
        match = next((j for j in unnumbered if j.overrides == overrides), None)
        if match is not None:  # a job dir named other than by its number, without hydra.yaml
            unnumbered.remove(match)
            jobs.append(replace(match, job=num))
        elif num not in found:
            error = (
                "no job dir: never started (or stopped while starting), or it ran on another machine "
                "(sync its dir here, then rebuild)"
            )
            jobs.append(JobResult(num, "missing", overrides, error=error))
    next_num = max([j.job for j in jobs], default=-1) + 1
    for offset, job in enumerate(unnumbered):
        jobs.append(replace(job, job=next_num + offset))
    return SweepResults(sweep_dir, sorted(jobs, key=lambda j: j.job))


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The dirs under ``sweep_dir`` with a ``.hydra/overrides.yaml`` (not looking inside them), sorted."""
    found = []
    for root, dirs, _ in os.walk(sweep_dir):
        here = Path(root)
        if here != sweep_dir and (here / ".hydra" / "overrides.yaml").is_file():
            found.append(here)
            dirs.clear()
        else:
            dirs[:] = [d for d in dirs if d != ".hydra"]
    return sorted(found)


def read_job(job_dir: Path, sweep_dir: Path) -> JobResult:
    """One job dir: its number (``.hydra/hydra.yaml``, else job_status.json, else the dir name, else -1), overrides,
    status and metrics."""
    items = OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "overrides.yaml"))
    overrides = _overrides_dict([str(item) for item in items]) if isinstance(items, list) else {}
    rel = job_dir.relative_to(sweep_dir).as_posix()
    status = _read_json(job_dir / JOB_STATUS_FILE)
    num = _job_number(job_dir)
    if num < 0 and isinstance(status, dict) and isinstance(status.get("job"), int):
        num = status["job"]
    result = JobResult(num, "missing", overrides, dir=rel)
    metrics_file = job_dir / "metrics.json"
    metrics = _read_json(metrics_file)
    if metrics_file.is_file() and not isinstance(metrics, dict):
        result.error = f"{rel}/metrics.json is not a JSON object"
    elif isinstance(metrics, dict):
        result.status, result.metrics = "ok", metrics
    if isinstance(status, dict) and status.get("status") == "failed":
        result.status, result.error = "failed", str(status.get("error"))
    elif result.status == "missing" and result.error is None:
        result.error = f"no metrics.json: killed, exited early, or still running (see {rel}/*.log)"
    return result


def expected_jobs(sweep_dir: Path) -> list[dict[str, str]] | None:
    """The overrides of every job a basic-sweeper sweep launches, in job order, from its ``multirun.yaml``; None
    when there is no such file or another sweeper (which picks jobs as it goes) ran the sweep."""
    file = sweep_dir / "multirun.yaml"
    if not file.is_file():
        return None
    cfg = OmegaConf.load(file)
    if not str(OmegaConf.select(cfg, "hydra.sweeper._target_", default="")).endswith("BasicSweeper"):
        return None
    params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None) or {}
    args = [f"{k}={v}" for k, v in params.items()] + [str(o) for o in OmegaConf.select(cfg, "hydra.overrides.task")]
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(args)
        choices: dict[str, list[str]] = {}  # as hydra's BasicSweeper.split_arguments: the last one of a key wins
        for o in parsed:
            key = o.get_key_element()
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
            choices[key] = [f"{key}={v}" for v in values]
    except Exception as err:  # a glob() sweep needs the config tree; the table then lists only dirs found
        log.debug("cannot expand the sweep of %s: %s", file, err)
        return None
    return [_overrides_dict(list(job)) for job in itertools.product(*choices.values())]


def write(results: SweepResults) -> tuple[Path, Path]:
    """Write ``results.csv`` (one row per job; a ``best`` column marks the best) and ``results.json`` (rows, best
    job, best setting over seeds, status counts) into the sweep dir."""
    best = results.best
    override_keys = _ordered_union(j.overrides for j in results.jobs)
    metric_keys = _ordered_union(j.metrics for j in results.jobs)
    # a metric named like an override key (``task``, ``algo`` for task=... algo=... sweeps) gets a prefix
    taken = {*override_keys, "job", "status", "best", "dir", "error"}
    metric_cols = {k: f"metrics.{k}" if k in taken else k for k in metric_keys}
    header = ["job", "status", "best", *override_keys, *metric_cols.values(), "dir", "error"]
    csv_path = results.sweep_dir / "results.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for j in results.jobs:
            row: dict[str, Any] = {"job": j.job, "status": j.status, "best": j is best, **j.overrides}
            row |= {metric_cols[k]: _csv_value(v) for k, v in j.metrics.items()}
            writer.writerow(row | {"dir": j.dir or "", "error": j.error or ""})
    summary = {
        "sweep_dir": str(results.sweep_dir),
        "metric": METRIC,
        "higher_is_better": True,
        "counts": results.counts(),
        "swept": results.swept_keys(),
        "best": None if best is None else {**best.__dict__, METRIC: best.score()},
        "best_over_seeds": results.best_over_seeds(),
        "jobs": [j.__dict__ for j in results.jobs],
    }
    json_path = results.sweep_dir / "results.json"
    json_path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return csv_path, json_path


def render(results: SweepResults) -> Table:
    """A short table: job, status, the swept overrides, the main metrics; the best job in bold green."""
    best, swept = results.best, results.swept_keys()
    shown = [m for m in SHOWN_METRICS if any(j.metrics.get(m) is not None for j in results.jobs)]
    counts = ", ".join(f"{n} {s}" for s, n in results.counts().items() if n)
    table = Table(
        title=f"{results.sweep_dir}  ({counts})",
        title_justify="left",
        caption=f"best, last: {METRIC}, last_eval_return" if shown else None,
        caption_justify="left",
    )
    table.add_column("job", justify="right")
    table.add_column("status")
    for key in swept:
        table.add_column(key, overflow="fold")
    for m in shown:
        table.add_column(SHOWN_METRICS[m], justify="right", no_wrap=True)
    for j in results.jobs:
        cells = [str(j.job), j.status, *(j.overrides.get(k, "") for k in swept)]
        cells += [_cell(j.metrics.get(m)) for m in shown]  # Text: values are not rich markup
        style = "bold green" if j is best else ("red" if j.status != "ok" else None)
        table.add_row(*(Text(c) for c in cells), style=style)
    return table


def report(results: SweepResults, console: Console) -> None:
    """Print the table, the best job, the best setting over seeds and why jobs are not ok."""
    console.print(render(results))
    best = results.best
    if best is None:
        console.print(f"best: none (no ok job has a numeric {METRIC})")
    else:
        settings = " ".join(f"{k}={best.overrides.get(k)}" for k in results.swept_keys()) or "(no swept keys)"
        where = results.sweep_dir / (best.dir or "")
        console.print(f"best: job {best.job}  {settings}  {METRIC}={best.score():.4g}  ({where})", soft_wrap=True)
    over_seeds = results.best_over_seeds()
    if over_seeds is not None:
        settings = " ".join(f"{k}={v}" for k, v in over_seeds["overrides"].items())
        console.print(
            f"best over seeds: {settings}  mean {METRIC}={over_seeds['mean']:.4g} ± {over_seeds['std']:.2g} "
            f"({over_seeds['seeds_ok']}/{over_seeds['seeds']} seeds ok)",
            soft_wrap=True,
        )
    for j in results.jobs:
        if j.status != "ok":
            console.print(f"job {j.job} {j.status}: {j.error}", soft_wrap=True, markup=False)


def rebuild(sweep_dir: str | Path, console: Console | None = None) -> SweepResults:
    """Collect a sweep dir, write ``results.csv``/``results.json`` there and print the table (to ``console``)."""
    results = collect(sweep_dir)
    csv_path, json_path = write(results)
    if console is not None:
        report(results, console)
        console.print(f"wrote {csv_path} and {json_path.name}", soft_wrap=True, markup=False)
    return results


class SweepTable(Callback):
    """Hydra callback: after ``-m``, the sweep's ``results.csv``/``results.json`` and a printed table.

    Hydra skips ``on_multirun_end`` when a job raised (the sweep re-raises its error) or on Ctrl-C, so the table is
    then written at interpreter exit instead, with those jobs as ``failed``/``missing``.
    """

    def __init__(self) -> None:
        self._sweep_dir: str | None = None
        self._done = False

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._sweep_dir = str(config.hydra.sweep.dir)  # resolves (and caches) ${now:...} for the launcher too
        atexit.register(self._write_if_unfinished)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Record in the job dir whether the job raised (runs in the job's process, wherever that is)."""
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        status = {"job": int(config.hydra.job.num), "status": "ok", "error": None}
        if job_return.status == JobStatus.FAILED:
            try:
                job_return.return_value  # noqa: B018 -- raises the job's exception
            except Exception as err:
                status |= {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        out = Path(config.hydra.runtime.output_dir)
        (out / JOB_STATUS_FILE).write_text(json.dumps(status) + "\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._done = True
        rebuild(config.hydra.sweep.dir, Console())

    def _write_if_unfinished(self) -> None:
        if self._done or self._sweep_dir is None or not Path(self._sweep_dir).is_dir():
            return
        if not job_dirs(Path(self._sweep_dir)):  # refused before any job started (e.g. a bad value): Hydra said why
            return
        self._done = True
        try:
            console = Console(stderr=True)
            console.print("[yellow]sweep did not finish[/] (a job failed, or it was interrupted): its table so far")
            rebuild(self._sweep_dir, console)
        except Exception as err:  # at exit: say so, never mask the sweep's own error
            log.error("could not write the results table of %s: %s", self._sweep_dir, err)


class RaySetup(Callback):
    """Hydra callback: readies Hydra's Ray launcher (``hydra/launcher=ray``) before it starts Ray.

    - No ``ray.init.address`` (a Ray started here): sets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` so that Ray
      listens on 127.0.0.1 only (``ray.init(_node_ip_address=...)`` cannot: Ray swaps 127.0.0.1 for the
      machine's address unless this is set). A value already in the environment is kept.
    - An address (a running cluster): the launcher's default ``object_store_memory`` (75 MB) would make
      ``ray.init`` refuse to connect ("When connecting to an existing cluster, object_store_memory must not be
      provided"), so it is set to null unless given; a relative ``hydra.sweep.dir`` is warned about (the
      cluster's workers resolve it against their own working dir).
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        launcher = config.hydra.launcher
        if launcher.get("_target_") != RAY_LAUNCHER:
            return
        init = launcher.ray.init
        if init.get("address") is None:
            if "ray" in sys.modules and RAY_LOOPBACK_ENV not in os.environ:
                log.warning("ray was imported before the sweep: set %s=0 for a 127.0.0.1-only Ray", RAY_LOOPBACK_ENV)
            os.environ.setdefault(RAY_LOOPBACK_ENV, "0")
            return
        if "object_store_memory" not in init:
            with read_write(init), open_dict(init):
                init.object_store_memory = None
        if not Path(str(config.hydra.sweep.dir)).is_absolute():
            log.warning(
                "hydra.sweep.dir=%s is relative: a Ray cluster's workers write job dirs relative to their own working "
                "dir (where `ray start` ran), so this table may list them as missing; give an absolute "
                "hydra.sweep.dir on a filesystem all nodes share, or sync the job dirs back and run "
                "`python -m ember.launch.sweep DIR`",
                config.hydra.sweep.dir,
            )


def main(argv: list[str] | None = None) -> None:
    """``python -m ember.launch.sweep DIR``: rebuild a sweep's results table."""
    parser = argparse.ArgumentParser(
        prog="python -m ember.launch.sweep",
        description="Write results.csv and results.json of an `ember train -m` sweep dir and print its table "
        "(for sweeps whose job dirs were synced back from other machines, or that did not finish).",
    )
    parser.add_argument("sweep_dir", help="the sweep dir, e.g. runs/multirun/train_2026-01-01_12-00-00")
    args = parser.parse_args(argv)
    console = Console()
    try:
        rebuild(args.sweep_dir, console)
    except SweepDirError as err:
        print_error(Console(stderr=True), str(err))
        sys.exit(2)


def _overrides_dict(items: list[str]) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in items)
    return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}


def _job_number(job_dir: Path) -> int:
    hydra_file = job_dir / ".hydra" / "hydra.yaml"
    if hydra_file.is_file():
        num = OmegaConf.select(OmegaConf.load(hydra_file), "hydra.job.num", default=None, throw_on_missing=False)
        if isinstance(num, int):
            return num
    return int(job_dir.name) if job_dir.name.isdigit() else -1


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _ordered_union(dicts: Any) -> list[str]:
    return list(dict.fromkeys(k for d in dicts for k in d))


def _csv_value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


if __name__ == "__main__":
    main()

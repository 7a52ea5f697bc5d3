"""Numeric bounds on the config schemas (``launch/config.py``: ``BOUNDS``, ``check_bounds``): every command refuses a
value outside its field's range before doing anything, naming the key, the value and the range."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import MISSING, fields

import pytest
from hydra import compose, initialize_config_module

from ember.launch.bounds import BOUNDS, ConfigBoundsError, _within, check_bounds
from ember.launch.config import register

register()


def _compose(name: str, overrides: list[str]):  # type: ignore[no-untyped-def]
    with initialize_config_module("ember.launch.conf", version_base="1.3"):
        return compose(name, overrides=overrides)


def test_every_bound_names_a_field_and_every_default_lies_within_it() -> None:
    for schema, rules in BOUNDS.items():
        own = {f.name: f for f in fields(schema)}
        for key, rule in rules.items():
            assert key in own, f"{schema.__name__}.{key}: no such field"
            spec = own[key]
            default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
            for value in default if isinstance(default, list) else [default]:
                if value is not None and value is not MISSING:
                    assert _within(float(value), rule), f"{schema.__name__}.{key}={value} outside {rule}"


def test_rules() -> None:
    assert _within(1, ">=1") and not _within(0, ">=1") and not _within(0, ">0") and _within(1e-9, ">0")
    assert _within(1, "(0,1]") and not _within(0, "(0,1]") and _within(0, "[0,1]") and not _within(1.5, "[0,1]")
    assert not _within(float("nan"), ">=0") and _within(float("inf"), ">0")


@pytest.mark.parametrize(
    ("name", "overrides", "needle"),
    [
        ("run", ["task.physics_hz=-240"], "task.physics_hz=-240: must be at least 1 (default 240)"),
        ("run", ["seed=-1"], "seed=-1: must be at least 0 (default 0)"),
        ("run", ["task.max_seconds=nan"], "task.max_seconds=nan: must be above 0"),
        ("run", ["task=retarget", "task.leg_scale=0"], "task.leg_scale=0.0: must be in [0.3, 3.0]"),
        ("train", ["task=retarget", "task.max_episode_length=0"], "task.max_episode_length=0: must be at least 1"),
        ("train", ["task=retarget", "task.eval_seconds=-5"], "task.eval_seconds=-5.0: must be above 0"),
        ("train", ["algo=ppo", "algo.hidden=[64,0]"], "algo.hidden=[64, 0]: each number must be at least 1"),
        ("train", ["algo=ppo", "algo.num_minibatches=0"], "algo.num_minibatches=0"),
        ("train", ["algo=sac", "algo.gamma=2"], "algo.gamma=2.0: must be in (0, 1]"),
        ("eval", ["checkpoint=x", "steps=-1"], "steps=-1: must be at least 1 or null (the default)"),
        ("run", ["planner=llm", "planner.base_url=u", "planner.model=m", "planner.timeout=0"], "planner.timeout=0.0"),
        ("train", ["task=retarget", "task.clip_weights=[1,-1,1,1]"], "each number must be at least 0"),
        ("train", ["task=retarget", "task.adaptive_starts=1.5"], "task.adaptive_starts=1.5: must be in [0, 1]"),
        ("train", ["task=retarget", "task.joint_damping=2"], "task.joint_damping=2.0: must be in [0, 1]"),
        ("run", ["task=retarget", "task.armature=-1"], "task.armature=-1.0: must be in [0, 1]"),
        ("eval", [], "checkpoint is required and has no default"),
        ("robot_sim", ["state_hz=1e6"], "state_hz=1000000.0: must be in (0, 5000] (default 250.0)"),
        ("robot_sim", ["camera_hz=-1"], "camera_hz=-1.0: must be in [0, 120]"),
    ],
)
def test_out_of_range_values_are_refused_with_key_value_and_range(name: str, overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigBoundsError) as err:
        check_bounds(_compose(name, overrides))
    assert needle in str(err.value)


@pytest.mark.parametrize("name", ["run", "train", "eval", "robot_sim"])
def test_defaults_and_nulls_pass(name: str) -> None:
    extra = {
        "eval": ["checkpoint=x", "steps=null"],
        "train": ["algo=ppo", "algo.critic_lr=null", "task=retarget", "task.clip_weights=null"],
        "run": ["task=retarget"],
    }.get(name, [])
    check_bounds(_compose(name, extra))


def test_ember_run_refuses_a_clock_that_runs_backwards_instead_of_hanging(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cmd = [sys.executable, "-m", "ember.launch.cli", "run", "task.physics_hz=-240", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "task.physics_hz=-240" in proc.stderr, proc.stderr[-2000:]

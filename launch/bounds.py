"""Numeric ranges of the config schemas (``launch/config.py``, ``launch/algo_config.py``), checked on a composed
config: Hydra's ConfigStore checks types only, so every ``ember`` command calls :func:`check_bounds` before it
writes anything."""

from __future__ import annotations

import math
from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields, is_dataclass
from typing import Any

from ember.launch.algo_config import DAggerConfig, PPOConfig, SACConfig
from ember.launch.config import (
    EvalConfig,
    HOITaskConfig,
    ImitationConfig,
    LLMPlannerConfig,
    MinecraftTaskConfig,
    OvercookedSelfPlayTaskConfig,
    OvercookedTaskConfig,
    PendulumTaskConfig,
    QuadrotorTaskConfig,
    RetargetTaskConfig,
    RobotSimConfig,
    RunConfig,
    SymbolicPlannerConfig,
    TabletopPushTaskConfig,
    TabletopTaskConfig,
    TrainConfig,
)
from ember.skills.diffusion.policy import PolicyConfig

# Numeric bounds, checked by ``check_bounds`` on every node one of these schemas types (the ConfigStore checks types
# only): ">=1" / ">0" / "[0,1]" / "(0,1]" ... — a list of numbers is checked element by element, a null is left to the
# field's own meaning, and NaN is refused everywhere. A subclass inherits its parents' bounds.
_POS, _NONNEG, _GT0, _UNIT = ">=1", ">=0", ">0", "[0,1]"
_ENVS = {"num_envs": _POS, "eval_envs": _POS, "max_episode_length": _POS}
BOUNDS: dict[type, dict[str, str]] = {
    TabletopTaskConfig: {"physics_hz": _POS, "decimation": _POS, "max_seconds": _GT0},
    OvercookedTaskConfig: {"horizon": "[1,100000]"},  # the layouts' own episodes are 400 ticks
    MinecraftTaskConfig: {
        "port": "[1,65535]",
        "bots": _POS,
        "trees": _NONNEG,
        "obstacles": _NONNEG,
        "max_seconds": _GT0,
    },
    SymbolicPlannerConfig: {"max_depth": _POS, "max_expansions": _POS, "shallow_depth": _NONNEG},
    LLMPlannerConfig: {
        "critique_rounds": _NONNEG,
        "timeout": _GT0,
        "max_retries": _NONNEG,
        "temperature": "[0,2]",
        "max_tokens": _POS,
        "max_reply_chars": _POS,
    },
    RunConfig: {
        "seed": _NONNEG,
        "max_replans": _NONNEG,
        "video_every": _POS,
        "seat": "[0,1]",
        "episodes": _POS,
        "bots": _POS,
    },
    PendulumTaskConfig: {**_ENVS, "obs_noise": _NONNEG},
    OvercookedSelfPlayTaskConfig: {"num_envs": _POS, "eval_envs": _POS, "shaping_steps": _NONNEG, "horizon": _POS},
    QuadrotorTaskConfig: {
        **_ENVS,
        "obs_noise": _NONNEG,
        "obs_delay": _NONNEG,
        "disturbance": _NONNEG,
        "reward_scale": _GT0,
    },
    RetargetTaskConfig: {
        **_ENVS,
        "leg_scale": "[0.3,3.0]",  # the character's range (sims/humanoid/character.py: humanoid_mjcf)
        "arm_scale": "[0.3,3.0]",
        "joint_damping": "[0,1]",  # humanoid_mjcf's drive
        "armature": "[0,1]",
        "tracker_noise": _NONNEG,
        "residual_scale": _NONNEG,
        "assist_steps": _NONNEG,
        "assist_max_fall": "(0,1]",
        "physics_threads": _NONNEG,
        "eval_seconds": _GT0,
        "clip_weights": _NONNEG,
        "adaptive_starts": "[0,1]",
    },
    HOITaskConfig: {**_ENVS, "max_seconds": _GT0, "residual_scale": _NONNEG},
    TabletopPushTaskConfig: {**_ENVS, "obs_noise": _NONNEG, "obs_delay": _NONNEG},
    PolicyConfig: {
        "obs_history": _POS,
        "horizon": _POS,
        "action_steps": _POS,
        "hidden": _POS,
        "blocks": _POS,
        "goal_dropout": _UNIT,
        "sigma_data": _GT0,
        "sigma_min": _GT0,
        "sigma_max": _GT0,
        "rho": _GT0,
        "sample_steps": _POS,
        "guidance": _NONNEG,
    },
    ImitationConfig: {
        "demos": _POS,
        "demo_seed": _NONNEG,
        "demo_action_noise": _NONNEG,
        "steps": _POS,
        "batch_size": _POS,
        "lr": _GT0,
        "ema_decay": _UNIT,
        "checkpoint_every": _POS,
        "eval_episodes": _POS,
    },
    EvalConfig: {
        "episodes": _POS,
        "seed": _NONNEG,
        "steps": _POS,
        "guidance": _NONNEG,
        "num_envs": _POS,
        "threads": _POS,
    },
    SACConfig: {
        "hidden": _POS,
        "lr": _GT0,
        "gamma": "(0,1]",
        "tau": "(0,1]",
        "batch_size": _POS,
        "buffer_size": _POS,
        "learning_starts": _NONNEG,
        "utd_ratio": _GT0,
        "init_alpha": _GT0,
    },
    PPOConfig: {
        "num_steps": _POS,
        "hidden": _POS,
        "init_std": _GT0,
        "init_output_scale": _NONNEG,  # 0: a residual policy that starts as its base
        "lr": _GT0,
        "critic_lr": _GT0,
        "gamma": "(0,1]",
        "lam": _UNIT,
        "clip": _GT0,
        "epochs": _POS,
        "num_minibatches": _POS,
        "value_coef": _NONNEG,
        "entropy_coef": _NONNEG,
        "desired_kl": _GT0,
        "max_grad_norm": _GT0,
        "critic_warmup": _NONNEG,
        "finetune_std": _GT0,
    },
    DAggerConfig: {
        "envs": _POS,
        "steps": _POS,
        "samples": _POS,
        "horizon": _POS,
        "temperature": _NONNEG,
        "teacher_share": _UNIT,
        "window": _NONNEG,
        "passes": _POS,
        "epochs": _POS,
        "hidden": _POS,
        "mpc_threads": _POS,
    },
    TrainConfig: {
        "total_steps": _POS,
        "seed": _NONNEG,
        "eval_every_steps": _POS,
        "max_wall_s": _NONNEG,
        "threads": _POS,
        "num_workers": _POS,
        "rollout_steps": _POS,
        "worker_cpus": _GT0,
        "restart_timeout_s": _GT0,
    },
    # publish rates: a ROS 2 timer above a few kHz only spins the executor (and ros2 topic hz cannot follow it)
    RobotSimConfig: {"seed": _NONNEG, "state_hz": "(0,5000]", "pose_hz": "(0,5000]", "camera_hz": "[0,120]"},
}


class ConfigBoundsError(ValueError):
    """A config value outside its field's range (the message names the key, the value and the range)."""


def _within(value: float, rule: str) -> bool:
    if math.isnan(value):
        return False
    if rule[0] in "[(":
        low, high = (float(v) for v in rule[1:-1].split(","))
        above = value >= low if rule[0] == "[" else value > low
        below = value <= high if rule[-1] == "]" else value < high
        return above and below
    op, bound = (rule[:2], rule[2:]) if rule[1] == "=" else (rule[:1], rule[1:])
    return value >= float(bound) if op == ">=" else value > float(bound)


def _describe(rule: str) -> str:
    if rule[0] in "[(":
        return f"in {rule[0]}{rule[1:-1].replace(',', ', ')}{rule[-1]}"
    return f"at least {rule[2:]}" if rule[1] == "=" else f"above {rule[1:]}"


def check_bounds(cfg: Any, prefix: str = "") -> None:
    """Refuse any value of a schema-typed node of ``cfg`` (an OmegaConf config composed by Hydra) outside its
    ``BOUNDS`` range — ``task.physics_hz=-240`` would run the world's clock backwards forever, ``algo.num_steps=0``
    would fail deep inside the update — with the full key, the value, the range and the field's default."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if not isinstance(cfg, DictConfig):
        return
    schema = OmegaConf.get_type(cfg)
    rules: dict[str, str] = {}
    for cls in reversed(getattr(schema, "__mro__", ())):
        rules.update(BOUNDS.get(cls, {}))
    defaults = {f.name: f for f in fields(schema)} if is_dataclass(schema) else {}
    for key in cfg:
        name = f"{prefix}{key!s}"
        if OmegaConf.is_missing(cfg, key):
            raise ConfigBoundsError(f"{name} is required and has no default; give {name}=...")
        value = cfg._get_node(key)
        if isinstance(value, DictConfig):
            check_bounds(value, f"{name}.")
            continue
        rule = rules.get(str(key))
        if rule is None:
            continue
        if cfg[key] is None:  # a null (a list field's too): the field's own meaning
            continue
        items = list(value) if isinstance(value, ListConfig) else [cfg[key]]
        for item in items:
            if item is None or isinstance(item, bool) or not isinstance(item, int | float):
                continue
            if not _within(float(item), rule):
                spec = defaults.get(str(key))
                if spec is None or spec.default is NO_DEFAULT:
                    default = ""
                else:
                    default = " or null (the default)" if spec.default is None else f" (default {spec.default!r})"
                shown = OmegaConf.to_container(value) if isinstance(value, ListConfig) else item
                each = "each number " if isinstance(value, ListConfig) else ""
                raise ConfigBoundsError(
                    f"{name}={shown}: {each}must be {_describe(rule)}{default}; set {name}= to that"
                )

"""Simulators and the contracts they implement: the vectorized env (``ember.sims.env``) and the world
(``ember.sims.world``). Backends are registered here as ``"module:Class"`` strings and imported on first use, so
``import ember.sims`` pulls in no engine."""

from __future__ import annotations

import importlib
from typing import Any

WORLDS: dict[str, str] = {
    "tabletop": "ember.sims.pybullet.tabletop_world:TabletopWorld",
    "overcooked": "ember.sims.overcooked.kitchen:OvercookedWorld",
    "minecraft": "ember.sims.minecraft.world:LocalMinecraftWorld",
    "hoi": "ember.sims.hoi.world:HOIWorld.sampled",
}
"""World backends (contract 2) by task name."""

ENVS: dict[str, str] = {
    "pendulum": "ember.sims.torch_envs.pendulum:PendulumVecEnv",
    "quadrotor_hover": "ember.sims.torch_envs.quadrotor:QuadrotorVecEnv",
    "tabletop_push": "ember.sims.pybullet.tabletop_env:TabletopVecEnv",
    "tabletop_push_obstacle": "ember.sims.pybullet.tabletop_env:TabletopVecEnv",
    "tabletop_reach": "ember.sims.pybullet.tabletop_env:TabletopVecEnv",
    "overcooked_selfplay": "ember.sims.overcooked.vec_env:OvercookedVecEnv",
    "retarget": "ember.sims.humanoid.retarget_env:RetargetVecEnv",
    "hoi": "ember.sims.hoi.env:HOIVecEnv",
}
"""Vectorized env backends (contract 1) by task name."""

ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "tabletop_push": {"task": "push"},
    "tabletop_push_obstacle": {"task": "push_obstacle", "max_episode_length": 200},
    "tabletop_reach": {"task": "reach"},
}
"""Constructor arguments a registered env name implies (one class can serve several tasks)."""

SKILL_DOMAINS: dict[str, str] = {
    "tabletop": "tabletop",
    "overcooked": "overcooked",
    "minecraft": "minecraft",
    "hoi": "hoi",
}
"""Which skill set (``ember.skills.library.REGISTRY``) each world uses."""


def load_class(path: str) -> Any:
    """Import ``"package.module:Name"`` (every registry of Ember stores classes this way; ``Name.factory`` names a
    class's alternative constructor)."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"class path must look like 'package.module:Name'; got {path!r}")
    found: Any = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def _load(table: dict[str, str], name: str, kind: str) -> Any:
    if name not in table:
        raise KeyError(f"{kind} {name!r} is unknown; registered: {sorted(table)}")
    return load_class(table[name])


def make_world(name: str, **kwargs: Any) -> Any:
    """Build the world registered as ``name``."""
    return _load(WORLDS, name, "world")(**kwargs)


def make_env(name: str, **kwargs: Any) -> Any:
    """Build the vectorized env registered as ``name`` (with the arguments its name implies)."""
    return _load(ENVS, name, "env")(**{**ENV_DEFAULTS.get(name, {}), **kwargs})

"""Learned tabletop skills: controllers trained in ``TabletopVecEnv`` and run through the world contract."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.sims.pybullet.assets import scene_hash
from ember.skills.learned import PolicySkill
from ember.skills.skill import Param
from ember.skills.tabletop.skills import OBJ, Push


class LearnedPush(PolicySkill):
    """``push(obj, position)`` with an asymmetric actor-critic policy trained on the ``push`` task; the critic's value
    is reported in every Outcome."""

    name = "push_learned"
    description = "Push a cube across the table to a position [x, y] with a learned policy (reports a value)."
    params = (
        OBJ,
        Param("position", ("position",), "where the cube's center should end up, [x, y] in meters", position_dims=(2,)),
    )
    preconditions = Push.preconditions
    effects = Push.effects
    artifact = "tabletop/checkpoints/push"
    tolerance = 0.025
    """Distance from the goal at which the push counts as done [m] (the env's success radius)."""

    def observation(self) -> dict[str, np.ndarray]:
        assert self.ctx is not None
        world: Any = self.ctx.world
        return world.observe_task(self.ctx.agent, "push", self.ctx.args["obj"], self.ctx.args["position"])

    def action(self, action: np.ndarray) -> dict[str, Any]:
        return {
            "policy_action": action,
            "control": self.meta.get("control", "ee_delta"),
            "ee_step": self.meta.get("ee_step", 0.02),
        }

    def done(self) -> bool:
        assert self.ctx is not None
        pos = np.array(self.ctx.world.objects()[self.ctx.args["obj"]].position[:2])
        return float(np.linalg.norm(pos - np.asarray(self.ctx.args["position"][:2]))) < self.tolerance

    def scene_hash(self) -> str | None:
        world: Any = self.ctx.world if self.ctx else None
        scene = getattr(world, "scene", None)
        return scene_hash(scene.physics_hz, world.decimation) if scene is not None else None

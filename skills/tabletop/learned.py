"""Learned tabletop skills: controllers trained in ``TabletopVecEnv`` and run through the world contract."""

from __future__ import annotations

from typing import Any

import numpy as np

from ember.sims.pybullet.assets import scene_hash
from ember.skills.learned import PolicySkill
from ember.skills.skill import Outcome, Param, Status
from ember.skills.tabletop.scripted import Move, Phase, Target
from ember.skills.tabletop.skills import CLOSED, OBJ, Push, _TabletopSkill


class PushApproach(_TabletopSkill):
    """Scripted hand-over: bring the closed gripper low behind the cube (7 cm back from it, away from the goal),
    inside the start distribution the push policy was trained from."""

    name = "push_approach"
    description = "Move the closed gripper behind a cube, low, ready to push it towards a position."
    params = Push.params

    def phases(self) -> list[Phase]:
        obj, goal = self.args["obj"], np.asarray(self.args["position"][:2], dtype=np.float64)
        cube = np.array(self.world.objects()[obj].position)
        away = cube[:2] - goal
        start = cube[:2] + away / max(float(np.linalg.norm(away)), 1e-6) * 0.07
        low = self._table_z() + 0.04

        def at(z: float) -> Target:
            return lambda: (np.array([start[0], start[1], z]), 0.0)

        return [
            self._lift(CLOSED, height=0.12),
            Move(at(low + 0.1), CLOSED, speed=0.5, label="go behind the cube"),
            Move(at(low), CLOSED, speed=0.25, label="lower behind the cube"),
        ]


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

    def _start(self) -> None:
        super()._start()
        assert self.ctx is not None
        self._approach: PushApproach | None = PushApproach()
        self._approach.start(self.ctx.world, self.ctx.agent, **self.ctx.args)

    def tick(self) -> Outcome:
        if self._approach is not None and not self.done():
            outcome = self._approach.tick()
            if outcome.status == Status.RUNNING:
                return outcome
            if outcome.status == Status.FAILURE:
                return Outcome(Status.FAILURE, f"{self.name}: approach failed: {outcome.reason}")
            self._approach = None
            assert self.ctx is not None
            self._t0 = self.ctx.world.time()  # the policy's time budget starts at the hand-over
        return super().tick()

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

"""Diffusion-policy tabletop skills: controllers trained from demonstrations (``ember train policy=beso``) and run
through the world contract, chunk by chunk (receding horizon), exactly as they were evaluated in the env."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ember.sims.pybullet.assets import scene_hash
from ember.skills.learned import ArtifactError
from ember.skills.skill import RUNNING, Outcome, Param, Skill, Status
from ember.skills.tabletop.scripted import Move, Phase, Target
from ember.skills.tabletop.skills import CLOSED, OBJ, _TabletopSkill


@cache
def load_chunk_policy(path: str) -> tuple[Any, dict[str, Any]]:
    from ember.skills.diffusion.evaluate import load_policy

    if not Path(path).is_file():
        raise ArtifactError(f"diffusion policy {path} is missing; train it with the command in its folder's README")
    try:
        return load_policy(path)
    except ValueError as err:
        raise ArtifactError(str(err)) from err


class BesideCube(_TabletopSkill):
    """Scripted hand-over: the closed gripper low (3 cm up) and 8 cm from the cube on the side away from the post,
    inside the start distribution of the policy's demonstrations."""

    name = "beside_cube"
    description = "Move the closed gripper low beside a cube, on the side away from the post."
    params = (OBJ,)

    def phases(self) -> list[Phase]:
        obj = self.args["obj"]
        objects = self.world.objects()
        cube = np.array(objects[obj].position[:2])
        post = np.array(objects["post"].position[:2]) if "post" in objects else cube + np.array([1.0, 0.0])
        away = (cube - post) / max(float(np.linalg.norm(cube - post)), 1e-6)
        spot = cube + 0.08 * away
        table = self._table_z()

        def at(z: float) -> Target:
            return lambda: (np.array([spot[0], spot[1], table + z]), 0.0)

        return [
            self._lift(CLOSED, height=0.12),
            Move(at(0.12), CLOSED, speed=0.5, label="over the start point"),
            Move(at(0.03), CLOSED, speed=0.25, label="down beside the cube"),
        ]


class PushAround(Skill):
    """``push_around(obj, spot)``: push a cube to a spot on the table, around the post in between, with the
    committed BESO diffusion policy (trained on scripted demonstrations passing the post on either side)."""

    name = "push_around"
    description = (
        "Push a cube across the table to a spot, going around the post between them, with a diffusion policy "
        "learned from demonstrations."
    )
    params = (
        OBJ,
        Param("spot", ("object",), "the spot on the table the cube should end up at", object_types=("spot",)),
    )
    preconditions = ("holding(?agent, none)", "on(?obj, table)", "reachable(?obj)")
    effects = ("at(?obj, ?spot)",)
    checkpoint: ClassVar[str] = "checkpoints/push_obstacle_beso/policy.pt"
    """The policy file, relative to this package (or absolute)."""
    max_seconds: ClassVar[float] = 10.0
    """World time after the hand-over within which the cube must arrive [s]."""

    def __init__(self, checkpoint: str | None = None, steps: int | None = None, seed: int = 0, **settings: Any):
        super().__init__(**settings)
        self.checkpoint_path, self.steps, self.seed = checkpoint, steps, seed

    def _file(self) -> str:
        raw = Path(self.checkpoint_path or self.checkpoint)
        return str(raw if raw.is_absolute() else Path(__file__).resolve().parent / raw)

    def _start(self) -> None:
        from ember.skills.diffusion.policy import ChunkController

        assert self.ctx is not None
        world: Any = self.ctx.world
        policy, self.meta = load_chunk_policy(self._file())
        scene = getattr(world, "scene", None)
        if scene is not None and self.meta.get("scene_hash") not in (
            None,
            scene_hash(scene.physics_hz, world.decimation),
        ):
            raise ArtifactError(
                f"{self.name}: {self._file()} was trained on scene {self.meta['scene_hash']}; this world differs. "
                f"Retrain it ({self.meta.get('train_command', '')})"
            )
        self.goal = np.asarray(world.objects()[self.ctx.args["spot"]].position[:2], dtype=np.float64)
        self.controller = ChunkController(policy, 1, steps=self.steps, seed=self.seed)
        self._approach: BesideCube | None = BesideCube()
        self._approach.start(world, self.ctx.agent, obj=self.ctx.args["obj"])
        self._t0: float | None = None

    def _rows(self) -> torch.Tensor:
        assert self.ctx is not None
        world: Any = self.ctx.world
        obs = world.observe_task(self.ctx.agent, "push_obstacle", self.ctx.args["obj"], self.goal)
        return torch.as_tensor(obs["policy"], dtype=torch.float32)[None]

    def _arrived(self) -> bool:
        assert self.ctx is not None
        pos = np.array(self.ctx.world.objects()[self.ctx.args["obj"]].position)
        return float(np.linalg.norm(pos[:2] - self.goal)) < getattr(self.ctx.world, "spot_radius", 0.03)

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        world = self.ctx.world
        if self._approach is not None:
            outcome = self._approach.tick()
            if outcome.status == Status.FAILURE:
                return Outcome(Status.FAILURE, f"{self.name}: hand-over failed: {outcome.reason}")
            if outcome.status == Status.RUNNING:
                return outcome
            self._approach = None
            self._t0 = world.time()
            self.controller.reset([0], self._rows())
        if self._arrived():
            return Outcome(Status.SUCCESS)
        assert self._t0 is not None
        if world.time() - self._t0 > self.max_seconds:
            obj = self.ctx.args["obj"]
            pos = np.array(world.objects()[obj].position[:2])
            return Outcome(
                Status.FAILURE,
                f"{self.name}: {obj} is {np.linalg.norm(pos - self.goal) * 100:.1f} cm from {self.ctx.args['spot']} "
                f"after {self.max_seconds} s",
            )
        action = self.controller.act(self._rows())[0].numpy()
        world.apply(self.ctx.agent, {"policy_action": action, "control": "ee_delta", "ee_step": 0.02})
        return RUNNING

"""The learned HOI controller: one goal-conditioned policy (``ember train task=hoi``) driving ``StageSkill`` leaves.

The artifact is what ``ember train task=hoi`` writes into its run's ``artifact/`` (``policy.pt2``: actor and
observation normalizer; ``value.pt2``: the critic's value of the privileged observation; ``meta.json``: tasks,
training command and figures). The controller reads the world's ``policy`` observation — proprioception and the
current stage's goal vector, built by the same code as in training (``HOIWorld.observe``) — and returns the actor's
deterministic action; ``value`` is the critic's estimate for the stage in progress (for planners and traces).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ember.sims.hoi.world import HOIWorld
from ember.skills.hoi.scripted import StageSkill
from ember.skills.learned import ArtifactError, load_artifact
from ember.skills.skill import Outcome, Param

SHIPPED = Path(__file__).resolve().parent / "checkpoints" / "policy"
"""The committed artifact (see README.md for the command that trained it)."""


class PolicyStageController:
    """Args:
    artifact: folder of an ``ember train task=hoi`` artifact (default: the shipped one).
    """

    def __init__(self, artifact: str | Path | None = None) -> None:
        folder = Path(artifact) if artifact is not None else SHIPPED
        self.policy, self.critic, self.meta = load_artifact(str(folder))
        if self.meta.get("task") != "hoi":
            raise ArtifactError(
                f"artifact {folder} was trained for task {self.meta.get('task')!r}, not 'hoi'; give the artifact/ "
                "folder of an `ember train task=hoi` run"
            )
        self.folder = folder

    def reset(self, world: HOIWorld, agent: str) -> None:
        obs = world.observe(agent)["policy"]
        if obs.shape[0] != self.meta["policy_dim"]:
            raise ArtifactError(
                f"artifact {self.folder} expects {self.meta['policy_dim']} observation values; this world gives "
                f"{obs.shape[0]} (the goal or proprioception layout changed: retrain with the command in meta.json)"
            )

    @torch.no_grad()
    def act(self, world: HOIWorld, agent: str) -> np.ndarray:
        obs = torch.as_tensor(world.observe(agent)["policy"], dtype=torch.float32)[None]
        return np.clip(self.policy(obs)[0].numpy().astype(np.float64), -1.0, 1.0)

    @torch.no_grad()
    def value(self, world: HOIWorld, agent: str) -> float:
        """The critic's value of the stage in progress (privileged observation), or nan without a value export."""
        if self.critic is None:
            return float("nan")
        obs = world.observe(agent)
        policy = torch.as_tensor(obs["policy"], dtype=torch.float32)[None]
        critic = torch.as_tensor(obs["critic"], dtype=torch.float32)[None]
        return float(self.critic(policy, critic).reshape(-1)[0])


class LearnedStageSkill(StageSkill):
    """``hoi_stage_learned``: one RMD stage driven by the learned goal-conditioned policy (setting ``artifact``:
    default the shipped one); each Outcome carries the critic's value of the stage in progress."""

    name = "hoi_stage_learned"
    description = "Carry out one human-object interaction stage with the learned goal-conditioned policy"
    params = (
        *StageSkill.params,
        Param("artifact", ("string",), "the policy's artifact folder (empty: the shipped one)", default="",
              required=False),
    )  # fmt: skip

    def __init__(self, artifact: str | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self._artifact = artifact

    def _start(self) -> None:  # the policy loads when a leaf starts (artifacts are cached), not with the library
        assert self.ctx is not None
        chosen = self.ctx.args.get("artifact") or self._artifact
        self.controller = PolicyStageController(chosen or None)
        super()._start()

    def tick(self) -> Outcome:
        outcome = super().tick()
        world = self.ctx.world if self.ctx is not None else None
        if isinstance(world, HOIWorld) and isinstance(self.controller, PolicyStageController):
            assert self.ctx is not None
            outcome = replace(outcome, value=self.controller.value(world, self.ctx.agent))
        return outcome

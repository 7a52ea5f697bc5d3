"""The learned HOI controller: one goal-conditioned policy (``ember train task=hoi``) driving ``StageSkill`` leaves.

The artifact is what ``ember train task=hoi`` writes into its run's ``artifact/`` (``policy.pt2``: actor and
observation normalizer; ``value.pt2``: the critic's value of the privileged observation; ``meta.json``: tasks,
training command and figures). The controller reads the world's ``policy`` observation — proprioception and the
current stage's goal vector, built by the same code as in training (``HOIWorld.observe``) — and returns the actor's
deterministic action; ``value`` is the critic's estimate for the stage in progress (for planners and traces).

A residual artifact (``meta.json``'s ``residual_scale`` > 0, from ``ember train task=hoi task.residual_scale=...``)
runs the scripted controller underneath, as in training: each period the scripted action ``a_base`` is appended to
the policy observation (and to the critic's, after the policy group) and the action is ``clip(a_base +
residual_scale * policy(obs), -1, 1)``. Artifacts without the field are plain policies.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ember.sims.hoi.scene import ACTION_DIM
from ember.sims.hoi.world import HOIWorld
from ember.skills.hoi.scripted import ScriptedStageController, StageSkill
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
        self.residual_scale = float(self.meta.get("residual_scale") or 0.0)
        if self.residual_scale < 0.0:
            raise ArtifactError(f"artifact {folder}: residual_scale must be >= 0. Got {self.residual_scale}.")
        self.base = ScriptedStageController() if self.residual_scale > 0.0 else None
        self._base_action: np.ndarray | None = None  # the base's action at the last act (its one act per period)

    def reset(self, world: HOIWorld, agent: str) -> None:
        size = world.observe(agent)["policy"].shape[0] + (ACTION_DIM if self.base is not None else 0)
        if size != self.meta["policy_dim"]:
            raise ArtifactError(
                f"artifact {self.folder} expects {self.meta['policy_dim']} observation values; this world gives "
                f"{size} (the goal or proprioception layout changed: retrain with the command in meta.json)"
            )
        if self.base is not None:
            self.base.reset(world, agent)
        self._base_action = None

    @torch.no_grad()
    def act(self, world: HOIWorld, agent: str) -> np.ndarray:
        if self.base is None:
            obs = torch.as_tensor(world.observe(agent)["policy"], dtype=torch.float32)[None]
            return np.clip(self.policy(obs)[0].numpy().astype(np.float64), -1.0, 1.0)
        base = self._base_action = self.base.act(world, agent)
        policy, _ = self._observe(world, agent, base)
        residual = self.policy(policy)[0].numpy().astype(np.float64)
        return np.clip(base + self.residual_scale * residual, -1.0, 1.0)

    @torch.no_grad()
    def value(self, world: HOIWorld, agent: str) -> float:
        """The critic's value of the stage in progress (privileged observation), or nan without a value export."""
        if self.critic is None:
            return float("nan")
        base = self._base_action
        if self.base is not None and base is None:  # before the first act: what the base would do, left unchanged
            base = copy.deepcopy(self.base).act(world, agent)
        policy, critic = self._observe(world, agent, base)
        return float(self.critic(policy, critic).reshape(-1)[0])

    def _observe(self, world: HOIWorld, agent: str, base: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The training layout's policy and critic observations ``(1, dim)``: the base action after the world's policy
        group, in both (residual artifacts)."""
        obs = world.observe(agent)
        policy, critic = obs["policy"], obs["critic"]
        if base is not None:
            extra = base.astype(np.float32)
            policy = np.concatenate([policy, extra])
            critic = np.concatenate([policy, critic[len(obs["policy"]) :]])
        return torch.as_tensor(policy)[None], torch.as_tensor(critic)[None]


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

"""Policies as skills: a skill whose controller is a trained actor, reporting its critic's value in each Outcome.

An artifact is a folder with ``policy.pt2`` (actor + normalizer, ``torch.export``), ``value.pt2`` (the critic's
value function) and ``meta.json`` (task, control mode and scale, observation sizes, the hash of the scene it was
trained on, training settings). A subclass says which observation the world must build (``observation``), how the
action is applied (``action``) and when the skill is done (``done``); loading refuses an artifact trained on another
scene or with other observation sizes, naming the mismatch.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ember.skills.skill import RUNNING, Outcome, Skill, Status


class ArtifactError(RuntimeError):
    """An artifact that is missing, unreadable or made for something else."""


@cache
def load_artifact(folder: str) -> tuple[Any, Any, dict[str, Any]]:
    path = Path(folder)
    meta_file = path / "meta.json"
    if not meta_file.is_file():
        raise ArtifactError(f"learned skill artifact {path} has no meta.json; train it with the command in its README")
    try:
        meta = json.loads(meta_file.read_text())
        policy = torch.export.load(str(path / "policy.pt2")).module()
        value = torch.export.load(str(path / "value.pt2")).module() if (path / "value.pt2").is_file() else None
    except Exception as err:
        raise ArtifactError(f"learned skill artifact {path} cannot be loaded ({type(err).__name__}: {err})") from err
    return policy, value, meta


class PolicySkill(Skill):
    """Base class of learned skills; subclasses set ``artifact`` and implement the three hooks."""

    artifact: ClassVar[str]
    """Folder of the artifact (absolute, or relative to this package's root)."""
    max_seconds: ClassVar[float] = 10.0
    """World time after which the skill fails [s]."""

    def __init__(self, artifact: str | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.artifact_path = artifact

    def _folder(self) -> str:
        raw = Path(self.artifact_path or self.artifact)
        return str(raw if raw.is_absolute() else Path(__file__).resolve().parent / raw)

    # hooks ------------------------------------------------------------------
    def observation(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def action(self, action: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError

    def scene_hash(self) -> str | None:
        """Hash of the scene the world runs, compared with the artifact's (None: not checked)."""
        return None

    # lifecycle --------------------------------------------------------------
    def _start(self) -> None:
        self.policy, self.value_fn, self.meta = load_artifact(self._folder())
        expected = self.scene_hash()
        if expected is not None and self.meta.get("scene_hash") not in (None, expected):
            raise ArtifactError(
                f"{self.name}: artifact {self._folder()} was trained on scene {self.meta['scene_hash']}"
                f", this world runs {expected}; retrain it ({self.meta.get('train_command', '')})"
            )
        obs = self.observation()
        if obs["policy"].shape[-1] != self.meta["policy_dim"]:
            raise ArtifactError(
                f"{self.name}: the world builds policy observations of size {obs['policy'].shape[-1]}"
                f", the artifact expects {self.meta['policy_dim']}"
            )
        assert self.ctx is not None
        self._t0 = self.ctx.world.time()
        self._last_value: float | None = None

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        world = self.ctx.world
        if self.done():
            return Outcome(Status.SUCCESS, "", self._last_value)
        if world.time() - self._t0 > self.max_seconds:
            return Outcome(
                Status.FAILURE, f"{self.name}: not done after {self.max_seconds} s of world time", self._last_value
            )
        obs = self.observation()
        with torch.no_grad():
            policy = torch.as_tensor(obs["policy"], dtype=torch.float32)[None]
            action = self.policy(policy)[0].numpy()
            value = None
            if self.value_fn is not None:
                critic = torch.as_tensor(obs["critic"], dtype=torch.float32)[None]
                value = float(self.value_fn(policy, critic)[0])
        world.apply(self.ctx.agent, self.action(action))
        self._last_value = value
        return Outcome(RUNNING.status, "", value)

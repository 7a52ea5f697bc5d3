"""A trained sparse-input tracking policy as a controller: load the committed artifact, check it fits the character,
and turn tracker reports into PD targets step by step (``ember run task=retarget input=FILE``).

An artifact is a folder with ``policy.pt2`` (the actor with its observation normalizer, ``torch.export``) and
``meta.json`` (training config and command, MuJoCo version, the character's model hash, evaluation figures). A
residual policy (``residual_scale`` > 0 in its meta) corrects the motion-matched pose of its training clips
(``sims/humanoid/matching.py``): its observation ends with that pose, and the PD targets are
``clip(base + residual_scale * action, -2, 2)``; :meth:`TrackingPolicy.env_kwargs` sets an env up that way and
:meth:`TrackingPolicy.base` gives the pose from a live tracker window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ember.sims.humanoid.character import JOINT_DAMPING, Drive, humanoid_mjcf, model_hash

CHECKPOINTS = Path(__file__).parent / "checkpoints"
SHIPPED = CHECKPOINTS / "retarget"
"""The committed policy: a residual tracking policy distilled from the MPC teacher on walk (``meta.json`` has its
command; it misses the issue's targets and has not seen run, punch or kick — README)."""


class TrackingPolicyError(ValueError):
    """An artifact that cannot be used; names the file, the field and the fix."""


def save_tracking_artifact(algo: Any, policy_dim: int, folder: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``policy.pt2`` and ``meta.json`` (atomically each) for a trained retargeting policy."""
    import mujoco

    from ember.sims.atomic import atomic_write_json
    from ember.skills.learning.export import export_policy

    folder = Path(folder)
    export_policy(algo, policy_dim, folder / "policy.pt2")
    scales = (float(meta.get("leg_scale", 1.0)), float(meta.get("arm_scale", 1.0)))
    full = {
        **meta,
        "policy_dim": policy_dim,
        "mujoco": mujoco.__version__,
        "model_hash": model_hash(humanoid_mjcf(*scales, **drive_of(meta))),
    }
    atomic_write_json(folder / "meta.json", full, indent=2)
    return folder


def drive_of(meta: dict[str, Any]) -> Drive:
    """The character drive (``humanoid_mjcf``'s ``joint_damping``, ``armature``) a policy's ``meta.json`` records;
    an artifact from before the drive was a setting was trained with the defaults."""
    return {
        "joint_damping": float(meta.get("joint_damping", JOINT_DAMPING)),
        "armature": float(meta.get("armature", 0.0)),
    }


class TrackingPolicy:
    """``act(policy_obs (N, D)) -> PD-target actions (N, 28)``, deterministic.

    Args:
        folder: an artifact folder (default: the shipped one).
        leg_scale, arm_scale: the character it will drive; a policy trained on another morphology is refused unless
            ``zero_shot=True`` (retargeting to other proportions without fine-tuning, reported as such). The drive
            (joint damping, armature) is the policy's own, from its ``meta.json`` (:attr:`drive`).
    """

    def __init__(
        self, folder: str | Path = SHIPPED, leg_scale: float = 1.0, arm_scale: float = 1.0, zero_shot: bool = False
    ) -> None:
        folder = Path(folder)
        meta_path, policy_path = folder / "meta.json", folder / "policy.pt2"
        if not meta_path.is_file() or not policy_path.is_file():
            raise TrackingPolicyError(
                f"{folder}: needs policy.pt2 and meta.json; train one with `ember train task=retarget ...` and give "
                "its run's artifact/ folder"
            )
        try:
            self.meta = json.loads(meta_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TrackingPolicyError(f"{meta_path}: not JSON ({err}); the artifact is damaged") from err
        lacking = [k for k in ("model_hash", "policy_dim") if not isinstance(self.meta, dict) or k not in self.meta]
        if lacking:
            raise TrackingPolicyError(
                f"{folder}: not a tracking-policy artifact (its meta.json lacks {lacking}; an artifact of another "
                "task?); give the artifact/ folder of an `ember train task=retarget` run"
            )
        try:
            self.drive = drive_of(self.meta)
            expected = model_hash(humanoid_mjcf(leg_scale, arm_scale, **self.drive))
        except (TypeError, ValueError) as err:
            raise TrackingPolicyError(
                f"{meta_path}: joint_damping {self.meta.get('joint_damping')!r} / armature "
                f"{self.meta.get('armature')!r} do not describe a character ({err}); the artifact is damaged"
            ) from err
        if self.meta.get("model_hash") != expected and not zero_shot:
            raise TrackingPolicyError(
                f"{folder}: trained on a character with model_hash {self.meta.get('model_hash')!r} "
                f"(leg_scale {self.meta.get('leg_scale', 1.0)}, arm_scale {self.meta.get('arm_scale', 1.0)}); this one "
                f"is {expected!r} (leg_scale {leg_scale}, arm_scale {arm_scale}). Pass zero_shot=True to drive it "
                "anyway, or fine-tune a policy for it"
            )
        from ember.skills.learning.export import load_policy

        try:
            self.module = load_policy(policy_path)
        except Exception as err:  # a truncated or foreign file: torch.export raises many kinds
            first = str(err).splitlines()[0] if str(err) else ""
            raise TrackingPolicyError(
                f"{policy_path} cannot be loaded ({type(err).__name__}: {first}); the artifact is damaged — export "
                "it again from its run"
            ) from err
        self.policy_dim = int(self.meta["policy_dim"])
        self.residual_scale = float(self.meta.get("residual_scale", 0.0))
        self._scales = (leg_scale, arm_scale)
        self._matcher: Any = None

    def env_kwargs(self) -> dict[str, Any]:
        """``RetargetVecEnv`` arguments that give this policy the observation and action it was trained with."""
        if self.residual_scale <= 0:
            return dict(self.drive)
        return {
            **self.drive,
            "residual_scale": self.residual_scale,
            "match_clips": list(self.meta.get("clips", [])),
            "match_mirror": bool(self.meta.get("mirror", True)),
        }

    def base(self, window: np.ndarray, head_quat: np.ndarray) -> np.ndarray:
        """The motion-matched pose ``(N, 28)`` in action units for tracker windows ``(N, 3, 3, 3)`` (reports at
        ``f``, ``f + 1``, ``f + 2``) and the headset's orientation at ``f + 1`` ``(N, 4)``; zeros for a policy that
        is not residual."""
        if self.residual_scale <= 0:
            return np.zeros((len(window), 28))
        from ember.sims.humanoid.matching import build_matcher
        from ember.sims.humanoid.retarget_env import ACTION_SCALE

        if self._matcher is None:
            from ember.sims.humanoid.character import load_humanoid

            kw = self.env_kwargs()
            model = load_humanoid(*self._scales, **self.drive)
            self._matcher = build_matcher(model, kw["match_clips"], kw["match_mirror"])
        return np.asarray(self._matcher.pose(window, head_quat)) / ACTION_SCALE

    def targets(self, obs: np.ndarray | torch.Tensor, base: np.ndarray) -> np.ndarray:
        """PD targets in action units ``(N, 28)`` from the ``policy`` group and the base pose (zeros if not
        residual) — what the env executes for the same observation."""
        action = np.clip(self.act(obs).numpy(), -2.0, 2.0)
        if self.residual_scale > 0:
            action = np.clip(base + self.residual_scale * action, -2.0, 2.0)
        return np.asarray(action)

    def act(self, obs: np.ndarray | torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
        """Actions for the ``policy`` group (or an env's observation dict)."""
        x = torch.as_tensor(obs["policy"] if isinstance(obs, dict) else obs, dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != self.policy_dim:
            raise TrackingPolicyError(f"observation must be (N, {self.policy_dim}); got {tuple(x.shape)}")
        with torch.no_grad():
            return self.module(x)

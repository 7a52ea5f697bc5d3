"""Sparse tracking inputs: what a VR headset and two hand controllers report about a moving body.

Three trackers (:data:`TRACKERS`: head, left hand, right hand) report 6-DoF poses — position [m] and orientation
(w, x, y, z) in the Z-up world — once per frame of the reference (30 Hz for a :class:`~.motion.Clip`). The head pose
is the center of the head sphere, the hands the wrist spheres, each with its body's orientation
(``character.TRACKED_SITES``). :class:`SparseConfig` corrupts the true poses the way real trackers do, in this order:

1. latency: every report is ``round(latency_s · fps)`` frames old; the first frames repeat the first pose;
2. noise: Gaussian position noise and a Gaussian rotation vector (per axis, in the tracker's frame);
3. dropout: each tracker's sample is missing with probability ``dropout``, independently; missing rows are NaN and
   ``valid`` is False there. :func:`hold_last` fills them with the tracker's last valid pose, as a runtime would.

Numpy only and vectorised: poses may carry leading batch dimensions ``(..., T, K, 3|4)``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ember.sims.humanoid.rotations import axis_angle_to_quat, quat_mul, quat_normalize

if TYPE_CHECKING:
    import mujoco

    from ember.sims.humanoid.motion import Clip

TRACKERS = ("head", "left_hand", "right_hand")
"""Tracked sites in the order of the K axis."""


@dataclass(frozen=True)
class SparseConfig:
    """How the trackers' reports differ from the true poses."""

    noise_pos_m: float = 0.0
    """Standard deviation of position noise per axis [m]."""
    noise_rot_rad: float = 0.0
    """Standard deviation of the rotation-noise vector per axis [rad]."""
    latency_s: float = 0.0
    """Age of each report [s], rounded to whole frames."""
    dropout: float = 0.0
    """Probability that a tracker's sample is missing, per tracker and frame, in [0, 1)."""
    seed: int = 0
    """Seed of the noise and dropout draws."""

    def __post_init__(self) -> None:
        for field in ("noise_pos_m", "noise_rot_rad", "latency_s"):
            value = getattr(self, field)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"SparseConfig.{field} must be a finite number >= 0. Got {value}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"SparseConfig.dropout must be in [0, 1) (a probability). Got {self.dropout}.")


@dataclass(frozen=True, eq=False)
class SparseSignals:
    """Tracker reports over time."""

    pos: np.ndarray
    """(..., T, K, 3) positions [m]; NaN where a sample is missing."""
    quat: np.ndarray
    """(..., T, K, 4) orientations (w, x, y, z); NaN where a sample is missing."""
    valid: np.ndarray
    """(..., T, K) True where the tracker reported."""
    fps: float
    """Report rate [Hz]."""
    trackers: tuple[str, ...] = TRACKERS


def latency_frames(config: SparseConfig, fps: float) -> int:
    """The configured latency in whole frames at ``fps`` [Hz]."""
    return round(config.latency_s * fps)


def sparse_from_poses(
    pos: np.ndarray, quat: np.ndarray, config: SparseConfig | None = None, fps: float = 30.0
) -> SparseSignals:
    """Tracker reports from true poses ``pos (..., T, K, 3)`` [m] and ``quat (..., T, K, 4)`` sampled at ``fps``."""
    config = config or SparseConfig()
    pos, quat = np.asarray(pos, dtype=float), np.asarray(quat, dtype=float)
    if pos.ndim < 3 or pos.shape[-1] != 3 or quat.shape != (*pos.shape[:-1], 4):
        raise ValueError(f"pos must be (..., T, K, 3) and quat (..., T, K, 4). Got {pos.shape} and {quat.shape}.")
    rng = np.random.default_rng(config.seed)
    steps = pos.shape[-3]
    source = np.clip(np.arange(steps) - latency_frames(config, fps), 0, None)  # delayed; held at the start
    pos, quat = np.take(pos, source, axis=-3), np.take(quat, source, axis=-3)
    if config.noise_pos_m > 0:
        pos = pos + rng.normal(0.0, config.noise_pos_m, pos.shape)
    if config.noise_rot_rad > 0:
        noise = axis_angle_to_quat(rng.normal(0.0, config.noise_rot_rad, pos.shape))
        quat = quat_normalize(quat_mul(quat, noise))  # perturbation in the tracker's own frame
    valid = rng.random(pos.shape[:-1]) >= config.dropout
    pos = np.where(valid[..., None], pos, np.nan)
    quat = np.where(valid[..., None], quat, np.nan)
    return SparseSignals(pos, quat, valid, fps)


def sparse_from_clip(
    clip: Clip, model: mujoco.MjModel, config: SparseConfig | None = None, trackers: tuple[str, ...] = TRACKERS
) -> SparseSignals:
    """Tracker reports for every frame of ``clip`` on the character ``model`` (``character.load_humanoid``)."""
    from ember.sims.humanoid.motion import tracker_poses

    pos, quat = tracker_poses(model, clip.qpos, trackers)
    return replace(sparse_from_poses(pos, quat, config, clip.fps), trackers=trackers)


def hold_last(signals: SparseSignals) -> SparseSignals:
    """Missing samples replaced by the tracker's last valid pose (before the first valid one: that first pose);
    a tracker that never reported stays NaN. ``valid`` still marks the samples that were measured."""
    valid = signals.valid
    steps = valid.shape[-2]
    index = np.arange(steps).reshape(steps, 1)
    last = np.maximum.accumulate(np.where(valid, index, -1), axis=-2)  # (..., T, K) index of the last valid sample
    first = np.argmax(valid, axis=-2)[..., None, :]  # (..., 1, K)
    source = np.where(last < 0, first, last)[..., None]
    pos = np.take_along_axis(signals.pos, source, axis=-3)
    quat = np.take_along_axis(signals.quat, source, axis=-3)
    return replace(signals, pos=pos, quat=quat)

"""Kinematic pose from sparse inputs by motion matching: the nearest frame of a motion database to what a headset and
two controllers report, as a full-body pose (the base a residual tracking policy corrects).

A live system has the trackers' reports and nothing of the body below them; motion matching (Clavet 2016, and the
avatar-from-sparse-input systems after it) fills the body in with the stored frame whose tracker trajectory is
nearest. Here the query is a window of three reports — frames ``f``, ``f + 1``, ``f + 2``: the one already seen and
the two the actor looks ahead — expressed in the frame of the head at ``f + 1`` (its position, and its yaw from the
headset's orientation), so the match does not depend on where the user stands or faces:

- the hands relative to the head at ``f + 1`` (6), the head's height (1);
- the velocity of all three trackers over the window, ``(p[f + 2] - p[f]) * fps / 2`` [m/s], weighted by
  ``velocity_weight`` (9): it tells the phase of a gait apart (a hand swinging forward or back).

The answer is the database frame's hinge angles at ``f + 1`` (28) — the pose to hold as PD targets for the next step.
The database is built from named clips (the training clips and their mirror images): the matcher of a policy is
rebuilt from the clip names its artifact records, so a held-out clip is matched against the training motion, never
against itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ember.sims.humanoid import motion
from ember.sims.humanoid.motion import CLIP_NAMES, load_clip
from ember.sims.humanoid.rotations import quat_yaw, rotate_z

WINDOW = 3
"""Reports in a query: the current frame and the two ahead."""


def match_features(window: np.ndarray, head_quat: np.ndarray, fps: float, velocity_weight: float) -> np.ndarray:
    """Features ``(N, 16)`` of tracker windows ``(N, 3, 3, 3)`` (frame, tracker head/left/right, xyz) [m] with the
    head's orientation at the middle frame ``(N, 4)`` (w, x, y, z)."""
    window = np.asarray(window, dtype=np.float64)
    if window.ndim != 4 or window.shape[1:] != (WINDOW, 3, 3):
        raise ValueError(f"window must have shape (N, {WINDOW}, 3, 3); got {window.shape}")
    heading = -quat_yaw(np.asarray(head_quat, dtype=np.float64))
    head = window[:, 1, 0]
    hands = rotate_z(window[:, 1, 1:] - head[:, None], heading)
    velocity = rotate_z((window[:, 2] - window[:, 0]) * fps / 2.0, heading) * velocity_weight
    return np.concatenate([hands.reshape(len(window), -1), head[:, 2:3], velocity.reshape(len(window), -1)], 1)


class PoseMatcher:
    """Nearest database frame to a tracker window -> hinge angles ``(N, 28)``.

    Args:
        model: the character (its proportions set where the trackers sit).
        clips: :class:`~ember.sims.humanoid.motion.Clip` objects making the database.
        velocity_weight: weight of the trackers' velocities [s] against their positions [m] in the distance.
    """

    def __init__(self, model: Any, clips: Sequence[Any], velocity_weight: float = 0.15) -> None:
        from ember.sims.humanoid.motion import tracker_poses

        if not clips:
            raise ValueError("clips must name at least one clip to match against")
        self.velocity_weight = velocity_weight
        self.names = [c.name for c in clips]
        features, poses = [], []
        for clip in clips:
            qpos = clip.sample(np.arange(clip.num_frames + WINDOW) / clip.fps)[0] if clip.loop else clip.qpos
            if len(qpos) < WINDOW:
                raise ValueError(f"clip {clip.name!r} has {len(qpos)} frames; matching needs at least {WINDOW}")
            pos, quat = tracker_poses(model, qpos)
            starts = np.arange(len(qpos) - WINDOW + 1)
            windows = np.stack([pos[starts + k] for k in range(WINDOW)], 1)
            features.append(match_features(windows, quat[starts + 1, 0], clip.fps, velocity_weight))
            poses.append(qpos[starts + 1, 7:])
        self.features = np.concatenate(features)
        self.poses = np.concatenate(poses)
        self._sq = np.sum(self.features**2, 1)
        self.fps = float(clips[0].fps)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def nearest(self, window: np.ndarray, head_quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices into the database ``(N,)`` and distances ``(N,)`` of the frames nearest to each window."""
        query = match_features(window, head_quat, self.fps, self.velocity_weight)
        dist = self._sq[None] - 2.0 * query @ self.features.T + np.sum(query**2, 1, keepdims=True)
        index = np.argmin(dist, 1)
        return index, np.sqrt(np.maximum(dist[np.arange(len(index)), index], 0.0))

    def pose(self, window: np.ndarray, head_quat: np.ndarray) -> np.ndarray:
        """Hinge angles ``(N, 28)`` [rad] of the nearest frames."""
        return self.poses[self.nearest(window, head_quat)[0]]


def build_matcher(model: Any, clip_names: Sequence[str], mirror: bool) -> PoseMatcher:
    """The residual mode's matcher: a database of the named clips (and their mirror images) on ``model``."""
    unknown = [c for c in clip_names if c not in CLIP_NAMES]
    if unknown or not clip_names:
        raise ValueError(
            f"match_clips {unknown or list(clip_names)} are not clip names; choose from {list(CLIP_NAMES)}"
        )
    clips = [load_clip(c) for c in clip_names]
    return PoseMatcher(model, clips + ([motion.mirror(c) for c in clips] if mirror else []))

"""Scripted demonstrators for imitation learning: closed-loop controllers that act in the env contract's action space
(``ee_delta``), reading the privileged ``critic`` row of ``TabletopVecEnv``, so what they record is what a policy
trained on it can send back.

:class:`ObstaclePushDemonstrator` pushes the cube of the ``push_obstacle`` task around the post, on a side drawn per
episode (left or right of the start-to-goal line, half each): action-level multimodal demonstrations.
"""

from __future__ import annotations

import numpy as np
import torch

from ember.sims.pybullet.assets import CUBE_SIZE, TABLE_TOP_Z

_EE, _GOAL, _POST, _CUBE = slice(15, 18), slice(21, 23), slice(23, 25), slice(25, 28)
"""Where the grasp point, goal, post and true cube position sit in a ``push_obstacle`` critic row."""


class ObstaclePushDemonstrator:
    """Push the cube to a waypoint beside the post, then on to the goal.

    Each push is a closed loop: the closed fingers go to a point behind the cube on the line to the current target
    (over the top when they are not already behind it), then push along that line, steering against sideways drift,
    slowing near the target.

    Args:
        num_envs: rows of the env it drives.
        ee_step: the env's grasp-point displacement at action 1 [m].
        clearance: distance of the waypoint from the post's center, across the start-to-goal line [m].
        speed: pushing speed [m per control step].
        side: +1 (left of the start-to-goal line), -1 (right) or 0 (drawn per episode, half each).
        seed: seed of the side draws.
    """

    low = TABLE_TOP_Z + 0.03
    """Grasp-point height while pushing [m]."""
    high = TABLE_TOP_Z + 0.1
    """Grasp-point height while travelling over the cube [m]."""
    lookahead = 0.04
    """How far ahead on the path the cube is aimed [m]."""

    def __init__(
        self,
        num_envs: int,
        ee_step: float = 0.02,
        clearance: float = 0.16,
        speed: float = 0.008,
        side: int = 0,
        seed: int = 0,
    ) -> None:
        if side not in (-1, 0, 1):
            raise ValueError(f"side must be -1 (right), 0 (drawn per episode) or 1 (left); got {side!r}")
        self.num_envs, self.ee_step, self.clearance, self.speed, self.fixed_side = (
            num_envs,
            ee_step,
            clearance,
            speed,
            side,
        )
        self.rng = np.random.default_rng(seed)
        self.side = np.ones(num_envs)
        self.via = np.zeros((num_envs, 2))
        self.start = np.zeros((num_envs, 2))
        self.stage = np.zeros(num_envs, dtype=int)

    def reset(self, env_ids: np.ndarray | list[int], critic: torch.Tensor) -> None:
        """Start new episodes in ``env_ids`` from their first ``critic`` rows (shape ``(num_envs, D)``)."""
        rows = critic.detach().cpu().numpy().astype(np.float64)
        for i in env_ids:
            row = rows[i]
            cube, goal, post = row[_CUBE][:2], row[_GOAL], row[_POST]
            track = (goal - cube) / max(float(np.linalg.norm(goal - cube)), 1e-6)
            normal = np.array([-track[1], track[0]])
            self.side[i] = self.fixed_side or (1.0 if self.rng.random() < 0.5 else -1.0)
            self.via[i] = post + self.side[i] * self.clearance * normal
            self.start[i] = cube
            self.stage[i] = 0

    def episode_attrs(self, i: int) -> dict[str, str]:
        """Stored with each recorded episode: the side the demonstration passes the post on."""
        return {"side": "left" if self.side[i] > 0 else "right"}

    def act(self, critic: torch.Tensor) -> torch.Tensor:
        rows = critic.detach().cpu().numpy().astype(np.float64)
        return torch.as_tensor(np.stack([self._act_one(i, r) for i, r in enumerate(rows)]), dtype=torch.float32)

    def _act_one(self, i: int, row: np.ndarray) -> np.ndarray:
        ee, cube, goal = row[_EE], row[_CUBE][:2], row[_GOAL]
        # Pure pursuit along start -> waypoint -> goal: aim at a point a little ahead on the current leg, so a cube
        # that drifts sideways is steered back onto the path instead of cutting towards the post.
        a, b = (self.start[i], self.via[i]) if self.stage[i] == 0 else (self.via[i], goal)
        leg = b - a
        length = max(float(np.linalg.norm(leg)), 1e-6)
        t = float((cube - a) @ leg) / length
        if self.stage[i] == 0 and (t > length - 0.015 or np.linalg.norm(cube - b) < 0.02):
            self.stage[i] = 1
            a, b = self.via[i], goal
            leg = b - a
            length = max(float(np.linalg.norm(leg)), 1e-6)
            t = float((cube - a) @ leg) / length
        target = a + leg / length * min(length, max(t, 0.0) + self.lookahead)
        rest = target - cube
        dist = float(np.linalg.norm(goal - cube)) if self.stage[i] == 1 else float(np.linalg.norm(rest))
        u = rest / max(float(np.linalg.norm(rest)), 1e-6)
        n = np.array([-u[1], u[0]])
        half = CUBE_SIZE / 2
        push_point = cube - u * (half + 0.025)
        rel = ee[:2] - cube
        along, lateral = float(rel @ u), float(rel @ n)
        to_point = push_point - ee[:2]
        if self.stage[i] == 1 and dist < 0.015:
            move, z = np.zeros(2), ee[2]  # there: hold still (the env ends the episode on success)
        elif along < -(half + 0.004) and abs(lateral) < 0.012 and ee[2] < self.low + 0.02:
            step = min(self.speed, max(0.003, 0.5 * dist)) if self.stage[i] == 1 else self.speed
            move, z = u * step - n * lateral * 0.5, self.low  # push, steering back onto the line
        elif along < -(half + 0.015) and ee[2] < self.low + 0.03:
            move, z = to_point, self.low  # behind the cube but off the line: slide across, low
        elif np.linalg.norm(to_point) < 0.01:
            move, z = to_point, self.low  # above the push point: go down
        elif ee[2] < self.high - 0.01:
            move, z = np.zeros(2), self.high  # lift clear of the cube before travelling
        else:
            move, z = to_point, self.high  # travel over the top
        delta = np.array([*move, z - ee[2]]) / self.ee_step
        return np.array([*np.clip(delta, -1.0, 1.0), -1.0])

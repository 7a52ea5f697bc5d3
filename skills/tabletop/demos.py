"""Scripted demonstrators for imitation learning: closed-loop controllers that act in the env contract's action space
(``ee_delta``), reading the privileged ``critic`` row of ``TabletopVecEnv``, so what they record is what a policy
trained on it can send back.

:class:`ObstaclePushDemonstrator` pushes the cube of the ``push_obstacle`` task around the post, on a side drawn per
episode (left or right of the start-to-goal line, half each): action-level multimodal demonstrations.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ember.sims.pybullet.assets import CUBE_SIZE, TABLE_TOP_Z

_EE, _GOAL, _POST, _CUBE = slice(15, 18), slice(21, 23), slice(23, 25), slice(25, 28)
"""Where the grasp point, goal, post and true cube position sit in a ``push_obstacle`` critic row."""


class ObstaclePushDemonstrator:
    """Push the cube to a waypoint beside the post, then on to the goal.

    Each push is a closed loop, a smooth function of the state at one height: the closed fingers circle the cube at
    a safe radius until they are behind it with respect to the current target, then close in and push along the
    line, steering against sideways drift, slowing near the target. The target runs along start -> waypoint ->
    goal (pure pursuit).

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
    lookahead = 0.04
    """How far ahead on the path the cube is aimed [m]."""
    orbit = 0.07
    """Radius at which the fingers circle the cube to get behind it [m] (clear of its corners)."""
    orbit_rate = 0.35
    """Largest turn around the cube per control step [rad]."""

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
        rel = ee[:2] - cube
        r = max(float(np.linalg.norm(rel)), 1e-6)
        angle_now = math.atan2(rel[1], rel[0])
        behind = math.atan2(-u[1], -u[0])
        error = (behind - angle_now + math.pi) % (2 * math.pi) - math.pi
        if self.stage[i] == 1 and dist < 0.015:
            move = np.zeros(2)  # there: hold still (the env ends the episode on success)
        elif abs(error) < math.radians(20) and r < self.orbit + 0.01:
            # Behind the cube: close in and push along the line, steering back onto it.
            lateral = float(rel @ n)
            step = min(self.speed, max(0.003, 0.5 * dist)) if self.stage[i] == 1 else self.speed
            closing = r > CUBE_SIZE / 2 + 0.022  # not yet touching: close in faster
            move = u * (self.speed * 1.5 if closing else step) - n * lateral * 0.5
        else:
            # Elsewhere: orbit the cube at a safe radius, turning towards the behind point by the shorter way.
            turn = float(np.clip(error, -self.orbit_rate, self.orbit_rate))
            desired = cube + self.orbit * np.array([math.cos(angle_now + turn), math.sin(angle_now + turn)])
            move = desired - ee[:2]
        z = self.low
        delta = np.array([*move, z - ee[2]]) / self.ee_step
        return np.array([*np.clip(delta, -1.0, 1.0), -1.0])

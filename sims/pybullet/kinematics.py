"""Kinematics of the Panda alone — forward kinematics and inverse kinematics from its URDF, no scene, no dynamics.

A real-robot backend has no simulator to ask where the gripper is; it computes it from measured joint positions, as
MoveIt or KDL would. This model loads the same ``pybullet_data`` URDF the simulator uses into its own DIRECT client,
so the IK a skill gets on the robot is the IK it got in simulation.
"""

from __future__ import annotations

import math

import numpy as np
import pybullet as p
from numpy.typing import ArrayLike
from pybullet_utils.bullet_client import BulletClient

from ember.sims.pybullet.assets import DATA_PATH, PANDA
from ember.sims.pybullet.scene import _quiet_stdout


class PandaKinematics:
    """FK and IK of the grasp point (``panda_grasptarget_hand``) for 7 arm joint positions [rad]."""

    def __init__(self, base_position: ArrayLike = PANDA.base_position) -> None:
        with _quiet_stdout():
            self.bc = BulletClient(connection_mode=p.DIRECT)
        self.bc.setAdditionalSearchPath(DATA_PATH)
        self.robot = self.bc.loadURDF(
            PANDA.urdf, [float(v) for v in np.asarray(base_position).reshape(3)], useFixedBase=True
        )
        self._lower = [*PANDA.lower, 0.0, 0.0]
        self._upper = [*PANDA.upper, 0.04, 0.04]
        self._range = [u - lo for u, lo in zip(self._upper, self._lower, strict=True)]
        self._rest = [*PANDA.home, 0.04, 0.04]

    def _set(self, q: ArrayLike) -> None:
        for joint, value in zip(PANDA.arm_joints, np.asarray(q, dtype=np.float64).reshape(7), strict=True):
            self.bc.resetJointState(self.robot, joint, float(value))

    def forward(self, q: ArrayLike) -> tuple[np.ndarray, float]:
        """Grasp-point position [m] and yaw [rad] for arm joint positions ``q``."""
        self._set(q)
        state = self.bc.getLinkState(self.robot, PANDA.ee_link, computeForwardKinematics=True)
        yaw = self.bc.getEulerFromQuaternion(state[5])[2]
        return np.array(state[4]), float(yaw)

    def inverse(self, position: ArrayLike, yaw: float, seed: ArrayLike | None = None) -> np.ndarray:
        """Arm joint positions [rad] putting the grasp point at ``position`` [m], pointing down, turned by ``yaw``;
        the solver starts from ``seed`` (the measured joints), as the simulator's IK starts from the current state."""
        self._set(seed if seed is not None else PANDA.home)
        orn = self.bc.getQuaternionFromEuler([math.pi, 0.0, yaw])
        q = self.bc.calculateInverseKinematics(
            self.robot,
            PANDA.ee_link,
            [float(v) for v in np.asarray(position).reshape(3)],
            orn,
            lowerLimits=self._lower,
            upperLimits=self._upper,
            jointRanges=self._range,
            restPoses=self._rest,
            maxNumIterations=50,
            residualThreshold=1e-4,
        )
        return np.clip(np.asarray(q[:7], dtype=np.float64), PANDA.lower, PANDA.upper)

    def close(self) -> None:
        try:
            self.bc.disconnect()
        except p.error:
            pass

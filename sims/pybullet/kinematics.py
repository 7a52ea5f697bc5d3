"""Kinematics of the Panda alone — forward kinematics and inverse kinematics from its URDF, no scene, no dynamics.

A real-robot backend has no simulator to ask where the gripper is; it computes it from measured joint positions, as
MoveIt or KDL would. This model loads the same ``pybullet_data`` URDF the simulator uses into its own DIRECT client,
so the IK a skill gets on the robot is the IK it got in simulation.
"""

from __future__ import annotations

import numpy as np
import pybullet as p
from numpy.typing import ArrayLike
from pybullet_utils.bullet_client import BulletClient

from ember.sims.pybullet.assets import DATA_PATH, PANDA
from ember.sims.pybullet.scene import _quiet_stdout, solve_ik


class PandaKinematics:
    """FK and IK of the grasp point (``panda_grasptarget_hand``) for 7 arm joint positions [rad]."""

    def __init__(self, base_position: ArrayLike = PANDA.base_position) -> None:
        with _quiet_stdout():
            self.bc = BulletClient(connection_mode=p.DIRECT)
        self.bc.setAdditionalSearchPath(DATA_PATH)
        self.robot = self.bc.loadURDF(
            PANDA.urdf, [float(v) for v in np.asarray(base_position).reshape(3)], useFixedBase=True
        )

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
        return solve_ik(self.bc, self.robot, position, yaw)

    def close(self) -> None:
        try:
            self.bc.disconnect()
        except p.error:
            pass

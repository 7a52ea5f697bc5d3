"""The DeepMimic humanoid in MuJoCo and its motion data, for tracking and retargeting from sparse inputs.

- ``character``: the MJCF built from pybullet_data's ``humanoid/humanoid.urdf`` (scale 0.25, Z-up, 28 hinges, PD
  position actuators, 240 Hz physics), with other limb proportions, and the joint/qpos tables.
- ``motion``: the 15 DeepMimic clips as 30 Hz MuJoCo states, augmentation (mirror, heading, time warp), the
  train/held-out split, forward kinematics.
- ``sparse``: headset and controller poses derived from a motion, with noise, latency and dropout.

Importing this package imports neither MuJoCo nor PyBullet; the functions that need them import them.
"""

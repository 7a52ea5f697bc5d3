"""Batched quaternion and Euler-angle helpers for the humanoid (numpy only).

Quaternions are (w, x, y, z), MuJoCo's order, with any number of leading batch dimensions. "Intrinsic XYZ" angles
(a, b, c) describe ``R = Rx(a) Ry(b) Rz(c)``: a rotation about x, then about the new y, then about the newest z, which
is what a chain of three MuJoCo hinges with axes x, y, z in one body composes to. The decomposition is singular only
at ``|b| = 90°`` (gimbal lock); with the humanoid's axis choice (``character.py``) the middle angle is a limb's twist,
which stays below 81° over all 15 DeepMimic clips.
"""

from __future__ import annotations

import numpy as np

Y_UP_TO_Z_UP = np.array([np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0])
"""+90° about x: maps the clips' and URDF's Y-up frame (y up, z right) onto MuJoCo's Z-up frame (z up, y left)."""


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a ⊗ b`` (rotate by ``b``, then by ``a``)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        -1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternion with a non-negative w (one of the two equivalent signs)."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0.0, -q, q)


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions ``(..., 4)``."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - z * w),
            2 * (x * z + y * w),
            2 * (x * y + z * w),
            1 - 2 * (x * x + z * z),
            2 * (y * z - x * w),
            2 * (x * z - y * w),
            2 * (y * z + x * w),
            1 - 2 * (x * x + y * y),
        ],
        -1,
    )
    return m.reshape(*q.shape[:-1], 3, 3)


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``(..., 3)`` by unit quaternions ``(..., 4)``."""
    return np.einsum("...ij,...j->...i", quat_to_mat(q), v)


def axis_angle_to_quat(rotvec: np.ndarray) -> np.ndarray:
    """Quaternions of rotation vectors ``(..., 3)`` (axis times angle [rad])."""
    angle = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    # sin(angle/2)/angle, with its limit 1/2 at zero
    scale = np.where(angle > 1e-12, np.sin(angle / 2) / np.maximum(angle, 1e-12), 0.5)
    return np.concatenate([np.cos(angle / 2), rotvec * scale], -1)


def quat_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` of unit quaternions, angle in [0, π] (shorter way)."""
    q = np.where(q[..., :1] < 0.0, -q, q)
    sin_half = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(sin_half, q[..., :1])
    scale = np.where(sin_half > 1e-12, angle / np.maximum(sin_half, 1e-12), 2.0)
    return q[..., 1:] * scale


def quat_yaw(q: np.ndarray) -> np.ndarray:
    """Heading [rad] of rotations ``(..., 4)`` (w, x, y, z): the angle about the world z axis (Z-up)."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def rotate_z(vec: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate ``(N, ..., 3)`` vectors about z by ``angle`` ``(N,)`` [rad]."""
    c, s = np.cos(angle), np.sin(angle)
    shape = (-1,) + (1,) * (vec.ndim - 2)
    c, s = c.reshape(shape), s.reshape(shape)
    out = vec.copy()
    out[..., 0] = c * vec[..., 0] - s * vec[..., 1]
    out[..., 1] = s * vec[..., 0] + c * vec[..., 1]
    return out


def yaw_quat(yaw: float | np.ndarray) -> np.ndarray:
    """Rotation about the world z axis (Z-up) by ``yaw`` [rad]."""
    yaw = np.asarray(yaw, dtype=float)
    zeros = np.zeros_like(yaw)
    return np.stack([np.cos(yaw / 2), zeros, zeros, np.sin(yaw / 2)], -1)


def slerp(q0: np.ndarray, q1: np.ndarray, alpha: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation from ``q0`` (alpha 0) to ``q1`` (alpha 1) the shorter way; ``alpha`` broadcasts
    against the batch dimensions."""
    alpha = np.asarray(alpha, dtype=float)[..., None]
    dot = np.sum(q0 * q1, -1, keepdims=True)
    q1 = np.where(dot < 0.0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-6  # nearly equal: linear interpolation is exact to first order
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - alpha, np.sin((1.0 - alpha) * theta) / safe)
    w1 = np.where(near, alpha, np.sin(alpha * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def quat_to_euler_xyz(q: np.ndarray) -> np.ndarray:
    """Intrinsic XYZ angles ``(..., 3)`` [rad] with ``R(q) = Rx(a) Ry(b) Rz(c)``; a, c in (-π, π], b in [-π/2, π/2]."""
    m = quat_to_mat(q)
    a = np.arctan2(-m[..., 1, 2], m[..., 2, 2])
    b = np.arcsin(np.clip(m[..., 0, 2], -1.0, 1.0))
    c = np.arctan2(-m[..., 0, 1], m[..., 0, 0])
    return np.stack([a, b, c], -1)


def euler_xyz_to_quat(angles: np.ndarray) -> np.ndarray:
    """Quaternion of intrinsic XYZ angles ``(..., 3)`` [rad]: ``qx(a) ⊗ qy(b) ⊗ qz(c)``."""
    half = np.asarray(angles, dtype=float) / 2
    zeros = np.zeros(half.shape[:-1])
    ca, cb, cc = np.cos(half[..., 0]), np.cos(half[..., 1]), np.cos(half[..., 2])
    sa, sb, sc = np.sin(half[..., 0]), np.sin(half[..., 1]), np.sin(half[..., 2])
    qx = np.stack([ca, sa, zeros, zeros], -1)
    qy = np.stack([cb, zeros, sb, zeros], -1)
    qz = np.stack([cc, zeros, zeros, sc], -1)
    return quat_mul(quat_mul(qx, qy), qz)


def y_up_to_z_up(p: np.ndarray | None = None, q: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(..., 3)`` and orientations ``(..., 4)`` from the Y-up frame to the Z-up frame:
    ``p' = R p = (x, -z, y)`` and ``q' = r ⊗ q ⊗ r⁻¹`` (body frames are rotated by the same ``r``)."""
    p_out = np.zeros(3) if p is None else np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)
    q_out = (
        np.array([1.0, 0.0, 0.0, 0.0]) if q is None else quat_mul(quat_mul(Y_UP_TO_Z_UP, q), quat_conj(Y_UP_TO_Z_UP))
    )
    return p_out, q_out

"""The safety layer between skills and a robot: every arm command passes :meth:`SafetyLayer.filter` before it is sent.

In order, a command is refused while the e-stop is latched or the watchdog has tripped, refused when it holds NaN/inf,
refused when it comes sooner than ``1 / max_command_hz`` after the last one, then clipped to the joint position
limits, to the joint speed limits and to the joint acceleration limits (both measured against the previous accepted
command over the time between them; the acceleration limit bounds speeding up, never braking), and refused when the
grasp point it leads to leaves the workspace box. The gripper opening is clipped to ``[0, gripper_max]``; a mobile
base's twist is scaled down to its speed limits. Each clip or refusal is a :class:`SafetyEvent` with its reason; the
world writes them to the trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.robots.config import Limits


@dataclass
class SafetyEvent:
    """One thing the safety layer did."""

    kind: str
    """``clipped``, ``refused``, ``watchdog``, ``estop``, ``estop_reset``, ``recovered``, ``rejected_state``."""
    reason: str
    t: float = 0.0
    """Time since the world started [s]."""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "safety",
            "kind": self.kind,
            "reason": self.reason,
            "t_robot": round(self.t, 4),
            **self.details,
        }


@dataclass
class Command:
    """An arm command that passed the layer: joint positions [rad] and a gripper opening [m] (None: unchanged)."""

    q: np.ndarray | None
    gripper: float | None


class SafetyLayer:
    """Limits, watchdog and e-stop for one arm.

    Args:
        limits: the robot config's limits.
        forward: grasp-point position [m] for arm joint positions (the workspace check); None skips that check.
        control_dt: nominal period between commands [s] (the speed limit's time step for a first command).
    """

    def __init__(
        self, limits: Limits, forward: Callable[[np.ndarray], np.ndarray] | None = None, control_dt: float = 1 / 30
    ) -> None:
        self.limits = limits
        self.forward = forward
        self.control_dt = control_dt
        self.lower = np.asarray(limits.position_lower)
        self.upper = np.asarray(limits.position_upper)
        self.vmax = np.asarray(limits.velocity)
        self.amax = np.asarray(limits.acceleration)
        self.estop_reason: str | None = None
        self.watchdog_reason: str | None = None
        self._last_q: np.ndarray | None = None
        self._last_v = np.zeros_like(self.lower)
        self._last_t: float | None = None

    # ------------------------------------------------------------------ latches
    def estop(self, reason: str, t: float) -> SafetyEvent:
        """Latch the e-stop: every command is refused until :meth:`reset`."""
        self.estop_reason = reason
        return SafetyEvent("estop", reason, t)

    def reset(self, t: float) -> SafetyEvent:
        """Release the e-stop; motion restarts from rest at the measured joints."""
        self.estop_reason = None
        self._last_q, self._last_t = None, None
        self._last_v[:] = 0.0
        return SafetyEvent("estop_reset", "e-stop reset", t)

    def check_watchdog(self, state_age: float, t: float) -> SafetyEvent | None:
        """Trip when the newest joint state is older than ``limits.watchdog_s``; clear when a fresh one arrives."""
        if state_age > self.limits.watchdog_s:
            if self.watchdog_reason is None:
                self.watchdog_reason = (
                    f"watchdog: no fresh joint state for {state_age:.3f} s (deadline {self.limits.watchdog_s} s); "
                    "holding position"
                )
                return SafetyEvent("watchdog", self.watchdog_reason, t, {"state_age_s": round(state_age, 4)})
            return None
        if self.watchdog_reason is not None:
            self.watchdog_reason = None
            self._last_q, self._last_t = None, None
            self._last_v[:] = 0.0
            return SafetyEvent("recovered", "fresh joint states again; watchdog cleared", t)
        return None

    @property
    def blocked(self) -> str | None:
        """Why commands are refused now (e-stop or watchdog), or None."""
        if self.estop_reason is not None:
            return f"e-stop latched ({self.estop_reason}); reset it before moving"
        return self.watchdog_reason

    # ------------------------------------------------------------------ commands
    def filter(
        self, q: np.ndarray | None, gripper: float | None, measured: np.ndarray, t: float
    ) -> tuple[Command | None, list[SafetyEvent]]:
        """Check one command at time ``t`` [s] from the measured joints; returns the command to send (None: send
        nothing) and what was clipped or refused."""
        events: list[SafetyEvent] = []
        if self.blocked is not None:
            return None, [SafetyEvent("refused", self.blocked, t)]
        if q is not None:
            q = np.asarray(q, dtype=np.float64)
            if q.shape != self.lower.shape or not np.all(np.isfinite(q)):
                return None, [
                    SafetyEvent(
                        "refused",
                        f"arm command must be {self.lower.size} finite joint positions; got {q.tolist()}",
                        t,
                    )
                ]
        if gripper is not None and not math.isfinite(gripper):
            return None, [SafetyEvent("refused", f"gripper command must be a finite opening in m; got {gripper}", t)]
        if self._last_t is not None and t - self._last_t < 1.0 / self.limits.max_command_hz - 1e-6:
            gap = t - self._last_t
            return None, [
                SafetyEvent(
                    "refused",
                    f"command rate too high: {gap * 1000:.2f} ms after the last one "
                    f"(limit {self.limits.max_command_hz:g} Hz)",
                    t,
                )
            ]
        if gripper is not None:
            clipped = min(max(gripper, 0.0), self.limits.gripper_max)
            if clipped != gripper:
                events.append(
                    SafetyEvent("clipped", f"gripper {gripper:.4f} m outside [0, {self.limits.gripper_max}]", t)
                )
            gripper = clipped
        if q is None:
            self._last_t = t
            return Command(None, gripper), events
        q = self._clip(q, measured, t, events)
        if self.forward is not None:
            ee = np.asarray(self.forward(q))
            lo, hi = np.asarray(self.limits.workspace_min), np.asarray(self.limits.workspace_max)
            if np.any(ee < lo) or np.any(ee > hi):
                events.append(
                    SafetyEvent(
                        "refused",
                        f"grasp point {np.round(ee, 3).tolist()} would leave the workspace box "
                        f"{self.limits.workspace_min}..{self.limits.workspace_max}",
                        t,
                    )
                )
                return None, events
        dt = self.control_dt if self._last_t is None else max(t - self._last_t, 1e-6)
        previous = self._last_q if self._last_q is not None else measured
        self._last_v = (q - previous) / dt
        self._last_q, self._last_t = q, t
        return Command(q, gripper), events

    def filter_twist(self, twist: np.ndarray, t: float) -> tuple[np.ndarray | None, list[SafetyEvent]]:
        """Check a base velocity ``[vx, vy, vz, wx, wy, wz]`` [m/s, rad/s]: refused while blocked or with NaN/inf,
        scaled down (direction kept) to the linear and angular limits."""
        if self.blocked is not None:
            return None, [SafetyEvent("refused", self.blocked, t)]
        twist = np.asarray(twist, dtype=np.float64)
        if twist.shape != (6,) or not np.all(np.isfinite(twist)):
            return None, [SafetyEvent("refused", f"base twist must be 6 finite numbers; got {twist.tolist()}", t)]
        events = []
        out = twist.copy()
        for part, limit, unit in (
            (slice(0, 3), self.limits.base_linear, "m/s"),
            (slice(3, 6), self.limits.base_angular, "rad/s"),
        ):
            norm = float(np.linalg.norm(out[part]))
            if norm > limit:
                out[part] *= limit / norm
                events.append(SafetyEvent("clipped", f"base speed {norm:.3f} {unit} above its limit {limit}", t))
        return out, events

    def _clip(self, q: np.ndarray, measured: np.ndarray, t: float, events: list[SafetyEvent]) -> np.ndarray:
        out = np.clip(q, self.lower, self.upper)
        if not np.array_equal(out, q):
            joints = np.flatnonzero(out != q).tolist()
            events.append(SafetyEvent("clipped", f"joints {joints} beyond their position limits", t))
        fresh = self._last_q is None
        previous = measured if fresh else self._last_q
        assert previous is not None
        dt = self.control_dt if self._last_t is None else max(t - self._last_t, 1e-6)
        v = (out - previous) / dt
        v_lim = np.clip(v, -self.vmax, self.vmax)
        v_prev = np.zeros_like(v) if fresh else self._last_v
        # Speeding up is limited; slowing down is not (a safety layer must never carry a joint past where it was
        # told to stop), and a reversal brakes to rest at once, then speeds up within the limit.
        braking = (np.sign(v_lim) * np.sign(v_prev) >= 0) & (np.abs(v_lim) <= np.abs(v_prev))
        base = np.where(np.sign(v_lim) * np.sign(v_prev) < 0, 0.0, v_prev)
        v_acc = np.where(braking, v_lim, np.clip(v_lim, base - self.amax * dt, base + self.amax * dt))
        if not np.allclose(v_lim, v, atol=1e-9):
            joints = np.flatnonzero(~np.isclose(v_lim, v, atol=1e-9)).tolist()
            events.append(
                SafetyEvent(
                    "clipped",
                    f"joints {joints} would move at {np.round(np.abs(v[joints]), 2).tolist()} rad/s, above their "
                    "speed limits",
                    t,
                )
            )
        if not np.allclose(v_acc, v_lim, atol=1e-9):
            joints = np.flatnonzero(~np.isclose(v_acc, v_lim, atol=1e-9)).tolist()
            events.append(SafetyEvent("clipped", f"joints {joints} above their acceleration limits", t))
        return previous + v_acc * dt

"""Scripted controllers as phase machines: move the grasp point, open or close the gripper, check a condition.

Each phase runs for one or more control periods; a tick does at most one motion command, so a skill never blocks.
Targets are callables re-evaluated every tick, so a skill tracks an object that moves while it approaches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ember.sims.world import World
from ember.skills.skill import RUNNING, Outcome, Skill, Status


class ArmWorld(Protocol):
    """What scripted arm skills need from a world beyond the contract (TabletopWorld, a ROS arm bridge)."""

    control_dt: float

    def ee_pose(self, agent: str) -> tuple[np.ndarray, float]: ...

    def gripper_opening(self, agent: str) -> float: ...


Target = Callable[[], tuple[np.ndarray, float]]


@dataclass
class Move:
    """Move the grasp point to ``target()`` (position [m], yaw [rad]) at ``speed`` [m/s], gripper at ``gripper`` [m]."""

    target: Target
    gripper: float
    speed: float = 0.5
    tolerance: float = 0.006
    """Distance at which the phase ends [m]."""
    timeout: float = 4.0
    """World time after which the phase fails [s]."""
    label: str = "move"
    done: Callable[[], bool] | None = None
    """Ends the phase instead of reaching the target (for targets that move ahead, as in pushing)."""


@dataclass
class Grip:
    """Hold position and drive the gripper to ``opening`` [m] for ``duration`` [s]."""

    opening: float
    duration: float = 0.4
    label: str = "grip"


@dataclass
class Check:
    """Fail with ``reason`` unless ``condition()`` holds."""

    condition: Callable[[], bool]
    reason: str
    label: str = "check"


@dataclass
class Expand:
    """Replaced, when reached, by the phases ``build()`` returns (for controllers that decide as they go)."""

    build: Callable[[], list[Phase]]
    label: str = "expand"


Phase = Move | Grip | Check | Expand


class ScriptedSkill(Skill):
    """A skill whose controller is a list of phases built by :meth:`phases` at start."""

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def _start(self) -> None:
        self._phases = self.phases()
        self._index = 0
        self._phase_t0 = self.world.time()
        self._hold: tuple[np.ndarray, float] | None = None
        self._gripper = self.arm.gripper_opening(self.agent)

    @property
    def world(self) -> World:
        assert self.ctx is not None, "skill used before start()"
        return self.ctx.world

    @property
    def arm(self) -> ArmWorld:
        return self.world  # type: ignore[return-value]

    @property
    def agent(self) -> str:
        assert self.ctx is not None, "skill used before start()"
        return self.ctx.agent

    @property
    def args(self) -> dict[str, Any]:
        assert self.ctx is not None, "skill used before start()"
        return self.ctx.args

    def _next(self) -> None:
        self._index += 1
        self._phase_t0 = self.world.time()
        self._hold = None

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        while self._index < len(self._phases):
            phase = self._phases[self._index]
            elapsed = self.world.time() - self._phase_t0
            if isinstance(phase, Expand):
                self._phases[self._index : self._index + 1] = phase.build()
                continue
            if isinstance(phase, Check):
                if not phase.condition():
                    return Outcome(Status.FAILURE, phase.reason)
                self._next()
                continue
            if isinstance(phase, Grip):
                if self._hold is None:
                    self._hold = self.arm.ee_pose(self.agent)
                if elapsed >= phase.duration:
                    self._gripper = phase.opening
                    self._next()
                    continue
                pos, yaw = self._hold
                self.world.apply(self.agent, {"ee_pos": pos, "ee_yaw": yaw, "gripper": phase.opening})
                return RUNNING
            target, yaw = phase.target()
            ee, _ = self.arm.ee_pose(self.agent)
            delta = np.asarray(target, dtype=np.float64) - ee
            dist = float(np.linalg.norm(delta))
            if phase.done() if phase.done is not None else dist < phase.tolerance:
                self._gripper = phase.gripper
                self._next()
                continue
            if elapsed > phase.timeout:
                return Outcome(
                    Status.FAILURE,
                    f"{self.name}: {phase.label} did not reach its target within {phase.timeout:.1f} s "
                    f"(still {dist * 100:.1f} cm away)",
                )
            step = phase.speed * self.world.control_dt
            carrot = target if dist <= step else ee + delta / dist * step
            self.world.apply(self.agent, {"ee_pos": carrot, "ee_yaw": yaw, "gripper": phase.gripper})
            return RUNNING
        return Outcome(Status.SUCCESS)

    def cancel(self) -> None:
        if self.ctx is None:
            return
        pos, yaw = self.arm.ee_pose(self.agent)
        self.world.apply(self.agent, {"ee_pos": pos, "ee_yaw": yaw})

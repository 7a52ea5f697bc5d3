"""A real arm as a :class:`~ember.sims.world.World`: built from what the robot says over a :class:`RobotLink`, so
planners and skills cannot tell it from the simulator.

- Facts, objects and the held cube come from the same rules as the PyBullet tabletop (``support_from_poses``,
  ``tabletop_facts``), applied to the object poses heard on ``/objects/<id>/pose`` and the joint states; a cube
  counts as held when it sits between the fingers (grasp point within 3 cm) and the fingers are open by 40-120 % of
  its width.
- ``apply`` takes the tabletop's arm actions (``ee_pos`` + ``ee_yaw``, ``ee_delta``, ``joint_pos``, ``gripper``) and,
  for a robot with ``topics.base_command``, ``base_twist`` ``[vx, vy, vz, wx, wy, wz]`` for its mobile base;
  Cartesian targets go through the Panda's own kinematic model (``PandaKinematics``), seeded with the measured joints.
- ``advance`` sends the queued command through the :class:`~ember.robots.safety.SafetyLayer`, then waits for the end
  of the control period: world time is wall-clock time on a robot.
- Messages are checked before use: a joint state with unknown or missing joints, mismatched lengths, NaN/inf, a stamp
  older than the last one, or a jump beyond ``limits.max_state_jump`` is rejected; a pose with NaN or a
  non-unit quaternion is rejected. Rejections and every clipped or refused command are trace events, never exceptions.
- ``fault()`` says why the robot may not move (e-stop latched, watchdog tripped); the executor halts the tree on it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ember.robots.config import RobotConfig, load_robot_config
from ember.robots.link import ACK, ImageMsg, JointStateMsg, LinkCallbacks, PoseMsg, RobotLink
from ember.robots.safety import SafetyLayer
from ember.sims.predicates import Atom
from ember.sims.pybullet.assets import CUBE_SIZE, TRAY_FLOOR_Z, TRAY_HALF_WIDTH, TRAY_POSITION
from ember.sims.pybullet.kinematics import PandaKinematics
from ember.sims.pybullet.tabletop_world import (
    check_arm_action,
    support_from_poses,
    tabletop_facts,
    tabletop_objects,
)
from ember.sims.world import DerivedRule, ObjectInfo, World, WorldError

HELD_RADIUS = 0.03
"""Grasp point to cube center distance under which a cube between open-enough fingers is held [m]."""


def tray_inner_bounds() -> tuple[float, float, float, float]:
    inner = TRAY_HALF_WIDTH - 0.03
    return (TRAY_POSITION[0] - inner, TRAY_POSITION[0] + inner, TRAY_POSITION[1] - inner, TRAY_POSITION[1] + inner)


class RobotWorld(World):
    """World contract over a robot link.

    Args:
        link: the transport (``Ros2Link``, ``RosbridgeLink``).
        robot: the robot config (mapping or :class:`RobotConfig`).
        connect_timeout: seconds to wait for the first joint state and every object's pose.
        record: directory of a rosbag2/MCAP recording of the run (None: no recording).
        render_size: size of the blank frame returned before the first camera image, (width, height) [px].
    """

    def __init__(
        self,
        link: RobotLink,
        robot: Mapping[str, Any] | RobotConfig | None = None,
        connect_timeout: float = 15.0,
        record: str | Path | None = None,
        render_size: Sequence[int] = (160, 120),
    ) -> None:
        self.robot = load_robot_config(robot)
        self.agent = self.robot.name
        self.control_dt = 1.0 / self.robot.control_hz
        self.link = link
        self.on_event: Callable[[dict[str, Any]], None] | None = None
        self.kinematics = PandaKinematics(self.robot.base_position)
        self.safety = SafetyLayer(self.robot.limits, lambda q: self.kinematics.forward(q)[0], self.control_dt)
        self.recorder = None
        if record is not None:
            from ember.robots.record import McapRecorder

            self.recorder = McapRecorder(record)
        self._lock = threading.Lock()
        self._command_lock = threading.RLock()  # check-and-send is atomic: an e-stop's hold is always the last word
        self._events: list[dict[str, Any]] = []
        self._rejected: dict[str, int] = {}
        self._q: np.ndarray | None = None
        self._qd = np.zeros(len(self.robot.arm_joints))
        self._fingers = np.zeros(len(self.robot.finger_joints))
        self._state_t = -math.inf
        self._state_stamp = -math.inf
        self._poses: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._image: ImageMsg | None = None
        self._blank = np.zeros((int(render_size[1]), int(render_size[0]), 3), dtype=np.uint8)
        self._pending: dict[str, Any] | None = None
        self._seq = 0
        self._sent: dict[int, float] = {}
        self.latencies: list[float] = []
        """Command-to-acknowledgement latencies [s] (robots that echo ``ack=<seq>`` in their joint states)."""
        self._acked = 0
        self._t0 = time.monotonic()
        self._next_tick = self._t0
        self._last_health = -math.inf
        self.counters = {"commands": 0, "clipped": 0, "refused": 0, "rejected_states": 0, "rejected_poses": 0}
        link.start(
            LinkCallbacks(self._on_joint_state, self._on_pose, self._on_image, self._on_estop, self._on_dropped),
            self.robot.objects,
        )
        try:
            self._wait_for_robot(connect_timeout)
        except BaseException:
            self.close()
            raise
        self.reset_clock()

    # ------------------------------------------------------------------ incoming (link threads)
    def _note(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._events.append(event)

    def _reject(self, kind: str, reason: str) -> None:
        self.counters["rejected_states" if kind == "state" else "rejected_poses"] += 1
        count = self._rejected[reason] = self._rejected.get(reason, 0) + 1
        if count <= 3 or count % 100 == 0:  # a flood of one bad message does not flood the trace
            self._note(
                {"event": "safety", "kind": "rejected_" + kind, "reason": reason, "count": count, "t": self.time()}
            )

    def _on_dropped(self, reason: str) -> None:
        self._reject("state", reason)

    def _on_joint_state(self, msg: JointStateMsg) -> None:
        names, cfg = msg.names, self.robot
        if len(msg.position) != len(names) or (msg.velocity and len(msg.velocity) != len(names)):
            return self._reject("state", f"joint state with {len(names)} names but {len(msg.position)} positions")
        index = {n: i for i, n in enumerate(names)}
        missing = [j for j in cfg.arm_joints if j not in index]
        if missing:
            return self._reject("state", f"joint state lacks arm joints {missing}")
        q = np.array([msg.position[index[j]] for j in cfg.arm_joints], dtype=np.float64)
        qd = np.array([msg.velocity[index[j]] if msg.velocity else 0.0 for j in cfg.arm_joints])
        fingers = [msg.position[index[j]] for j in cfg.finger_joints if j in index]
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qd)) and all(math.isfinite(f) for f in fingers)):
            return self._reject("state", "joint state with NaN or inf")
        now = time.monotonic()
        with self._lock:
            if msg.stamp < self._state_stamp:
                stale = self._state_stamp - msg.stamp
                reason = f"joint state stamped {stale:.3f} s before the previous one (stale or out of order)"
            elif (
                self._q is not None
                and now - self._state_t < cfg.limits.watchdog_s
                and float(np.max(np.abs(q - self._q))) > cfg.limits.max_state_jump
            ):
                reason = (
                    f"joint state jumps {float(np.max(np.abs(q - self._q))):.3f} rad from the previous one "
                    f"(limit {cfg.limits.max_state_jump})"
                )
            else:
                reason = ""
                self._q, self._qd, self._state_t, self._state_stamp = q, qd, now, msg.stamp
                if len(fingers) == len(cfg.finger_joints):
                    self._fingers = np.array(fingers)
                ack = ACK.search(msg.frame_id)
                if ack is not None:
                    seq = int(ack.group(1))
                    for s in range(self._acked + 1, seq + 1):
                        sent = self._sent.pop(s, None)
                        if sent is not None:
                            self.latencies.append(now - sent)
                    self._acked = max(self._acked, seq)
        if reason:
            return self._reject("state", reason)
        if self.recorder is not None:
            self.recorder.joint_state(cfg.topics.joint_states, msg)
        return None

    def _on_pose(self, msg: PoseMsg) -> None:
        pos, quat = np.asarray(msg.position, dtype=np.float64), np.asarray(msg.orientation, dtype=np.float64)
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(quat))):
            return self._reject("pose", f"pose of {msg.id} with NaN or inf")
        norm = float(np.linalg.norm(quat))
        if abs(norm - 1.0) > 0.1:
            return self._reject("pose", f"pose of {msg.id} with a quaternion of norm {norm:.3f} (not a rotation)")
        with self._lock:
            self._poses[msg.id] = (pos, quat / norm)
        if self.recorder is not None:
            self.recorder.pose(self.robot.topics.object_pose.format(id=msg.id), msg)
        return None

    def _on_image(self, msg: ImageMsg) -> None:
        if msg.encoding not in ("rgb8", "bgr8") or len(msg.data) != msg.height * msg.width * 3:
            return self._reject("state", f"camera image {msg.width}x{msg.height} {msg.encoding!r} is not rgb8/bgr8")
        with self._lock:
            self._image = msg
        return None

    def _on_estop(self, latch: bool) -> tuple[bool, str]:
        t = self.time()
        if latch:
            event = self.safety.estop("e-stop service called", t)
            self._hold("e-stop")
        else:
            event = self.safety.reset(t)
        self._note(event.to_dict())
        return True, event.reason

    # ------------------------------------------------------------------ connection
    def _wait_for_robot(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                ready = self._q is not None and all(o in self._poses for o in self.robot.objects)
            if ready:
                return
            time.sleep(0.02)
        with self._lock:
            missing = [] if self._q is not None else [self.robot.topics.joint_states]
            missing += [self.robot.topics.object_pose.format(id=o) for o in self.robot.objects if o not in self._poses]
        raise WorldError(
            f"robot {self.robot.name!r}: nothing heard on {missing} within {timeout:.0f} s; start the arm driver "
            "(or `ember robot-sim`) with the same ROS_DOMAIN_ID, or fix robot.topics"
        )

    def reset_clock(self) -> None:
        """World time restarts at zero (an episode starts)."""
        self._t0 = time.monotonic()
        self._next_tick = self._t0

    # ------------------------------------------------------------------ world contract
    def _snapshot(self) -> tuple[np.ndarray, np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
        with self._lock:
            assert self._q is not None
            return self._q.copy(), self._fingers.copy(), dict(self._poses)

    def ee_pose(self, agent: str) -> tuple[np.ndarray, float]:
        self._check_agent(agent)
        q, _, _ = self._snapshot()
        return self.kinematics.forward(q)

    def gripper_opening(self, agent: str) -> float:
        self._check_agent(agent)
        return float(self._snapshot()[1].sum())

    def held_cube(self) -> str | None:
        q, fingers, poses = self._snapshot()
        opening = float(fingers.sum())
        if not 0.4 * CUBE_SIZE <= opening <= 1.2 * CUBE_SIZE:
            return None
        ee, _ = self.kinematics.forward(q)
        for obj in self.robot.objects:
            if obj in poses and float(np.linalg.norm(poses[obj][0] - ee)) < HELD_RADIUS:
                return obj
        return None

    def facts(self) -> frozenset[Atom]:
        held = self.held_cube()
        _, _, poses = self._snapshot()
        positions = {o: poses[o][0] for o in self.robot.objects if o in poses}
        tray = tray_inner_bounds() if self.robot.tray else None
        supports = {
            c: None if c == held else support_from_poses(c, positions, tray, None, tray_floor_z=TRAY_FLOOR_Z)
            for c in positions
        }
        return tabletop_facts(self.agent, held, positions, supports, {}, 0.03, self.robot.tray)

    def derived_rules(self) -> tuple[DerivedRule, ...]:
        return (
            DerivedRule(
                head=Atom("clear", ("?x",)), blocked_by=Atom("on", ("?_", "?x")), always_for_types=("surface",)
            ),
        )

    def objects(self) -> dict[str, ObjectInfo]:
        _, _, poses = self._snapshot()
        cubes = {o: poses[o] for o in self.robot.objects if o in poses}
        return tabletop_objects(cubes, tray_inner_bounds() if self.robot.tray else None, {}, None)

    def agents(self) -> list[str]:
        return [self.agent]

    def render(self) -> np.ndarray:
        with self._lock:
            image = self._image
        if image is None:
            return self._blank.copy()
        frame = np.frombuffer(image.data, dtype=np.uint8).reshape(image.height, image.width, 3)
        return (frame[:, :, ::-1] if image.encoding == "bgr8" else frame).copy()

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """The ``policy`` group as the tabletop lays it out (joints, joint speeds, grasp point, cube positions);
        a robot has no privileged ``critic`` state."""
        self._check_agent(agent)
        q, fingers, poses = self._snapshot()
        with self._lock:
            qd = self._qd.copy()
        ee, _ = self.kinematics.forward(q)
        cubes = [poses[o][0] for o in self.robot.objects if o in poses]
        policy = np.concatenate([q, fingers, qd, np.zeros(len(fingers)), ee, *cubes]).astype(np.float32)
        return {"policy": policy}

    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        self._check_agent(agent)
        twist = None
        if isinstance(action, Mapping) and "base_twist" in action:
            if not self.robot.topics.base_command:
                raise WorldError(
                    f"action 'base_twist' needs a mobile base; robot {self.robot.name!r} has no topics.base_command"
                )
            try:
                twist = np.asarray(action["base_twist"], dtype=np.float64).reshape(6)
            except (TypeError, ValueError) as err:
                raise WorldError(
                    "action['base_twist'] must be [vx, vy, vz, wx, wy, wz] in m/s and rad/s; "
                    f"got {action['base_twist']!r}"
                ) from err
            action = {k: v for k, v in action.items() if k != "base_twist"}
        checked = check_arm_action(action, lambda: self.ee_pose(agent)[1])
        if twist is not None:
            checked["base_twist"] = twist
        if "policy_action" in checked:
            raise WorldError(
                "action 'policy_action' (a learned policy's normalized action) is not mapped on the robot yet; "
                "use ee_pos, ee_delta or joint_pos"
            )
        self._pending = checked

    def advance(self) -> None:
        t = self.time()
        with self._lock:
            age = time.monotonic() - self._state_t
        event = self.safety.check_watchdog(age, t)
        if event is not None:
            self._note(event.to_dict())
            if event.kind == "watchdog":
                self._hold("watchdog")
        action, self._pending = self._pending, None
        if action:
            self._send(action, t)
        self._flush(t)
        self._next_tick += self.control_dt
        delay = self._next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:  # fell behind (a slow planner call): restart the cadence from now, never send a burst to catch up
            self._next_tick = time.monotonic()

    def _send(self, action: dict[str, Any], t: float) -> None:
        with self._command_lock:
            self._send_locked(action, t)

    def _send_locked(self, action: dict[str, Any], t: float) -> None:
        if "base_twist" in action:
            twist, events = self.safety.filter_twist(action["base_twist"], t)
            for event in events:
                self.counters["clipped" if event.kind == "clipped" else "refused"] += 1
                self._note(event.to_dict())
            if twist is not None:
                self.link.send_twist(twist[:3].tolist(), twist[3:].tolist())
        if not any(k in action for k in ("ee_pos", "ee_delta", "joint_pos", "gripper")):
            return
        q_meas, _, _ = self._snapshot()
        target: np.ndarray | None = None
        if "ee_pos" in action:
            target = self.kinematics.inverse(action["ee_pos"], action["ee_yaw"], seed=q_meas)
        elif "ee_delta" in action:
            ee, _ = self.kinematics.forward(q_meas)
            target = self.kinematics.inverse(ee + action["ee_delta"], action["ee_yaw"], seed=q_meas)
        elif "joint_pos" in action:
            target = action["joint_pos"]
        command, events = self.safety.filter(target, action.get("gripper"), q_meas, t)
        for event in events:
            self.counters["clipped" if event.kind == "clipped" else "refused"] += 1
            self._note(event.to_dict())
        if command is None:
            return
        self._seq += 1
        self.counters["commands"] += 1
        stamp = time.time()
        with self._lock:
            self._sent[self._seq] = time.monotonic()
            if len(self._sent) > 1000:  # a robot that never acknowledges: keep the table bounded
                self._sent.pop(next(iter(self._sent)))
        if command.q is not None:
            self._publish_arm(command.q, stamp)
        if command.gripper is not None:
            half = [command.gripper / len(self.robot.finger_joints)] * len(self.robot.finger_joints)
            self.link.send_gripper(self.robot.finger_joints, half, self._seq, stamp)
            if self.recorder is not None:
                self.recorder.command(
                    self.robot.topics.gripper_command, self.robot.finger_joints, half, self._seq, stamp
                )

    def _publish_arm(self, q: np.ndarray, stamp: float) -> None:
        self.link.send_arm(self.robot.arm_joints, q.tolist(), self._seq, stamp)
        if self.recorder is not None:
            self.recorder.command(self.robot.topics.arm_command, self.robot.arm_joints, q.tolist(), self._seq, stamp)

    def _hold(self, why: str) -> None:
        """Command the measured joint positions: the arm stops where it is, and a base gets a zero twist (e-stop,
        watchdog)."""
        with self._command_lock:
            if self.robot.topics.base_command:
                self.link.send_twist([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
            with self._lock:
                q = None if self._q is None else self._q.copy()
            if q is None:
                return
            self._seq += 1
            self._publish_arm(q, time.time())
        self._note({"event": "safety", "kind": "hold", "reason": f"{why}: holding at the measured joints"})

    def _flush(self, t: float) -> None:
        with self._lock:
            events, self._events = self._events, []
        if self.on_event is not None:
            for event in events:
                self.on_event(event)
        if t - self._last_health >= 0.5:
            self._last_health = t
            fault = self.fault()
            values = {k: str(v) for k, v in self.counters.items()}
            self.link.publish_health(2 if fault else 0, fault or "ok", values)

    def fault(self) -> str | None:
        """Why the robot may not move now (e-stop latched, watchdog tripped), or None."""
        return self.safety.blocked

    def time(self) -> float:
        return time.monotonic() - self._t0

    def close(self) -> None:
        try:
            self.link.close()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            self.kinematics.close()

    def _check_agent(self, agent: str) -> None:
        if agent != self.agent:
            raise WorldError(f"agent {agent!r} is unknown; this robot is {self.agent!r}")

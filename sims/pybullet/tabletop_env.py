"""The PyBullet tabletop as a vectorized env (contract 1): N PyBullet clients, one scene each, stepped in turn.

Tasks:

- ``reach``: move the grasp point to a random target; success within 2 cm.
- ``push``: push a cube to a goal on the table; success within 2.5 cm. The actor sees a noisy, optionally delayed
  cube position; the critic the true cube pose, velocity and finger contacts.
- ``push_obstacle``: push a cube 22-26 cm to a goal with a fixed post (5 cm across, 4.5 cm tall) half-way between
  them, so the cube must pass it on one side or the other; success within 3 cm. Start and goal lie on a line within
  45 degrees of the y axis (either direction); the closed gripper starts low (2.5-4 cm up), 7-10 cm from the cube
  in any direction but the post's.

Control modes (actions in [-1, 1]):

- ``ee_delta``: ``(dx, dy, dz, grip)``; displacement of the grasp point per control step, scaled by ``ee_step`` [m];
  ``grip`` maps [-1, 1] to a finger opening of 0..0.08 m.
- ``joint_delta``: ``(dq0..dq6, grip)``; arm joint target change per control step, scaled by ``joint_step`` [rad].

Observation groups (per env row):

- ``policy``: arm joints q (7) [rad], qd (7) [rad/s], gripper opening (1) [m], grasp point (3) [m], then for reach
  the target (3) [m]; for push the observed cube position (3) [m] and the goal (2) [m]; push_obstacle adds the
  post's position (2) [m].
- ``critic``: ``policy`` followed by privileged state: for reach the target offset (3); for push the true cube
  position (3), quaternion (4), linear velocity (3) and finger contacts (2); push_obstacle adds whether anything
  touches the post (1).

``goal_slice`` marks where the goal sits in the ``policy`` row (goal-conditioned imitation takes it out).
"""

from __future__ import annotations

import functools
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ember.sims.env import Obs, StepResult, VecEnv
from ember.sims.pybullet.assets import CUBE_SIZE, PANDA, TABLE_TOP_Z, WORKSPACE_X, WORKSPACE_Y
from ember.sims.pybullet.scene import TabletopScene

SUCCESS_RADIUS = {"reach": 0.02, "push": 0.025, "push_obstacle": 0.03}
"""Distance to the target at which a task's episode succeeds [m]."""

TASKS = ("reach", "push", "push_obstacle")
CONTROLS = ("ee_delta", "joint_delta")
_TASK_DIMS = {"reach": (3, 3), "push": (5, 12), "push_obstacle": (7, 13)}
"""Task-specific (policy, privileged) observation sizes."""


def apply_policy_action(scene: TabletopScene, a: np.ndarray, control: str, ee_step: float, joint_step: float) -> None:
    """Map a normalized action (see the module docstring) onto the scene's motor targets."""
    opening = float((a[-1] + 1.0) / 2.0 * PANDA.max_opening)
    if control == "ee_delta":
        ee, _ = scene.ee_pose()
        target = ee + a[:3] * ee_step
        target[2] = max(target[2], TABLE_TOP_Z + 0.008)
        scene.arm_target = scene.ik(target, 0.0)
    else:
        scene.arm_target = np.clip(scene.arm_target + a[:7] * joint_step, PANDA.lower, PANDA.upper)
    scene.gripper_target = opening
    scene.hold_arm()


def push_observation(
    scene: TabletopScene, cube: str, goal_xy: np.ndarray, seen: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One env's ``policy`` and ``critic`` rows for the push task, plus the grasp point and true cube position [m]
    (each engine query made once). ``seen`` maps the true cube position to the one the actor gets (noise, delay).
    Shared by the env and by :meth:`TabletopWorld.observe_task`, so a learned skill sees in the world exactly what it
    was trained on."""
    q, qd = scene.joint_state()
    ee, _ = scene.ee_pose()
    pos, quat = scene.cube_pose(cube)
    lin, _ = scene.cube_velocity(cube)
    policy = np.concatenate([q[:7], qd[:7], [q[7] + q[8]], ee, seen(pos), goal_xy[:2]])
    critic = np.concatenate([policy, pos, quat, lin, np.array(scene.finger_contacts(cube), dtype=np.float64)])
    return policy, critic, ee, pos


def with_obstacle(scene: TabletopScene, policy: np.ndarray, critic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extend ``push`` rows to ``push_obstacle`` rows: the post's position for the actor, its contact for the critic."""
    extended = np.concatenate([policy, scene.obstacle_xy()])
    return extended, np.concatenate([extended, critic[len(policy) :], [float(scene.obstacle_contact())]])


class TabletopVecEnv(VecEnv):
    """Args:
    task: ``reach`` or ``push``.
    num_envs: parallel PyBullet clients.
    control: ``ee_delta`` or ``joint_delta``.
    physics_hz: physics rate [Hz].
    decimation: physics steps per control step.
    max_episode_length: control steps before truncation.
    ee_step: grasp point displacement at action 1 [m].
    joint_step: joint target change at action 1 [rad].
    obs_noise: std of the noise on the actor's cube position [m].
    obs_delay: control steps by which the actor's cube position lags.
    domain_randomization: draw the cube's friction and mass per episode (push task).
    friction_range: lateral friction coefficient range of the cube.
    mass_range: cube mass range [kg].
    seed: seed of the first reset.
    device: torch device of the returned tensors.
    """

    def __init__(
        self,
        task: str = "reach",
        num_envs: int = 1,
        control: str = "ee_delta",
        physics_hz: int = 240,
        decimation: int = 8,
        max_episode_length: int = 100,
        ee_step: float = 0.02,
        joint_step: float = 0.05,
        obs_noise: float = 0.005,
        obs_delay: int = 0,
        domain_randomization: bool = False,
        friction_range: tuple[float, float] = (0.35, 0.65),
        mass_range: tuple[float, float] = (0.07, 0.13),
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}. Got {task!r}.")
        if control not in CONTROLS:
            raise ValueError(f"control must be one of {list(CONTROLS)}. Got {control!r}.")
        if num_envs < 1 or decimation < 1 or max_episode_length < 1 or obs_delay < 0:
            raise ValueError(
                f"num_envs, decimation, max_episode_length must be >= 1 and obs_delay >= 0; got num_envs={num_envs}, "
                f"decimation={decimation}, max_episode_length={max_episode_length}, obs_delay={obs_delay}"
            )
        self.task, self.control = task, control
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.decimation = decimation
        self.max_episode_length = max_episode_length
        self.ee_step, self.joint_step = ee_step, joint_step
        self.obs_noise, self.obs_delay = obs_noise, obs_delay
        self.domain_randomization = domain_randomization
        self.friction_range, self.mass_range = tuple(friction_range), tuple(mass_range)
        self.scenes = [
            TabletopScene(
                cubes=() if task == "reach" else ("red",),
                physics_hz=physics_hz,
                tray=False,
                obstacle=task == "push_obstacle",
            )
            for _ in range(num_envs)
        ]
        self.step_dt = decimation / physics_hz
        policy_extra, critic_extra = _TASK_DIMS[task]
        self.policy_dim = 18 + policy_extra
        self.critic_dim = self.policy_dim + critic_extra
        self.goal_slice = slice(18, 21) if task == "reach" else slice(21, 23)
        self.single_observation_space = gym.spaces.Dict(
            {
                "policy": gym.spaces.Box(-np.inf, np.inf, (self.policy_dim,), np.float32),
                "critic": gym.spaces.Box(-np.inf, np.inf, (self.critic_dim,), np.float32),
            }
        )
        act_dim = 4 if control == "ee_delta" else 8
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._targets = np.zeros((num_envs, 3))
        self._ee = np.zeros((num_envs, 3))
        self._cube = np.zeros((num_envs, 3))
        self._prev: list[tuple[float, float]] = [(0.0, 0.0)] * num_envs
        self._delayed: list[deque[np.ndarray]] = [deque(maxlen=obs_delay + 1) for _ in range(num_envs)]
        self._seed = seed
        self._rngs = [np.random.default_rng([seed, i]) for i in range(num_envs)]
        self._obs: Obs | None = None

    # ------------------------------------------------------------------ reset
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        if seed is not None:
            self._seed = seed
            self._rngs = [np.random.default_rng([seed, i]) for i in range(self.num_envs)]
        self._reset_idx(np.arange(self.num_envs))
        self._obs = self._observe()
        return self._obs, {"log": {}}

    def _reset_idx(self, env_ids: np.ndarray) -> None:
        for i in env_ids:
            rng, scene = self._rngs[i], self.scenes[i]
            home = np.asarray(PANDA.home) + rng.uniform(-0.1, 0.1, size=7)
            if self.task == "reach":
                scene.reset(rng, {"scattered": []}, settle_seconds=0.0, home=home)
                self._targets[i] = [rng.uniform(*WORKSPACE_X), rng.uniform(-0.25, 0.25), rng.uniform(0.7, 0.95)]
            elif self.task == "push_obstacle":
                self._reset_obstacle(i, rng, scene, home)
            else:
                scene.reset(rng, "scattered", settle_seconds=0.0, home=home)
                if self.domain_randomization:
                    self._randomize_cube(rng, scene)
                cube, _ = scene.cube_pose("red_cube")
                for _ in range(100):
                    angle, dist = rng.uniform(-np.pi, np.pi), rng.uniform(0.08, 0.18)
                    goal = cube[:2] + dist * np.array([np.cos(angle), np.sin(angle)])
                    if (
                        WORKSPACE_X[0] <= goal[0] <= WORKSPACE_X[1]
                        and WORKSPACE_Y[0] <= goal[1] <= WORKSPACE_Y[1] + 0.1
                    ):
                        break
                self._targets[i] = [goal[0], goal[1], TABLE_TOP_Z + CUBE_SIZE / 2]
                # Start the closed gripper low, behind the cube with respect to the goal (spread +-60 degrees and
                # 5-10 cm back): the start a pushing skill hands over from (LearnedPush approaches it by IK).
                away = cube[:2] - goal
                angle = math.atan2(away[1], away[0]) + rng.uniform(-math.pi / 3, math.pi / 3)
                start = cube[:2] + rng.uniform(0.05, 0.1) * np.array([math.cos(angle), math.sin(angle)])
                self._place_arm(scene, np.array([start[0], start[1], TABLE_TOP_Z + rng.uniform(0.02, 0.06)]))
                self._prev[i] = self._progress_terms(i, scene.ee_pose()[0], scene.cube_pose("red_cube")[0])
            self._delayed[i].clear()
        self.episode_length_buf[torch.as_tensor(env_ids, dtype=torch.long)] = 0

    def _reset_obstacle(self, i: int, rng: np.random.Generator, scene: TabletopScene, home: Any) -> None:
        scene.reset(rng, {"scattered": []}, settle_seconds=0.0, home=home)
        center = np.array([rng.uniform(0.44, 0.54), rng.uniform(-0.12, 0.0)])
        heading = math.pi / 2 + rng.uniform(-math.pi / 4, math.pi / 4) + (math.pi if rng.random() < 0.5 else 0.0)
        u = np.array([math.cos(heading), math.sin(heading)])
        half = rng.uniform(0.11, 0.13)
        start, goal = center - half * u, center + half * u
        scene._place("red_cube", (start[0], start[1], TABLE_TOP_Z + CUBE_SIZE / 2 + 0.001), rng.uniform(-0.4, 0.4))
        scene.place_obstacle(center + rng.uniform(-0.01, 0.01) * np.array([-u[1], u[0]]))
        if self.domain_randomization:
            self._randomize_cube(rng, scene)
        self._targets[i] = [goal[0], goal[1], TABLE_TOP_Z + CUBE_SIZE / 2]
        # Any direction but the post's (within 60 degrees of it the hand would start against the post).
        to_post = center - start
        side = math.atan2(to_post[1], to_post[0]) + math.pi + rng.uniform(-2 * math.pi / 3, 2 * math.pi / 3)
        beside = start + rng.uniform(0.07, 0.1) * np.array([math.cos(side), math.sin(side)])
        self._place_arm(scene, np.array([beside[0], beside[1], TABLE_TOP_Z + rng.uniform(0.025, 0.04)]))
        self._prev[i] = self._progress_terms(i, scene.ee_pose()[0], scene.cube_pose("red_cube")[0])

    def _randomize_cube(self, rng: np.random.Generator, scene: TabletopScene) -> None:
        scene.bc.changeDynamics(
            scene.cube_ids["red_cube"],
            -1,
            lateralFriction=float(rng.uniform(self.friction_range[0], self.friction_range[1])),
            mass=float(rng.uniform(self.mass_range[0], self.mass_range[1])),
        )

    @staticmethod
    def _place_arm(scene: TabletopScene, ee_target: np.ndarray) -> None:
        """Put the arm at the IK solution for ``ee_target`` [m] with the gripper closed (no physics stepping)."""
        for _ in range(4):  # IK starts from the current joints; a few passes converge from the home pose
            q = scene.ik(ee_target, 0.0)
            for joint, value in zip(PANDA.arm_joints, q, strict=True):
                scene.bc.resetJointState(scene.robot, joint, float(value), 0.0)
        for joint in PANDA.finger_joints:
            scene.bc.resetJointState(scene.robot, joint, 0.0, 0.0)
        scene.arm_target = q
        scene.gripper_target = 0.0
        scene.hold_arm()

    def _progress_terms(self, i: int, ee: np.ndarray, cube: np.ndarray) -> tuple[float, float]:
        """(cube-to-goal distance, grasp-point-to-push-point distance) [m] for the potential-based shaping."""
        goal = self._targets[i][:2]
        rest = goal - cube[:2]
        direction = rest / max(float(np.linalg.norm(rest)), 1e-6)
        push_point = np.array([*(cube[:2] - direction * (CUBE_SIZE / 2 + 0.015)), TABLE_TOP_Z + 0.015])
        return float(np.linalg.norm(rest)), float(np.linalg.norm(ee - push_point))

    # ------------------------------------------------------------------ step
    def step(self, actions: torch.Tensor) -> StepResult:
        act = torch.as_tensor(actions, dtype=torch.float32).detach().cpu().numpy()
        if act.shape != (self.num_envs, self.single_action_space.shape[0]):
            raise ValueError(
                f"actions must have shape {(self.num_envs, self.single_action_space.shape[0])}; got {act.shape}"
            )
        act = np.clip(np.nan_to_num(act, nan=0.0), -1.0, 1.0)
        for i, scene in enumerate(self.scenes):
            self._apply(scene, act[i])
            scene.step(self.decimation)
        self.episode_length_buf += 1
        obs = self._observe()
        reward, success, failed = self._reward()
        terminated = success | failed
        truncated = (self.episode_length_buf.cpu().numpy() >= self.max_episode_length) & ~terminated
        done = terminated | truncated
        final_obs = {k: v.clone() for k, v in obs.items()}
        log: dict[str, float] = {"reward_mean": float(reward.mean())}
        if done.any():
            log["success_rate"] = float(success[done].mean())
            ids = np.nonzero(done)[0]
            self._reset_idx(ids)
            fresh = self._observe(ids)
            for k in obs:
                obs[k][torch.as_tensor(ids)] = fresh[k]
        self._obs = obs
        extras = {
            "log": log,
            "time_outs": torch.as_tensor(truncated, device=self.device),
            "final_obs": final_obs,
            "success": torch.as_tensor(success, device=self.device),
        }
        return (
            obs,
            torch.as_tensor(reward, dtype=torch.float32, device=self.device),
            torch.as_tensor(terminated, device=self.device),
            torch.as_tensor(truncated, device=self.device),
            extras,
        )

    def _apply(self, scene: TabletopScene, a: np.ndarray) -> None:
        apply_policy_action(scene, a, self.control, self.ee_step, self.joint_step)

    # ------------------------------------------------------------------ observations and reward
    def _observe(self, env_ids: np.ndarray | None = None) -> Obs:
        ids = range(self.num_envs) if env_ids is None else env_ids
        policy, critic = [], []
        for i in ids:
            scene = self.scenes[i]
            if self.task == "reach":
                q, qd = scene.joint_state()
                ee, _ = scene.ee_pose()
                self._ee[i] = ee
                p = np.concatenate([q[:7], qd[:7], [q[7] + q[8]], ee, self._targets[i]])
                c = np.concatenate([p, self._targets[i] - ee])
            else:
                p, c, self._ee[i], self._cube[i] = push_observation(
                    scene, "red_cube", self._targets[i][:2], functools.partial(self._seen, i)
                )
                if self.task == "push_obstacle":
                    p, c = with_obstacle(scene, p, c)
            policy.append(p)
            critic.append(c)
        return {
            "policy": torch.as_tensor(np.asarray(policy, dtype=np.float32), device=self.device),
            "critic": torch.as_tensor(np.asarray(critic, dtype=np.float32), device=self.device),
        }

    def _seen(self, i: int, pos: np.ndarray) -> np.ndarray:
        """The actor's cube position for env ``i``: noisy, and ``obs_delay`` steps old."""
        noisy = pos + self._rngs[i].normal(0.0, self.obs_noise, 3) if self.obs_noise > 0 else pos
        self._delayed[i].append(noisy)
        return self._delayed[i][0]

    def _reward(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        reward = np.zeros(self.num_envs)
        success = np.zeros(self.num_envs, dtype=bool)
        failed = np.zeros(self.num_envs, dtype=bool)
        # Reads the poses cached by the observation of this step: no second round of engine queries.
        for i in range(self.num_envs):
            ee = self._ee[i]
            if self.task == "reach":
                dist = float(np.linalg.norm(ee - self._targets[i]))
                success[i] = dist < SUCCESS_RADIUS["reach"]
                reward[i] = -dist + (1.0 if success[i] else 0.0)
            else:
                # Potential-based shaping (Ng et al. 1999): progress of the cube towards the goal, and of the grasp
                # point towards the push point behind the cube; a bonus on success, a penalty for toppling it.
                dist, reach = self._progress_terms(i, ee, self._cube[i])
                prev_dist, prev_reach = self._prev[i]
                self._prev[i] = (dist, reach)
                cube = self._cube[i]
                success[i] = dist < SUCCESS_RADIUS[self.task]
                failed[i] = cube[2] < TABLE_TOP_Z - 0.05 or cube[2] > TABLE_TOP_Z + CUBE_SIZE / 2 + 0.02
                reward[i] = (
                    20.0 * (prev_dist - dist)
                    + 5.0 * (prev_reach - reach)
                    - 0.01
                    + (5.0 if success[i] else 0.0)
                    - (5.0 if failed[i] else 0.0)
                )
        return reward, success, failed

    def close(self) -> None:
        for scene in self.scenes:
            scene.close()


def obstacle_side(policy_rows: np.ndarray, band: float = 0.03) -> str:
    """Which side of the post an episode of the ``push_obstacle`` task passed it on, judged by the grasp point's
    path: ``left`` / ``right`` of the line from the cube's start to the goal, ``none`` when the hand never came
    abreast of the post (within ``band`` [m] along that line). ``policy_rows``: the episode's ``policy`` rows."""
    rows = np.asarray(policy_rows, dtype=np.float64)
    start, goal, post = rows[0, 18:20], rows[0, 21:23], rows[0, 23:25]
    track = (goal - start) / max(float(np.linalg.norm(goal - start)), 1e-6)
    normal = np.array([-track[1], track[0]])
    rel = rows[:, 15:17] - post
    along, lateral = rel @ track, rel @ normal
    abreast = np.abs(along) < band
    if not abreast.any():
        return "none"
    return "left" if float(np.mean(lateral[abreast])) > 0 else "right"


def push_obstacle_features(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features of ``push_obstacle`` policy rows (..., 25) for imitation, in the task's own frame so they hold across
    layouts: origin at the post, x axis from the post towards the goal. Observation = grasp point minus cube (x y in
    that frame, height above the table), cube minus post (x y), gripper opening; goal = goal minus cube (x y). Also
    returns the frame as (cos, sin) of its angle: planar actions are learned in it and turned back to the world."""
    ee, cube, goal, post = rows[..., 15:18], rows[..., 18:21], rows[..., 21:23], rows[..., 23:25]
    axis = goal - post
    axis = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    frame = axis  # (cos, sin) of the frame angle

    def local(v: torch.Tensor) -> torch.Tensor:
        c, s = frame[..., 0:1], frame[..., 1:2]
        return torch.cat([c * v[..., 0:1] + s * v[..., 1:2], -s * v[..., 0:1] + c * v[..., 1:2]], dim=-1)

    obs = torch.cat(
        [local(ee[..., :2] - cube[..., :2]), ee[..., 2:3] - TABLE_TOP_Z, local(cube[..., :2] - post), rows[..., 14:15]],
        dim=-1,
    )
    return obs, local(goal - cube[..., :2]), frame

"""Motion retargeting from sparse inputs as a vectorized env (contract 1): the MuJoCo DeepMimic humanoid tracks a
reference clip while its actor sees only what a headset and two controllers would report (after Reda et al. 2023).

Each env plays one clip of ``clips`` (mirrored copies added with ``mirror=True``) from a random frame (reference state
initialisation: pose and velocities, root included), 30 Hz control, 240 Hz physics (MuJoCo, one ``MjData`` per env,
``mj_step(nstep=8)``). Actions (28): PD targets of the hinges, ``target = clip(a, -2, 2) * pi / 2`` [rad]. In
residual mode (``residual_scale`` > 0) a :class:`~ember.sims.humanoid.matching.PoseMatcher` fills the body in from
the tracker reports (the nearest frame of the training clips), that pose ``b`` (28, action units) ends the ``policy``
group, and the PD targets are ``clip(b + residual_scale * clip(a, -2, 2), -2, 2) * pi / 2``.

Observation groups, all in the character's heading frame (yaw of the root removed; z up):

- ``policy`` (123): root height (1), root orientation as two rotation-matrix columns (6), root linear and angular
  velocity (6), hinge angles (28) and rates (28) — proprioception — then the three trackers' positions relative to the
  root for the next ``LOOKAHEAD`` (2) frames (18) and relative to the character's own head and hands (18), and their
  orientations at the next frame as two matrix columns each (18). The trackers' reports carry ``tracker_noise`` [m].
  Residual mode appends the matched pose (28): 151.
- ``critic`` (202): the policy group plus the reference's hinge angles (28), root offset (3), body positions relative
  to the reference root (45), the clip phase as cos/sin (2) and the virtual assistant's strength (1) — privileged: a
  live system has none of it.

Training may start with a **virtual assistant** (``assist_steps`` > 0; after Yu, Turk and Liu 2018): a PD wrench on
the pelvis toward the reference's next root pose and velocity (critically damped at ``ASSIST_FREQ``, at most
``ASSIST_MAX_FORCE`` body weights), fading linearly to nothing over ``assist_steps`` env steps — steps taken while
the running fall rate is at most ``assist_max_fall`` — so the policy tracks long episodes early and learns balance
as the help goes. Evaluations and live use never have it.

Reward (after ../shared/notes/retargeting.md, plus the paper's smoothness and contact terms):
``0.45 exp(-2 sum dq^2) + 0.05 exp(-0.1 sum dqd^2) + 0.3 exp(-10 sum |head, hands, root err|^2)
+ 0.2 exp(-10 mean_body_err^2) + 0.1 exp(-sum (a_t - a_{t-1})^2 / 28) + 0.1 (share of feet whose ground contact
matches the reference's)``; with ``root_reward`` the root's orientation error (angle) joins the pose sum and
``0.1 exp(-10 |root velocity err|^2)`` is added (DeepMimic's pose and centre-of-mass terms). An env terminates
when the mean body error passes 0.5 m or the head drops below 0.6 of the reference head's height (a fall); it is
truncated at ``max_episode_length`` or the end of a clip that does not loop. A step in which MuJoCo reports an
unstable simulation (it then resets that env's state) terminates it too, and the share of such steps is logged as
``unstable``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ember.sims.env import Obs, StepResult, VecEnv
from ember.sims.humanoid import motion
from ember.sims.humanoid.character import CONTROL_DECIMATION, JOINT_DAMPING, load_humanoid
from ember.sims.humanoid.matching import PoseMatcher, build_matcher
from ember.sims.humanoid.motion import CLIP_NAMES, Clip, forward_kinematics, load_clip
from ember.sims.humanoid.rotations import quat_conj, quat_mul, quat_rotate, quat_to_axis_angle
from ember.sims.humanoid.rotations import quat_yaw as _yaw
from ember.sims.humanoid.rotations import rotate_z as _rot_z

LOOKAHEAD = 2
TRACKER_SITES = ("head", "left_hand", "right_hand")
FOOT_SITES = ("right_foot", "left_foot")
ACTION_SCALE = math.pi / 2
FALL_BODY_ERR = 0.5  # [m]
FALL_HEAD_RATIO = 0.6
CONTACT_HEIGHT = 0.06  # a reference foot site below this height [m] is on the ground
ASSIST_FREQ = 1.5  # [Hz] natural frequency of the virtual assistant's full-strength PD on the root
ASSIST_MAX_FORCE = 2.0  # its force limit, in the character's weights
ASSIST_TORQUE_ARM = 0.3  # [m] its torque limit is the force limit times this
ASSIST_INERTIA = 4.0  # [kg m^2] rough whole-body inertia about the pelvis, for its torque gains
START_BINS = 8  # phase bins per clip over which adaptive starts keep their fall statistics
START_RATE = 0.05  # weight of an episode's outcome in its start bin's running fall rate


def _clip_norm(rows: np.ndarray, limit: float) -> np.ndarray:
    """Each row of ``rows`` scaled down to norm ``limit`` where it is longer."""
    return rows * np.minimum(1.0, limit / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9))


def actor_observation(
    qpos: np.ndarray, qvel: np.ndarray, own: np.ndarray, targets: np.ndarray, target_quat: np.ndarray
) -> np.ndarray:
    """The ``policy`` group (module docstring) for ``N`` characters: their states ``qpos (N, 35)``, ``qvel (N, 34)``,
    their own head and hand sites ``own (N, 3, 3)`` [m], and what the trackers report: positions for the next
    ``LOOKAHEAD`` frames ``targets (N, LOOKAHEAD, 3, 3)`` [m] and orientations at the next frame ``target_quat
    (N, 3, 4)``. Shared by the env and by live replay, so the actor sees the same layout in both."""
    n = qpos.shape[0]
    root, quat = qpos[:, :3], qpos[:, 3:7]
    yaw = _yaw(quat)
    proprio = [root[:, 2:3], _mat_cols(quat, yaw), _rot_z(qvel[:, :3], -yaw), qvel[:, 3:6], qpos[:, 7:], qvel[:, 6:]]
    to_root = [_rot_z(targets[:, k] - root[:, None], -yaw).reshape(n, -1) for k in range(targets.shape[1])]
    to_own = [_rot_z(targets[:, k] - own, -yaw).reshape(n, -1) for k in range(targets.shape[1])]
    orient = _mat_cols(target_quat, yaw[:, None]).reshape(n, -1)
    return np.concatenate([*proprio, *to_root, *to_own, orient], 1)


def _mat_cols(quat: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """First two columns of the rotation matrix of ``quat`` (w, x, y, z) with ``yaw`` removed, flattened (..., 6)."""
    w, x, y, z = quat[..., 0], quat[..., 1], quat[..., 2], quat[..., 3]
    c0 = np.stack([1 - 2 * (y * y + z * z), 2 * (x * y + z * w), 2 * (x * z - y * w)], -1)
    c1 = np.stack([2 * (x * y - z * w), 1 - 2 * (x * x + z * z), 2 * (y * z + x * w)], -1)
    c0, c1 = _rot_z(c0, -yaw), _rot_z(c1, -yaw)
    return np.concatenate([c0, c1], -1)


@dataclass
class _Tables:
    """Every reference frame of every clip, concatenated; ``start[c]`` is clip ``c``'s first row."""

    qpos: np.ndarray  # (F, 35)
    qvel: np.ndarray  # (F, 34)
    bodies: np.ndarray  # (F, 15, 3)
    sites: dict[str, np.ndarray]  # name -> (F, 3)
    tracker_quat: np.ndarray  # (F, 3, 4)
    start: np.ndarray  # (C,)
    length: np.ndarray  # (C,)
    loops: np.ndarray  # (C,) bool
    names: list[str]
    period: np.ndarray  # (C,) frames of one cycle of a looping clip (its tiled rows repeat with it); else its length

    def start_room(self, c: int) -> int:
        """How many first rows of clip ``c`` an episode may start on: one cycle of a looping clip (its table is tiled
        long enough to run a whole episode from any of them), else all rows that leave the lookahead and a second."""
        if self.loops[c]:
            return max(int(self.period[c]), 1)
        return max(int(self.length[c]) - LOOKAHEAD - 31, 1)


class RetargetVecEnv(VecEnv):
    """Args:
    num_envs: batch size.
    clips: clip names (``motion.CLIP_NAMES``) or :class:`Clip` objects to track.
    mirror: also track each clip's mirror image (left and right swapped).
    max_episode_length: control steps per episode (30 Hz).
    leg_scale, arm_scale: the character's proportions (1, 1 is the human).
    joint_damping, armature: the character's drive (``character.humanoid_mjcf``: passive hinge damping per unit kp,
        default DeepMimic's 0.1, and added rotor inertia, default 0).
    tracker_noise: standard deviation of the trackers' position reports in the actor's observation [m].
    residual_scale: 0 — actions are the PD targets; above 0 — residual mode: a :class:`PoseMatcher` fills the body
        in from the (noisy) tracker reports, its pose is appended to the ``policy`` group (28, in action units), and
        the PD targets are ``clip(base + residual_scale * a, -2, 2)``.
    assist_steps: env steps of this instance (all its envs together; with several env runners each fades on its own)
        over which the virtual assistant fades out; 0: none.
    assist_start: its strength at the start (0 for an evaluation env beside an assisted training env: same
        observation, no help).
    assist_max_fall: the fading pauses while the running per-step fall rate is above this (1: a fixed schedule;
        e.g. 0.01: help is taken away only as fast as the policy copes).
    root_reward: also reward the root's orientation and linear velocity (module docstring).
    clip_weights: how often an episode starts on each clip (one weight per clip, its mirror image sharing it; None:
        uniform) — more practice where the policy falls most.
    adaptive_starts: share of episode starts drawn where episodes have lately been falling (0: none): each clip's
        start frames are cut into ``START_BINS`` phase bins, each bin keeps a running rate of falls among the
        episodes that started in it (``START_RATE`` per episode, 0.5 before any), and that share of the starts
        picks a bin in proportion to its rate (times its clip's weight) and a frame uniformly within it — hard
        segments get practice and a mastered one is still drawn by the rest (after PHC's hard-negative mining).
    physics_threads: 0 — step each env's ``MjData`` from Python; N > 0 — step the whole batch with
        ``mujoco.rollout`` on N threads (1: the calling thread). Same physics; the constraint solver starts cold
        each control step there (no warm start carried over), so trajectories agree to solver tolerance, not bit for
        bit. Each env's ``MjData`` then holds its state and sensor data, not derived quantities (``xpos``, contacts).
    match_clips: clip names the matcher's database holds (with their mirror images if ``match_mirror``); default:
        the clips tracked here. An evaluation on held-out clips passes the training clips.
    seed: seed of clip, phase and noise draws.
    """

    def __init__(
        self,
        num_envs: int = 32,
        clips: Sequence[str | Clip] = ("walk", "run", "punch", "kick"),
        mirror: bool = True,
        max_episode_length: int = 300,
        leg_scale: float = 1.0,
        arm_scale: float = 1.0,
        joint_damping: float = JOINT_DAMPING,
        armature: float = 0.0,
        tracker_noise: float = 0.0,
        residual_scale: float = 0.0,
        match_clips: Sequence[str] | None = None,
        match_mirror: bool | None = None,
        assist_steps: int = 0,
        assist_start: float = 1.0,
        assist_max_fall: float = 1.0,
        root_reward: bool = False,
        physics_threads: int = 0,
        clip_weights: Sequence[float] | None = None,
        adaptive_starts: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        import mujoco

        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1; got {num_envs}")
        if physics_threads < 0:
            raise ValueError(f"physics_threads must be >= 0 (0: step each env from Python); got {physics_threads}")
        unknown = [c for c in clips if isinstance(c, str) and c not in CLIP_NAMES]
        if unknown or not clips:
            raise ValueError(f"clips {unknown or list(clips)} are not clip names; choose from {list(CLIP_NAMES)}")
        self.num_envs, self.device = num_envs, torch.device(device)
        self.max_episode_length = max_episode_length
        self.model = load_humanoid(leg_scale, arm_scale, True, joint_damping=joint_damping, armature=armature)
        self.datas = [mujoco.MjData(self.model) for _ in range(num_envs)]
        self._mj = mujoco
        self.physics_threads = int(physics_threads)
        self._pool: Any = None
        if physics_threads > 0:  # mujoco.rollout steps the batch in C, on its own threads (0: the calling one)
            from mujoco import rollout

            self._pool = rollout.Rollout(nthread=physics_threads if physics_threads > 1 else 0)
            self._scratch = [mujoco.MjData(self.model) for _ in range(physics_threads)]
            self._state_spec = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
            self._control_spec = int(mujoco.mjtState.mjSTATE_CTRL | mujoco.mjtState.mjSTATE_XFRC_APPLIED)
            self._nstate = mujoco.mj_stateSize(self.model, self._state_spec)
        self.tracker_noise = tracker_noise
        loaded = [load_clip(c) if isinstance(c, str) else c for c in clips]
        if mirror:
            loaded += [motion.mirror(c) for c in loaded]
        self.tables = self._build_tables(loaded)
        self.clip_p: np.ndarray | None = None  # episode starts per clip (None: uniform)
        if clip_weights is not None:
            w = np.asarray(list(clip_weights), dtype=np.float64)
            if w.shape != (len(clips),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
                raise ValueError(
                    f"clip_weights {list(clip_weights)} must give one weight >= 0 per clip of {list(clips)} (not all 0)"
                )
            w = np.tile(w, len(loaded) // len(clips))  # a clip's mirror image shares its weight
            self.clip_p = w / w.sum()
        if not 0.0 <= adaptive_starts <= 1.0:
            raise ValueError(
                f"adaptive_starts must be in [0, 1] (0: every start drawn as clip_weights say); got {adaptive_starts}"
            )
        self.adaptive_starts = float(adaptive_starts)
        rooms = np.array([self.tables.start_room(c) for c in range(len(loaded))])
        self._bin_lo = np.ceil(np.arange(START_BINS + 1)[None, :] * rooms[:, None] / START_BINS).astype(np.int64)
        self.start_fall = np.full((len(loaded), START_BINS), 0.5)  # running fall rate of episodes started per bin
        self.start_bin = np.zeros(num_envs, dtype=np.int64)  # the bin each env's episode started in
        if residual_scale < 0:
            raise ValueError(f"residual_scale must be >= 0 (0: no base pose); got {residual_scale}")
        self.residual_scale = residual_scale
        if assist_steps < 0 or not 0.0 <= assist_start <= 1.0 or not 0.0 < assist_max_fall <= 1.0:
            raise ValueError(
                f"assist_steps must be >= 0 (0: no assistant), assist_start in [0, 1] and assist_max_fall in (0, 1]; "
                f"got {assist_steps}, {assist_start}, {assist_max_fall}"
            )
        self.assist_steps, self.assist_start = int(assist_steps), float(assist_start)
        self.assist_max_fall = float(assist_max_fall)
        self.root_reward = bool(root_reward)
        self.assist_count = 0  # env steps (all envs) that counted: the assistant fades over assist_steps of them
        self.fall_rate = 0.0  # running mean of falls per env step (about the last 30 steps of every env)
        self._root_body = 1
        self._mass = float(self.model.body_subtreemass[self._root_body])  # the whole character's
        self.matcher: PoseMatcher | None = None
        if residual_scale > 0:
            names = list(match_clips) if match_clips is not None else [c.name for c in loaded if "@" not in c.name]
            self.matcher = build_matcher(self.model, names, mirror if match_mirror is None else match_mirror)
        self.base = np.zeros((num_envs, self.model.nu))  # the matcher's pose for the next step, action units
        self.rng = np.random.default_rng(seed)
        site = {n: mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_SITE, n) for n in self.tables.sites}
        self._site_ids = site
        self._tracker_ids = [site[n] for n in TRACKER_SITES]
        self.clip = np.zeros(num_envs, dtype=np.int64)
        self.frame = np.zeros(num_envs, dtype=np.int64)  # row of the reference table at the current step
        self.prev_action = np.zeros((num_envs, self.model.nu))
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self.single_action_space = gym.spaces.Box(-2.0, 2.0, (self.model.nu,), np.float32)
        obs = self._observe()
        self.single_observation_space = gym.spaces.Dict(
            {k: gym.spaces.Box(-np.inf, np.inf, (v.shape[1],), np.float32) for k, v in obs.items()}
        )

    # ------------------------------------------------------------------ reference
    def _build_tables(self, clips: list[Clip]) -> _Tables:
        rows_q, rows_v, starts, lengths, loops, periods = [], [], [], [], [], []
        at = 0
        horizon = self.max_episode_length + LOOKAHEAD + 2
        for clip in clips:
            if clip.loop:
                times = np.arange(horizon + int(clip.duration * clip.fps) + 1) / clip.fps
                qpos, qvel = clip.sample(times)
            else:
                qpos, qvel = clip.qpos, clip.qvel
            rows_q.append(qpos)
            rows_v.append(qvel)
            starts.append(at)
            lengths.append(len(qpos))
            loops.append(clip.loop)
            periods.append(max(round(clip.duration * clip.fps), 1) if clip.loop else len(qpos))
            at += len(qpos)
        qpos_all = motion.ground(self.model, np.concatenate(rows_q))  # no reference start inside the floor
        fk = forward_kinematics(self.model, qpos_all)
        body_names = [
            self._mj.mj_id2name(self.model, self._mj.mjtObj.mjOBJ_BODY, b) for b in range(1, self.model.nbody)
        ]
        bodies = np.stack([fk[n] for n in body_names], 1)
        sites = {n: fk[n] for n in (*TRACKER_SITES, *FOOT_SITES, "pelvis")}
        from ember.sims.humanoid.motion import tracker_poses

        _, tracker_quat = tracker_poses(self.model, qpos_all, TRACKER_SITES)
        return _Tables(
            qpos_all,
            np.concatenate(rows_v),
            bodies,
            sites,
            tracker_quat,
            np.array(starts),
            np.array(lengths),
            np.array(loops),
            [c.name for c in clips],
            np.array(periods),
        )

    # ------------------------------------------------------------------ contract
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._reset_idx(np.arange(self.num_envs))
        return self._observe(), {}

    def _reset_idx(self, ids: np.ndarray, clip: int | None = None, phases: np.ndarray | None = None) -> None:
        t = self.tables
        if clip is not None:
            self.clip[ids] = clip
        elif self.clip_p is None:
            self.clip[ids] = self.rng.integers(0, len(t.names), len(ids))
        else:
            self.clip[ids] = self.rng.choice(len(t.names), len(ids), p=self.clip_p)
        room = np.array([t.start_room(c) for c in self.clip[ids]], dtype=np.int64)
        if phases is None:
            offset = (self.rng.random(len(ids)) * room).astype(np.int64)
            if clip is None and self.adaptive_starts > 0:  # (no draw otherwise: the same stream as without)
                hard = np.flatnonzero(self.rng.random(len(ids)) < self.adaptive_starts)
                self.clip[ids[hard]], offset[hard] = self._hard_starts(len(hard))
        else:  # a looping clip's phase wraps to its first cycle; another clip's stops a second before its end
            offset = np.where(t.loops[self.clip[ids]], phases % room, np.minimum(phases, room - 1))
        if self.adaptive_starts > 0:  # each start's phase bin: the last edge at or below its offset
            bins = self._bin_lo[self.clip[ids]]
            self.start_bin[ids] = np.minimum((bins[:, 1:] <= offset[:, None]).sum(1), START_BINS - 1)
        self.frame[ids] = t.start[self.clip[ids]] + offset
        for i in ids:
            data = self.datas[i]
            self._mj.mj_resetData(self.model, data)
            data.qpos[:] = t.qpos[self.frame[i]]
            data.qvel[:] = t.qvel[self.frame[i]]
            data.ctrl[:] = t.qpos[self.frame[i], 7:]
            self._mj.mj_forward(self.model, data)
        self.prev_action[ids] = t.qpos[self.frame[ids], 7:] / ACTION_SCALE
        self.episode_length_buf[torch.as_tensor(ids)] = 0

    def _hard_starts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` (clip, offset) starts: a phase bin in proportion to its running fall rate (times its clip's
        weight; empty bins of clips shorter than ``START_BINS`` frames never), then a frame uniformly within it."""
        lo, hi = self._bin_lo[:, :-1], self._bin_lo[:, 1:]
        drawable = (hi > lo) * (self.clip_p[:, None] if self.clip_p is not None else 1.0)
        w = self.start_fall * drawable
        if w.sum() <= 0:  # nothing has fallen lately: every bin alike
            w = drawable
        cell = self.rng.choice(w.size, n, p=(w / w.sum()).ravel())
        c, b = np.divmod(cell, START_BINS)
        return c, lo[c, b] + (self.rng.random(n) * (hi[c, b] - lo[c, b])).astype(np.int64)

    def _record_starts(self, ids: np.ndarray, fell: np.ndarray) -> None:
        """Fold the outcome of the episodes ``ids`` (fell or not) into their start bins' running fall rates."""
        at = (self.clip[ids], self.start_bin[ids])
        np.add.at(self.start_fall, at, START_RATE * (fell.astype(np.float64) - self.start_fall[at]))
        np.clip(self.start_fall, 0.0, 1.0, out=self.start_fall)  # several episodes of one bin in one step

    def reset_to(self, clip: str, phases: Sequence[int]) -> Obs:
        """Start env ``i`` at frame ``phases[i]`` of clip ``clip`` (by name; evaluation from fixed phases)."""
        if clip not in self.tables.names:
            raise ValueError(f"clip {clip!r} is not tracked by this env; it tracks {self.tables.names}")
        phases_arr = np.asarray(phases, dtype=np.int64).reshape(-1)
        if phases_arr.shape != (self.num_envs,):
            raise ValueError(f"phases must give one frame per env ({self.num_envs}); got {len(phases_arr)}")
        self._reset_idx(np.arange(self.num_envs), self.tables.names.index(clip), phases_arr)
        return self._observe()

    def step(self, actions: torch.Tensor) -> StepResult:
        action = np.clip(np.nan_to_num(np.asarray(actions, dtype=np.float64)), -2.0, 2.0)
        if self.matcher is not None:
            action = np.clip(self.base + self.residual_scale * action, -2.0, 2.0)
        wrench = self._assist_wrench() if self.assist_steps > 0 else None
        for i, data in enumerate(self.datas):
            data.ctrl[:] = action[i] * ACTION_SCALE
            if wrench is not None:
                data.xfrc_applied[self._root_body] = wrench[i]
        unstable = self._simulate()
        self.frame += 1
        self.episode_length_buf += 1
        state = self.last_state = self._state()
        reward, terminated, info = self._reward(state, action)
        head_low = info.pop("head_low")  # per env, not a log scalar: which falls were the head's (evaluations)
        terminated |= unstable
        self.fall_rate += (float(terminated.mean()) - self.fall_rate) / 30.0
        if self.fall_rate <= self.assist_max_fall:  # the help fades only while the character mostly stays up
            self.assist_count += self.num_envs
        info["unstable"] = unstable.astype(np.float64)
        info["assist"] = np.full(self.num_envs, self.assist)  # logged: how much help the policy still has
        self.prev_action = action
        end = self.tables.start[self.clip] + self.tables.length[self.clip] - LOOKAHEAD - 1
        truncated = (self.episode_length_buf.numpy() >= self.max_episode_length) | (self.frame >= end)
        truncated &= ~terminated
        obs = self._observe(state)
        final_obs = {k: v.clone() for k, v in obs.items()}
        done = np.flatnonzero(terminated | truncated)
        if len(done):
            if self.adaptive_starts > 0:
                self._record_starts(done, terminated[done])
            self._reset_idx(done)
            fresh = self._observe()
            for key in obs:
                obs[key][done] = fresh[key][done]
        log = {k: float(np.mean(v)) for k, v in info.items()}
        if self.adaptive_starts > 0:  # where starts are being drawn: each clip's mean running fall rate
            names = self.tables.names
            log.update({f"start_fall/{n}": float(f.mean()) for n, f in zip(names, self.start_fall, strict=True)})
        extras = {
            "log": log,
            "time_outs": torch.as_tensor(truncated),
            "final_obs": final_obs,
            "body_err": info["body_err"],
            "head_low": head_low,
        }
        return (
            obs,
            torch.as_tensor(reward, dtype=torch.float32),
            torch.as_tensor(terminated),
            torch.as_tensor(truncated),
            extras,
        )

    def _simulate(self) -> np.ndarray:
        """Advance every env one control step (``CONTROL_DECIMATION`` physics steps) under its ``ctrl`` and
        ``xfrc_applied``; returns which envs MuJoCo found unstable (it resets such an env's state)."""
        mj, n = self._mj, self.num_envs
        if self._pool is None:  # MuJoCo resets an env whose position, velocity or acceleration blew up, and warns
            bad = [
                int(w)
                for w in (mj.mjtWarning.mjWARN_BADQPOS, mj.mjtWarning.mjWARN_BADQVEL, mj.mjtWarning.mjWARN_BADQACC)
            ]
            for data in self.datas:
                mj.mj_step(self.model, data, nstep=CONTROL_DECIMATION)
            return np.array([any(d.warning[w].number > 0 for w in bad) for d in self.datas])
        # mujoco.rollout stops an env's rollout at such a warning, so its clock ends short of the control period.
        period = (CONTROL_DECIMATION - 0.5) * self.model.opt.timestep
        start = np.empty((n, self._nstate))
        control = np.empty((n, 1, self.model.nu + 6 * self.model.nbody))
        for i, data in enumerate(self.datas):
            mj.mj_getState(self.model, data, start[i], self._state_spec)
            mj.mj_getState(self.model, data, control[i, 0], self._control_spec)
        state, sensordata = self._pool.rollout(
            self.model, self._scratch, start, control, control_spec=self._control_spec, nstep=CONTROL_DECIMATION
        )
        for i, data in enumerate(self.datas):  # the envs' own data take the end state and what the sensors read
            mj.mj_setState(self.model, data, state[i, -1], self._state_spec)
            data.sensordata[:] = sensordata[i, -1]
        return np.asarray(state[:, -1, 0] < start[:, 0] + period)  # the state's first number is its time

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def assist(self) -> float:
        """Strength of the virtual assistant now: ``assist_start``, fading linearly to 0 over ``assist_steps``."""
        if self.assist_steps <= 0:
            return 0.0
        return self.assist_start * max(0.0, 1.0 - self.assist_count / self.assist_steps)

    def _assist_wrench(self) -> np.ndarray:
        """The virtual assistant's wrench on the pelvis ``(N, 6)`` (world force, torque) for the coming control step: a
        critically damped PD pulling the root toward the reference's next pose and velocity, scaled by
        :attr:`assist` (a curriculum after Yu, Turk and Liu 2018: balance is learned as the help fades)."""
        strength = self.assist
        if strength <= 0.0:
            return np.zeros((self.num_envs, 6))
        t, nxt = self.tables, self.frame + 1
        qpos, qvel = np.stack([d.qpos for d in self.datas]), np.stack([d.qvel for d in self.datas])
        omega = 2 * np.pi * ASSIST_FREQ
        force = self._mass * (omega**2 * (t.qpos[nxt, :3] - qpos[:, :3]) + 2 * omega * (t.qvel[nxt, :3] - qvel[:, :3]))
        err = quat_to_axis_angle(quat_mul(t.qpos[nxt, 3:7], quat_conj(qpos[:, 3:7])))  # world frame
        spin = quat_rotate(qpos[:, 3:7], qvel[:, 3:6]) - quat_rotate(t.qpos[nxt, 3:7], t.qvel[nxt, 3:6])
        torque = ASSIST_INERTIA * (omega**2 * err - 2 * omega * spin)
        limit = ASSIST_MAX_FORCE * self._mass * -self.model.opt.gravity[2]
        return strength * np.concatenate([_clip_norm(force, limit), _clip_norm(torque, limit * ASSIST_TORQUE_ARM)], 1)

    # ------------------------------------------------------------------ state, observation, reward
    def _state(self) -> dict[str, np.ndarray]:
        d, n = self.datas, self.num_envs
        sensed = np.stack([x.sensordata for x in d])  # load_humanoid's state sensors, as of the last physics step
        return {
            "qpos": np.stack([x.qpos for x in d]),
            "qvel": np.stack([x.qvel for x in d]),
            "bodies": sensed[:, :45].reshape(n, 15, 3),
            "sites": sensed[:, 45:-2].reshape(n, -1, 3),
            "contact": sensed[:, -2:] > 0,
        }

    def _observe(self, state: dict[str, np.ndarray] | None = None) -> Obs:
        s = state if state is not None else self._state()
        t, f = self.tables, self.frame
        qpos = s["qpos"]
        root, yaw = qpos[:, :3], _yaw(qpos[:, 3:7])
        targets = np.stack(
            [np.stack([t.sites[n][f + k] for n in TRACKER_SITES], 1) for k in range(1, LOOKAHEAD + 1)], 1
        )
        if self.tracker_noise > 0:
            targets = targets + self.rng.normal(0.0, self.tracker_noise, targets.shape)
        policy = actor_observation(qpos, s["qvel"], s["sites"][:, self._tracker_ids], targets, t.tracker_quat[f + 1])
        if self.matcher is not None:
            current = np.stack([t.sites[n][f] for n in TRACKER_SITES], 1)[:, None]
            if self.tracker_noise > 0:
                current = current + self.rng.normal(0.0, self.tracker_noise, current.shape)
            window = np.concatenate([current, targets[:, :2]], 1)
            self.base = self.matcher.pose(window, t.tracker_quat[f + 1, 0]) / ACTION_SCALE
            policy = np.concatenate([policy, self.base], 1)
        ref_root = t.qpos[f, :3]
        phase = (f - t.start[self.clip]) % t.period[self.clip] / t.period[self.clip] * 2 * np.pi  # a loop's cycle
        critic = np.concatenate(
            [
                policy,
                t.qpos[f, 7:],
                _rot_z(ref_root - root, -yaw),
                _rot_z(t.bodies[f] - ref_root[:, None], -yaw).reshape(self.num_envs, -1),
                np.stack([np.cos(phase), np.sin(phase)], 1),
                np.full((self.num_envs, 1), self.assist),
            ],
            1,
        )
        return {
            "policy": torch.as_tensor(policy, dtype=torch.float32),
            "critic": torch.as_tensor(critic, dtype=torch.float32),
        }

    def _reward(self, s: dict[str, np.ndarray], action: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        t, f = self.tables, self.frame
        dq = np.angle(np.exp(1j * (s["qpos"][:, 7:] - t.qpos[f, 7:])))
        dqd = s["qvel"][:, 6:] - t.qvel[f, 6:]
        keys = np.stack([s["sites"][:, self._site_ids[n]] - t.sites[n][f] for n in (*TRACKER_SITES, "pelvis")], 1)
        body_err = np.linalg.norm(s["bodies"] - t.bodies[f], axis=-1).mean(1)
        pose_err = np.sum(dq**2, 1)
        if self.root_reward:  # DeepMimic's pose term counts the root's orientation as a joint
            dot = np.abs(np.sum(s["qpos"][:, 3:7] * t.qpos[f, 3:7], 1))
            pose_err = pose_err + (2 * np.arccos(np.clip(dot, 0.0, 1.0))) ** 2
        ref_contact = np.stack([t.sites[n][f, 2] < CONTACT_HEIGHT for n in FOOT_SITES], 1)
        terms = {
            "r_pose": np.exp(-2.0 * pose_err),
            "r_vel": np.exp(-0.1 * np.sum(dqd**2, 1)),
            "r_keys": np.exp(-10.0 * np.sum(keys**2, (1, 2))),
            "r_body": np.exp(-10.0 * body_err**2),
            "r_smooth": np.exp(-np.sum((action - self.prev_action) ** 2, 1) / action.shape[1]),
            "r_contact": (s["contact"] == ref_contact).mean(1),
        }
        weights = {"r_pose": 0.45, "r_vel": 0.05, "r_keys": 0.3, "r_body": 0.2, "r_smooth": 0.1, "r_contact": 0.1}
        if self.root_reward:  # DeepMimic's centre-of-mass velocity term, on the root
            terms["r_root_vel"] = np.exp(-10.0 * np.sum((s["qvel"][:, :3] - t.qvel[f, :3]) ** 2, 1))
            weights["r_root_vel"] = 0.1
        reward = sum(weights[k] * v for k, v in terms.items())
        head = s["sites"][:, self._site_ids["head"], 2]
        head_low = head < FALL_HEAD_RATIO * t.sites["head"][f, 2]
        fell = (body_err > FALL_BODY_ERR) | head_low
        info: dict[str, Any] = {**terms, "body_err": body_err, "fell": fell.astype(np.float64), "head_low": head_low}
        return np.asarray(reward), fell, info

    def save_state(self) -> dict[str, Any]:
        """Everything needed to continue (checkpoints): MuJoCo states, clips, frames, previous actions, the rng."""
        return {
            "qpos": np.stack([d.qpos for d in self.datas]),
            "qvel": np.stack([d.qvel for d in self.datas]),
            "ctrl": np.stack([d.ctrl for d in self.datas]),
            "clip": self.clip.copy(),
            "frame": self.frame.copy(),
            "prev_action": self.prev_action.copy(),
            "base": self.base.copy(),
            "episode_length_buf": self.episode_length_buf.clone(),
            "rng": self.rng.bit_generator.state,
            "assist_count": self.assist_count,
            "fall_rate": self.fall_rate,
            "start_fall": self.start_fall.copy(),
            "start_bin": self.start_bin.copy(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for i, d in enumerate(self.datas):
            d.qpos[:], d.qvel[:], d.ctrl[:] = state["qpos"][i], state["qvel"][i], state["ctrl"][i]
            self._mj.mj_forward(self.model, d)
        self.clip, self.frame = state["clip"].copy(), state["frame"].copy()
        self.prev_action = state["prev_action"].copy()
        self.base = state.get("base", self.base).copy()
        self.episode_length_buf = state["episode_length_buf"].clone()
        self.rng.bit_generator.state = state["rng"]
        self.assist_count = int(state.get("assist_count", 0))
        self.fall_rate = float(state.get("fall_rate", 0.0))
        if "start_fall" in state and state["start_fall"].shape == self.start_fall.shape:  # same clips
            self.start_fall, self.start_bin = state["start_fall"].copy(), state["start_bin"].copy()

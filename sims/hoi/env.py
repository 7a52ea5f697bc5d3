"""Human-object interaction as a vectorized env (contract 1): one goal-conditioned task stream over RMD stage plans.

Each env is its own MuJoCo model and data (the grasp welds' relative poses and the box's mass live in the model) with
the same four objects — ``box``, ``chair``, ``drawer``, ``table`` (``scene.py``) — and the simplified character. An
episode samples a task from ``tasks`` (reach, push, open, sit, carry), places the objects that task uses
(:func:`sample_scene`; the others are parked 50 m away and left out of the description), draws the box's mass
(2-10 kg) and friction (0.3-0.7), and asks ``plans(task, description, rng)`` for its stages (dicts in the form of
``planners.hoi.stages.Stage.to_dict()``; the caller wires a planner in, ``sims`` imports none). The description is
what ``planners.hoi.scene.SceneInfo.from_dict`` reads: ``{"objects": {id: {type, position, yaw, size, mass,
friction}}, "workspace": [lo, hi], "character_position": [x, y]}``.

Control at 25 Hz (``scene.CONTROL_DT``); actions: ``scene.ACTION_NAMES`` (15, each in [-1, 1]).

Observation groups (heading frame: yaw removed, z up):

- ``policy`` (126): proprioception (43, ``SceneIndex.proprio``) and the current stage's goal vector (83,
  ``compiler.GOAL_DIM``); in residual mode (below) then the base action (15; 141 in all).
- ``critic`` (202): the policy group plus privileged state (76, :func:`privileged`): per object slot (box, chair,
  drawer, table) present flag, position relative to the pelvis and yaw as cos/sin (24); the box's mass / 10 kg,
  friction, linear and angular velocity and orientation (12); the drawer's opening [m] and rate [m/s] (2); every part
  site's exact position relative to the pelvis (33); stage index / 8, stages left / 8 and the reward terms
  (r_links, r_root, r_object) (5).

Residual mode (``residual_scale`` > 0; residual policy learning, Silver et al. 2018, Johannink et al. 2019): a base
controller (``base_controller``, a factory the caller injects as it does ``plans``; ``ember train`` passes the
scripted one, ``skills/hoi/scripted.py``) acts on each env through :class:`~ember.sims.hoi.view.EnvRowView` once
per control step and is reset when a stage starts; the executed action is ``clip(a_base + residual_scale * a, -1,
1)`` for the policy's action ``a``. ``a_base`` (15) for the coming step is appended to the ``policy`` group (141), so
the critic (217: that group, then the privileged state) sees it too; a policy that outputs zeros is the base
controller.

Reward: the stage reward (``compiler``, in [0, 1]) plus ``stage_bonus`` for each stage completed so far in the
episode (so progress never lowers the per-step reward). A stage is complete when its reward passes 0.9; the next
starts at the following step. After the last stage the env holds it (its reward keeps counting) unless
``end_on_success``, which terminates the episode. An env terminates when the pelvis or the box leaves the workspace
or MuJoCo reports an unstable step, and is truncated at ``max_episode_length``. ``extras["success"]``: episodes that
ended with every stage complete; ``extras["stage_passed"]``: ``(N,)`` bool, envs whose stage passed this step;
``extras["log"]``: stage reward, stages completed, share of unstable steps, success rate of ended episodes and, in
residual mode, the mean ``|residual_scale * a|`` (``residual_abs``).

Task sampling: ``uniform`` draws each episode's task uniformly from ``tasks``; ``failures`` (a curriculum by failure
rate, in the spirit of prioritized level replay) draws it with probability proportional to ``max(1 - s, floor)``,
where ``s`` is the task's running full-task completion over its recent training episodes (an exponential mean,
``SUCCESS_RATE_DECAY`` per episode, starting at 0.5) and ``floor`` is ``SAMPLING_FLOOR``: tasks the policy fails get
the samples, and none is starved. The running rates are logged (``completion_<task>``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from ember.sims.env import Obs, StepResult, VecEnv
from ember.sims.hoi.compiler import GOAL_DIM, PartState, StageTracker, compile_stage, stage_done
from ember.sims.hoi.scene import (
    ACTION_DIM,
    CONTROL_DECIMATION,
    CONTROL_DT,
    DEFAULT_SIZES,
    FRICTION_RANGE,
    MASS_RANGE,
    PROPRIO_DIM,
    SceneIndex,
    build_scene,
    floor_z,
    set_box_physics,
)
from ember.sims.hoi.view import ControllerFactory, EnvRowView, SceneController

TASKS = ("reach", "push", "open", "sit", "carry")
TASK_OBJECTS = {"reach": ("box",), "push": ("box",), "open": ("drawer",), "sit": ("chair",), "carry": ("box", "table")}
SLOTS = ("box", "chair", "drawer", "table")
"""The env's objects; their ids are their types."""
WORKSPACE = ((-4.0, -4.0, 0.0), (4.0, 4.0, 2.5))  # [m]
PARK = 50.0  # [m] x of unused objects
PRIVILEGED_DIM = 24 + 12 + 2 + 33 + 5
PlanFactory = Callable[[str, dict[str, Any], np.random.Generator], Sequence[Mapping[str, Any]]]


def sample_scene(task: str, rng: np.random.Generator) -> dict[str, Any]:
    """The description of a random scene for ``task``: its objects placed around the character (at the origin,
    random heading), chairs and drawers facing it within ±0.5 rad, the box's mass and friction drawn."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}. Got {task!r}.")

    def place(kind: str, lo: float, hi: float, bearing: float, facing: bool) -> dict[str, Any]:
        r = rng.uniform(lo, hi)
        pos = (r * math.cos(bearing), r * math.sin(bearing), floor_z(kind))
        yaw = bearing + math.pi + rng.uniform(-0.5, 0.5) if facing else rng.uniform(-math.pi, math.pi)
        spec = {
            "type": kind,
            "position": [round(v, 4) for v in pos],
            "yaw": round(math.remainder(yaw, math.tau), 4),
            "size": list(DEFAULT_SIZES[kind]),
        }
        if kind == "box":
            spec["mass"], spec["friction"] = round(rng.uniform(*MASS_RANGE), 3), round(rng.uniform(*FRICTION_RANGE), 3)
        return spec

    bearing = rng.uniform(-math.pi, math.pi)
    objects: dict[str, Any] = {}
    if task in ("reach", "push", "carry"):
        objects["box"] = place("box", 1.0, 1.8, bearing, False)
    if task == "open":
        objects["drawer"] = place("drawer", 1.4, 2.0, bearing, True)
    if task == "sit":
        objects["chair"] = place("chair", 1.2, 2.0, bearing, True)
    if task == "carry":
        side = rng.choice([-1.0, 1.0]) * rng.uniform(0.7, 1.6)
        objects["table"] = place("table", 2.3, 3.0, bearing + side, False)
    return {
        "objects": objects,
        "workspace": [list(WORKSPACE[0]), list(WORKSPACE[1])],
        "character_position": [0.0, 0.0],
        "character_yaw": round(rng.uniform(-math.pi, math.pi), 4),
    }


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


def place_objects(model: Any, data: Any, index: SceneIndex, objects: Mapping[str, Mapping[str, Any]]) -> None:
    """Move the scene's objects to ``objects`` (id -> spec) and park the rest; for a model built with all of them."""
    import mujoco

    for k, oid in enumerate(index.object_ids):
        spec = objects.get(oid)
        kind = index.types[oid]
        pos = np.asarray(spec["position"], float) if spec else np.array([PARK + 5.0 * k, PARK, floor_z(kind)])
        quat = _yaw_quat(float(spec.get("yaw", 0.0)) if spec else 0.0)
        if kind == "box":
            adr = model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{oid}/free")]
            data.qpos[adr : adr + 7] = [*pos, *quat]
            if spec:
                set_box_physics(model, oid, float(spec.get("mass", 5.0)), float(spec.get("friction", 0.5)))
        else:
            body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, oid)
            model.body_pos[body], model.body_quat[body] = pos, quat


def privileged(
    model: Any, data: Any, index: SceneIndex, present: Sequence[str], stage: tuple[int, int], terms: Sequence[float]
) -> np.ndarray:
    """The critic's extra state (module docstring) for one env: ``present`` object ids, ``stage`` (index, count) and
    the current reward ``terms`` (r_links, r_root, r_object)."""
    yaw = index.yaw(data)
    c, s = math.cos(yaw), math.sin(yaw)

    def head(v: np.ndarray) -> np.ndarray:
        return np.stack([c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1], v[..., 2]], -1)

    root = data.site_xpos[index.human_site[0]]
    slots, box, drawer, part_rel = [], np.zeros(12), np.zeros(2), np.zeros((11, 3))
    at = 0
    for kind in SLOTS:
        oid = next((o for o in index.object_ids if index.types[o] == kind and o in present), None)
        n_parts = {"box": 6, "chair": 2, "drawer": 2, "table": 1}[kind]
        if oid is None:
            slots.append(np.zeros(6))
            at += n_parts
            continue
        k = index.object_ids.index(oid)
        body = index.object_body[k]
        mat = data.xmat[body].reshape(3, 3)
        obj_yaw = math.atan2(mat[1, 0], mat[0, 0]) - yaw
        slots.append(np.concatenate([[1.0], head(data.xpos[body] - root), [math.cos(obj_yaw), math.sin(obj_yaw)]]))
        rows = [j for j, (o, _) in enumerate(index.parts) if o == oid]
        part_rel[at : at + n_parts] = head(data.site_xpos[index.part_site[rows]] - root)
        at += n_parts
        if kind == "box":
            free = model.body_dofadr[body]
            box = np.concatenate(
                [
                    [model.body_mass[body] / 10.0, model.geom_friction[model.body_geomadr[body], 0]],
                    head(data.qvel[free : free + 3]),
                    head(data.qvel[free + 3 : free + 6]),
                    data.xquat[body],
                ]
            )
        if kind == "drawer":
            adr = index.articulation[oid]
            drawer = np.array([data.qpos[adr], data.qvel[model.jnt_dofadr[model.body_jntadr[body]]]])
    k, count = stage
    info = np.array([k / 8.0, (count - k) / 8.0, *terms])
    return np.concatenate([*slots, box, drawer, part_rel.reshape(-1), info])


def stack_states(states: Sequence[Mapping[str, np.ndarray]], part_radius: np.ndarray) -> PartState:
    """The compiler's batched state from :meth:`SceneIndex.part_state` of each env."""

    def cat(key: str) -> np.ndarray:
        return np.stack([s[key] for s in states])

    return PartState(
        cat("human"),
        cat("part_center"),
        cat("part_rot"),
        cat("part_half"),
        part_radius,
        cat("object_pos"),
        cat("root"),
        cat("yaw"),
    )


TASK_SAMPLING = ("uniform", "failures")
SUCCESS_RATE_DECAY = 0.05  # weight of an ended episode in its task's running completion rate
SAMPLING_FLOOR = 0.1  # with task_sampling="failures": the least weight a task keeps, however well it goes


class HOIVecEnv(VecEnv):
    """Args:
    plans: ``plans(task, description, rng) -> [stage dict, ...]`` (module docstring).
    num_envs: batch size.
    tasks: the tasks episodes draw from.
    max_episode_length: control steps per episode (25 Hz).
    stage_bonus: reward added per completed stage, every step after it.
    end_on_success: terminate an episode when its last stage completes (else hold it until truncation).
    seed: seed of scene, task and plan draws.
    residual_scale: residual mode (module docstring) when > 0: the factor on the policy's action added to the base
        controller's; 0: the policy's action is executed as it is.
    base_controller: makes the base controller of one env (residual mode only), e.g.
        ``ember.skills.hoi.scripted.ScriptedStageController``.
    task_sampling: ``uniform`` or ``failures`` (tasks drawn in proportion to their running failure rate; module
        docstring).
    """

    def __init__(
        self,
        plans: PlanFactory,
        num_envs: int = 16,
        tasks: Sequence[str] = TASKS,
        max_episode_length: int = 750,
        stage_bonus: float = 1.0,
        end_on_success: bool = False,
        seed: int = 0,
        device: str = "cpu",
        residual_scale: float = 0.0,
        base_controller: ControllerFactory | None = None,
        task_sampling: str = "uniform",
    ) -> None:
        import mujoco

        if num_envs < 1 or max_episode_length < 1:
            raise ValueError(f"num_envs and max_episode_length must be >= 1; got {num_envs}, {max_episode_length}")
        unknown = [t for t in tasks if t not in TASKS]
        if unknown or not tasks:
            raise ValueError(f"tasks {unknown or list(tasks)} are not HOI tasks; choose from {list(TASKS)}")
        if not residual_scale >= 0.0:
            raise ValueError(f"residual_scale must be >= 0 (0: no residual mode). Got {residual_scale}.")
        if residual_scale > 0.0 and base_controller is None:
            raise ValueError(
                f"residual_scale={residual_scale} needs base_controller, a factory of stage controllers (e.g. "
                "ember.skills.hoi.scripted.ScriptedStageController; `ember train task=hoi` passes that one)"
            )
        if task_sampling not in TASK_SAMPLING:
            raise ValueError(f"task_sampling must be one of {list(TASK_SAMPLING)}. Got {task_sampling!r}.")
        self._mj = mujoco
        self.plans, self.tasks = plans, tuple(tasks)
        self.task_sampling = task_sampling
        self.completion = dict.fromkeys(self.tasks, 0.5)  # running full-task completion of training episodes
        self.num_envs, self.device = num_envs, torch.device(device)
        self.max_episode_length = max_episode_length
        self.stage_bonus, self.end_on_success = stage_bonus, end_on_success
        self.rng = np.random.default_rng(seed)
        objects = {k: {"type": k, "position": [PARK, PARK, floor_z(k)]} for k in SLOTS}
        base = mujoco.MjModel.from_xml_string(build_scene(objects, seed))
        self.models = [copy.deepcopy(base) for _ in range(num_envs)]
        self.datas = [mujoco.MjData(m) for m in self.models]
        self.index = SceneIndex(base, objects)
        self.tracker = StageTracker(num_envs, CONTROL_DT)
        self.task = [""] * num_envs
        self.scene: list[dict[str, Any]] = [{} for _ in range(num_envs)]
        self.stages: list[list[Mapping[str, Any]]] = [[] for _ in range(num_envs)]
        self.stage_index = np.zeros(num_envs, np.int64)
        self.episode_length_buf = torch.zeros(num_envs, dtype=torch.long)
        self.residual_scale = float(residual_scale)
        self.residual = self.residual_scale > 0.0
        self.controllers: list[SceneController] = []
        self.views: list[EnvRowView] = []
        if self.residual:
            assert base_controller is not None
            self.controllers = [base_controller() for _ in range(num_envs)]
            self.views = [
                EnvRowView(m, d, self.index, self.tracker.stages, lambda: self._info, i)
                for i, (m, d) in enumerate(zip(self.models, self.datas, strict=True))
            ]
        self._base = np.zeros((num_envs, ACTION_DIM))  # the base controller's action for the coming step
        self._info: dict[str, np.ndarray] = {}  # the compiler's info of the last evaluation, current stages
        policy_dim = PROPRIO_DIM + GOAL_DIM + (ACTION_DIM if self.residual else 0)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self.single_observation_space = gym.spaces.Dict(
            {
                "policy": gym.spaces.Box(-np.inf, np.inf, (policy_dim,), np.float32),
                "critic": gym.spaces.Box(-np.inf, np.inf, (policy_dim + PRIVILEGED_DIM,), np.float32),
            }
        )
        self._reward = np.zeros(num_envs)

    # ------------------------------------------------------------------ contract
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self._reset_idx(np.arange(self.num_envs))
        goal, reward, info = self.tracker.evaluate(self.part_state(), update=False)
        self._reward, self._info = reward, info
        self._base_actions(np.arange(self.num_envs))
        return self._observe(goal, info), {"log": {}}

    def _reset_idx(self, ids: np.ndarray) -> None:
        uniform = self.task_sampling == "uniform"  # drawn as in earlier versions: seeded scenes stay the same
        for i in (int(k) for k in ids):
            task = str(
                self.rng.choice(self.tasks) if uniform else self.rng.choice(self.tasks, p=self.task_probabilities())
            )
            scene = sample_scene(task, self.rng)
            model, data = self.models[i], self.datas[i]
            self._mj.mj_resetData(model, data)
            place_objects(model, data, self.index, scene["objects"])
            x, y = scene["character_position"]
            self.index.set_pose(data, x, y, scene["character_yaw"])
            self._mj.mj_forward(model, data)
            stages = list(self.plans(task, scene, self.rng))
            if not stages:
                raise ValueError(f"plans({task!r}, ...) returned no stages; a plan needs at least one")
            self.task[i], self.scene[i], self.stages[i] = task, scene, stages
            self.stage_index[i] = 0
            self._start_stage(i)
        self.episode_length_buf[torch.as_tensor(ids)] = 0

    def task_probabilities(self) -> np.ndarray:
        """The probability of each of ``tasks`` for the next episode (``task_sampling``; module docstring)."""
        if self.task_sampling == "uniform":
            return np.full(len(self.tasks), 1.0 / len(self.tasks))
        weights = np.array([max(1.0 - self.completion[t], SAMPLING_FLOOR) for t in self.tasks])
        return weights / weights.sum()

    def _start_stage(self, i: int) -> None:
        data = self.datas[i]
        pos = data.xpos[self.index.object_body]
        stage = self.stages[i][min(self.stage_index[i], len(self.stages[i]) - 1)]
        self.tracker.set(i, compile_stage(stage, self.index.parts, self.index.object_ids, pos))
        if self.residual:
            self.controllers[i].reset(self.views[i], "human")

    def set_stage(self, i: int, k: int) -> None:
        """Make stage ``k`` of env ``i``'s plan the current one (tests, curricula)."""
        self.stage_index[i] = k
        self._start_stage(i)

    def part_state(self) -> PartState:
        return stack_states(
            [self.index.part_state(m, d) for m, d in zip(self.models, self.datas, strict=True)], self.index.part_radius
        )

    def step(self, actions: torch.Tensor) -> StepResult:
        action = np.asarray(torch.as_tensor(actions).detach().cpu(), np.float64).reshape(self.num_envs, ACTION_DIM)
        if self.residual:
            residual = self.residual_scale * np.nan_to_num(action)
            action = np.clip(self._base + residual, -1.0, 1.0)
        bad = int(self._mj.mjtWarning.mjWARN_BADQACC)
        unstable = np.zeros(self.num_envs, bool)
        for i, (model, data) in enumerate(zip(self.models, self.datas, strict=True)):
            command = self.index.apply_action(data, action[i])
            self.index.update_grasp(model, data, command)
            before = data.warning[bad].number
            self._mj.mj_step(model, data, nstep=CONTROL_DECIMATION)
            unstable[i] = data.warning[bad].number > before
        self.episode_length_buf += 1
        state = self.part_state()
        goal, stage_r, info = self.tracker.evaluate(state)
        self._reward, self._info = stage_r, info
        count = np.array([len(s) for s in self.stages])
        active = self.stage_index < count
        passed = stage_done(stage_r) & active
        self.stage_index += passed
        reward = stage_r + self.stage_bonus * np.minimum(self.stage_index, count)
        complete = self.stage_index >= count
        for j in np.flatnonzero(passed & ~complete):
            self._start_stage(int(j))
        lo, hi = np.array(WORKSPACE[0]), np.array(WORKSPACE[1])
        box = state.object_pos[:, self.index.object_ids.index("box")]
        uses_box = np.array(["box" in TASK_OBJECTS[t] for t in self.task])
        outside = ((state.root < lo) | (state.root > hi)).any(1) | (uses_box & ((box < lo) | (box > hi)).any(1))
        terminated = outside | unstable | (complete & self.end_on_success)
        truncated = (self.episode_length_buf.numpy() >= self.max_episode_length) & ~terminated
        if (passed & ~complete).any():
            self._refresh(goal, info, passed & ~complete)
        self._base_actions(np.arange(self.num_envs))
        obs = self._observe(goal, info)
        final_obs = {k: v.clone() for k, v in obs.items()}
        ended = terminated | truncated
        done = np.flatnonzero(ended)
        for j in done:  # before the reset draws the next tasks
            rate = self.completion[self.task[j]]
            self.completion[self.task[j]] = rate + SUCCESS_RATE_DECAY * (float(complete[j]) - rate)
        if len(done):
            self._reset_idx(done)
            self._refresh(goal, info, ended)
            self._base_actions(done)
            obs = self._observe(goal, info)
        log = {
            "stage_reward": float(stage_r.mean()),
            "stages_completed": float(np.minimum(self.stage_index, count).mean()),
            "unstable": float(unstable.mean()),
        }
        if ended.any():
            log["success_rate"] = float(complete[ended].mean())
            log.update({f"completion_{t}": rate for t, rate in self.completion.items()})
        if self.residual:
            log["residual_abs"] = float(np.abs(residual).mean())
        extras = {
            "log": log,
            "time_outs": torch.as_tensor(truncated),
            "final_obs": final_obs,
            "success": torch.as_tensor(complete & ended),
            "stage_passed": passed,
        }
        return (
            obs,
            torch.as_tensor(reward, dtype=torch.float32),
            torch.as_tensor(terminated),
            torch.as_tensor(truncated),
            extras,
        )

    # ------------------------------------------------------------------ checkpoints
    def save_state(self) -> dict[str, Any]:
        """What a resumed run keeps: the task sampler's running completion rates and the rng. Not the running
        episodes (their scenes, stage trackers and base controllers): :meth:`load_state` starts fresh ones."""
        return {"completion": dict(self.completion), "rng": self.rng.bit_generator.state}

    def load_state(self, state: Mapping[str, Any]) -> Obs:
        """Restore :meth:`save_state`'s completion rates and rng, then reset every env; returns the new observation
        (the checkpoint's belonged to episodes that are not restored)."""
        missing = sorted(set(self.tasks) - set(state["completion"]))
        if missing:
            raise ValueError(
                f"env state has no completion rate for tasks {missing}; it was saved with tasks "
                f"{sorted(state['completion'])}: resume with the same task.tasks"
            )
        self.completion = {t: float(state["completion"][t]) for t in self.tasks}
        self.rng.bit_generator.state = state["rng"]
        return self.reset()[0]

    # ------------------------------------------------------------------ observation
    def _refresh(self, goal: np.ndarray, info: dict[str, np.ndarray], rows: np.ndarray) -> None:
        """Recompute the goal, reward and info of envs ``rows`` (bool) that started a stage or an episode, in place;
        the other rows keep theirs (their link velocities come from the step's evaluation)."""
        g2, r2, i2 = self.tracker.evaluate(self.part_state(), update=False)
        goal[rows] = g2[rows]
        self._reward[rows] = r2[rows]
        for key, value in i2.items():  # copies: the tracker keeps the step's gaps for the next closing speeds
            merged = info[key].copy()
            merged[rows] = value[rows]
            info[key] = merged

    def _base_actions(self, rows: np.ndarray) -> None:
        """The base controller's action for the coming step of envs ``rows`` (residual mode; its one ``act`` per
        control period)."""
        for i in (int(k) for k in rows) if self.residual else ():
            self._base[i] = self.controllers[i].act(self.views[i], "human")

    def _observe(self, goal: np.ndarray, info: dict[str, np.ndarray]) -> Obs:
        policy, critic = [], []
        for i, (model, data) in enumerate(zip(self.models, self.datas, strict=True)):
            row = np.concatenate([self.index.proprio(data), goal[i], *([self._base[i]] if self.residual else [])])
            terms = (info["r_links"][i], info["r_root"][i], info["r_object"][i])
            stage = (int(self.stage_index[i]), len(self.stages[i]))
            extra = privileged(model, data, self.index, list(self.scene[i].get("objects", {})), stage, terms)
            policy.append(row)
            critic.append(np.concatenate([row, extra]))
        return {
            "policy": torch.as_tensor(np.array(policy), dtype=torch.float32),
            "critic": torch.as_tensor(np.array(critic), dtype=torch.float32),
        }

    def stage_reward(self) -> np.ndarray:
        """Each env's current stage reward as of the last evaluation ``(N,)``."""
        return self._reward.copy()

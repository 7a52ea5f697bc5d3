"""The scripted HOI baseline and the stage skill: a feedback controller that follows one compiled RMD stage on the
simplified character, and ``StageSkill``, the behavior-tree leaf that runs one stage with a pluggable controller.

``ScriptedStageController`` reads only what the compiler made of the stage (``world.tracker.stages``: root target,
object target, links; ``world.stage_info()``: each link's nearest point, gap and part) and the character's state, on
any :class:`~ember.sims.hoi.view.StageScene` (an ``HOIWorld``, or one env of ``HOIVecEnv`` when it is the base of a
residual policy), and each control period:

- heading: for a pelvis or back link, along the object's +x (to sit); while carrying a box, from the root target
  toward the box's target; otherwise toward the linked hands' goals, or the root target when walking;
- root: toward the root target (proportional, capped at ``max_speed``); a pelvis or back contact pulls that part
  onto its surface (the pelvis descends once above the seat, the torso leans back onto the backrest); a carried box
  stands ``hold_in`` closer than the plan says and the root also walks it toward its target;
- hands: a damped-least-squares Jacobian step (``mujoco.mj_jacSite``) over the pelvis height, the waist and each
  arm, with a pull toward standing upright in its null space. ``approaching``: to 12 cm off the part (the inner half
  of its patch, away from edges); ``contact``: there first, then in along the normal to 1 cm into the surface;
  ``separating``: 15 cm out along the normal. A hand that holds the stage's moving object moves by what the object
  has left to go (at most ``object_step`` per period, horizontal and vertical separately). Joint targets are
  integrated (windup limited to 0.3 rad when holding, 0.08 rad otherwise), so a carried box's weight leaves no steady
  error and a pressing hand does not build up force;
- grasp: on for a contact link on the object the stage moves (pushes too: the baseline drags a box rather than
  pressing on it), once the hand is within 2.5 cm of its own part; off for a separating link; kept otherwise.

It has no obstacle avoidance and no path planning: it walks straight (over low objects, as the legless character
can). ``run_stages`` runs a whole plan through ``StageSkill`` leaves, advancing the world once per tick as the
executor does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from ember.planners.hoi.scene import OBJECT_PARTS
from ember.planners.hoi.schema import normalize
from ember.planners.hoi.validate import schema_problems, validate_stages
from ember.sims.hoi.compiler import LABELS, stage_done
from ember.sims.hoi.scene import (
    ACTION_DIM,
    CONTROL_DT,
    HANDS,
    HUMAN_PARTS,
    JOINT_RANGES,
    MAX_SPEED,
    MAX_YAW_RATE,
    MAX_Z_SPEED,
    REST_POSE,
    STAND_HEIGHT,
    joint_action,
)
from ember.sims.hoi.view import StageScene
from ember.sims.hoi.world import HOIWorld, describe_objects
from ember.sims.world import ObjectInfo, WorldError
from ember.skills.skill import RUNNING, ArgProblem, Outcome, Param, Skill, Status


class StageController(Protocol):
    """What ``StageSkill`` drives: ``reset`` at the start of a stage, ``act`` once per control period."""

    def reset(self, world: HOIWorld, agent: str) -> None: ...

    def act(self, world: HOIWorld, agent: str) -> np.ndarray: ...


def _clip_norm(v: np.ndarray, limit: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v if n <= limit else v * (limit / n)


class ScriptedStageController:
    """Args:
    max_speed: root speed limit [m/s].
    root_gain: root velocity per metre of root error [1/s].
    yaw_gain: yaw rate per radian of heading error [1/s].
    hand_step: largest hand displacement asked of the IK per period [m].
    object_step: largest displacement per period a holding hand asks of the object [m].
    damping: damped-least-squares damping [m].
    hold_in: how much closer than the plan's root target the root stands to a box it carries [m].
    """

    def __init__(
        self,
        max_speed: float = 0.8,
        root_gain: float = 2.0,
        yaw_gain: float = 3.0,
        hand_step: float = 0.05,
        object_step: float = 0.03,
        damping: float = 0.05,
        hold_in: float = 0.15,
    ) -> None:
        self.max_speed, self.root_gain, self.yaw_gain = max_speed, root_gain, yaw_gain
        self.hand_step, self.object_step, self.damping, self.hold_in = hand_step, object_step, damping, hold_in
        self._q_cmd: np.ndarray | None = None

    def reset(self, world: StageScene, agent: str) -> None:
        self._q_cmd = world.data.qpos[world.index.qadr[4:13]].copy()

    def act(self, world: StageScene, agent: str) -> np.ndarray:
        d, ix, st = world.data, world.index, world.tracker.stages
        if self._q_cmd is None:
            self.reset(world, agent)
        assert self._q_cmd is not None
        pelvis, yaw, held = d.site_xpos[ix.human_site[0]].copy(), ix.yaw(d), ix.grasped(d)
        plan = self._links(world)
        v, face = plan.v, plan.face
        obj = int(st.object_index[0])
        carrying = obj >= 0 and ix.object_ids[obj] in held.values() and ix.types[ix.object_ids[obj]] == "box"
        carrying = carrying and st.object_target[0, 2] > self._rest_z(world, ix.object_ids[obj])  # off the floor
        if st.root_axes[0].any():
            root_target = st.root_target[0].copy()
            towards = st.object_target[0, :2] - root_target[:2]
            if carrying and float(np.linalg.norm(towards)) > 0.2:  # hold the box closer than the plan stands
                root_target[:2] += self.hold_in * towards / np.linalg.norm(towards)
            err = (root_target - pelvis)[:2] * st.root_axes[0, :2]
            v = v + self.root_gain * err * (0.3 if plan.body_contact else 1.0)
            if face is None and not plan.hands and float(np.linalg.norm(err)) > 0.3:
                face = math.atan2(err[1], err[0])
            if carrying and float(np.linalg.norm(towards)) > 0.2:  # face the box's destination from the root's
                face = math.atan2(towards[1], towards[0])
        if carrying:  # walk the box toward its target too: the arms alone reach little sideways
            v = v + 1.5 * (st.object_target[0, :2] - d.xpos[ix.object_body[obj]][:2])
        if plan.hands and face is None:
            aim = np.mean(list(plan.hands.values()), 0)[:2] - pelvis[:2]
            if float(np.linalg.norm(aim)) > 0.15:
                face = math.atan2(aim[1], aim[0])
        v = _clip_norm(v, self.max_speed)
        turn = 0.0 if face is None else self.yaw_gain * math.remainder(face - yaw, math.tau)
        turn = float(np.clip(turn, -MAX_YAW_RATE, MAX_YAW_RATE))
        rot = np.array(
            [
                [math.cos(turn * CONTROL_DT), -math.sin(turn * CONTROL_DT)],
                [math.sin(turn * CONTROL_DT), math.cos(turn * CONTROL_DT)],
            ]
        )
        for h, goal in plan.hands.items():  # a carried box turns and walks with the body
            if carrying and held[HANDS[h]] is not None:
                goal[:2] = pelvis[:2] + rot @ (goal[:2] - pelvis[:2]) + v * CONTROL_DT
        dq = self._ik(world, plan.hands, use_height=plan.vz is None)
        q_now = d.qpos[ix.qadr[4:13]]
        window = 0.3 if any(o is not None for o in held.values()) else 0.08  # integral windup [rad]: less when pressing
        self._q_cmd = np.clip(
            np.clip(self._q_cmd + dq[1:], q_now - window, q_now + window), JOINT_RANGES[:, 0], JOINT_RANGES[:, 1]
        )
        for h in range(2):  # arms without a target go back to rest
            if h not in plan.hands and held[HANDS[h]] is None:
                sl = slice(1 + 4 * h, 5 + 4 * h)
                self._q_cmd[sl] += 0.2 * (np.asarray(REST_POSE[sl]) - self._q_cmd[sl])
        if plan.lean_back:  # rest the back on the backrest
            self._q_cmd[0] = JOINT_RANGES[0, 0]
        vz = plan.vz if plan.vz is not None else dq[0] / CONTROL_DT
        c, s = math.cos(yaw), math.sin(yaw)
        a = np.zeros(ACTION_DIM)
        a[0], a[1] = (c * v[0] + s * v[1]) / MAX_SPEED, (-s * v[0] + c * v[1]) / MAX_SPEED
        a[2], a[3] = turn / MAX_YAW_RATE, vz / MAX_Z_SPEED
        a[4:13] = joint_action(self._q_cmd)
        a[13:15] = [1.0 if g else -1.0 for g in plan.grasp]
        return np.clip(a, -1.0, 1.0)

    def _links(self, world: StageScene) -> _Plan:
        """What the links ask for: hand goals, grasps, root velocity and height from body links, a heading."""
        d, ix, st, info = world.data, world.index, world.tracker.stages, world.stage_info()
        held = ix.grasped(d)
        obj = int(st.object_index[0])
        obj_delta = st.object_target[0] - d.xpos[ix.object_body[obj]] if obj >= 0 else None
        plan = _Plan(grasp=[held[h] is not None for h in HANDS])
        pelvis = d.site_xpos[ix.human_site[0]]
        for k in np.flatnonzero(st.link_mask[0]):
            human, label = HUMAN_PARTS[st.link_human[0, k]], LABELS[st.link_label[0, k]]
            part, gap, near = int(info["part"][k]), float(info["gap"][k]), info["near"][k]
            oid = ix.parts[part][0]
            frame = d.site_xmat[ix.part_site[part]].reshape(3, 3)
            normal = frame @ ix.part_normal[part]
            here = d.site_xpos[ix.human_site[st.link_human[0, k]]].copy()
            if human in HANDS:
                h = HANDS.index(human)
                spot = self._inside(world, part, near)
                moving = obj_delta is not None and ix.object_ids[obj] == oid
                if label == "contact":  # grasp what the stage moves, once the hand is on its own part
                    plan.grasp[h] = plan.grasp[h] or (moving and gap < 0.025)
                    if moving and held[human] == oid:  # move the hand by what the object has left to go
                        assert obj_delta is not None
                        flat = _clip_norm(obj_delta[:2], self.object_step)
                        plan.hands[h] = here + np.append(
                            flat, np.clip(obj_delta[2], -self.object_step, self.object_step)
                        )
                    elif held[human] is not None:
                        plan.hands[h] = here
                    else:
                        plan.hands[h] = self._approach(here, spot, normal)
                elif label == "approaching":
                    plan.hands[h] = self._approach(here, spot, normal, touch=False)
                elif label == "separating":
                    plan.grasp[h] = False
                    plan.hands[h] = here + normal * 0.15
                continue
            if human in ("pelvis", "back"):  # sit facing along the object's front
                plan.face = math.atan2(frame[1, 0], frame[0, 0])
            if label == "contact":
                plan.body_contact = True
                plan.lean_back |= human == "back"
                diff = near - here
                plan.v = plan.v + 3.0 * diff[:2]
                if human == "pelvis":
                    over = float(np.linalg.norm(diff[:2])) < 0.08
                    plan.vz = 3.0 * ((near[2] + 0.09 - pelvis[2]) if over else (STAND_HEIGHT - pelvis[2]))
            elif label == "separating":
                plan.v = plan.v + normal[:2] * 0.5
        return plan

    @staticmethod
    def _approach(hand: np.ndarray, spot: np.ndarray, normal: np.ndarray, touch: bool = True) -> np.ndarray:
        """Come in along the normal: to 12 cm off the spot, then onto it (1 cm into the surface) if ``touch``."""
        off = hand - spot
        lateral = float(np.linalg.norm(off - normal * float(off @ normal)))
        if touch and lateral < 0.04 and off @ normal > 0:
            return spot + normal * 0.03
        return spot + normal * 0.12

    @staticmethod
    def _rest_z(world: StageScene, oid: str) -> float:
        """Height [m] above which a box's target means lifting it: its half height on the floor plus 5 cm."""
        m = world.model
        return float(m.geom_size[m.body_geomadr[world.index.object_body[world.index.object_ids.index(oid)]], 2]) + 0.05

    @staticmethod
    def _inside(world: StageScene, part: int, near: np.ndarray) -> np.ndarray:
        """The point of the part's patch nearest ``near`` within its inner half: hands land away from edges."""
        d, ix = world.data, world.index
        site = ix.part_site[part]
        centre, frame = d.site_xpos[site], d.site_xmat[site].reshape(3, 3)
        half = world.model.site_size[site] * 0.5
        return centre + frame @ np.clip(frame.T @ (near - centre), -half, half)

    def _ik(self, world: StageScene, goals: Mapping[int, np.ndarray], use_height: bool) -> np.ndarray:
        """Damped least squares over (pelvis height, waist, left arm, right arm) for the hands in ``goals``, with a
        pull toward standing upright in the task's null space; returns the step ``(10,)`` [m, rad]."""
        import mujoco

        m, d, ix = world.model, world.data, world.index
        dofs = ix.vadr[3:13]
        rows, errs = [], []
        jac = np.zeros((3, m.nv))
        for h, goal in goals.items():
            site = ix.human_site[HUMAN_PARTS.index(HANDS[h])]
            mujoco.mj_jacSite(m, d, jac, None, site)
            cols = jac[:, dofs].copy()
            cols[:, 2 + 4 * (1 - h) : 6 + 4 * (1 - h)] = 0.0  # the other arm does not move this hand
            if not use_height:
                cols[:, 0] = 0.0
            rows.append(cols)
            errs.append(_clip_norm(goal - d.site_xpos[site], self.hand_step))
        posture = np.zeros(10)
        posture[0] = 0.3 * (STAND_HEIGHT - d.qpos[ix.qadr[3]]) if use_height else 0.0
        posture[1] = 0.1 * (REST_POSE[0] - d.qpos[ix.qadr[4]])
        if not rows:
            return posture
        j, e = np.concatenate(rows), np.concatenate(errs)
        pinv = j.T @ np.linalg.inv(j @ j.T + self.damping**2 * np.eye(len(e)))
        return pinv @ e + (np.eye(10) - pinv @ j) @ posture


@dataclass
class _Plan:
    grasp: list[bool]
    hands: dict[int, np.ndarray] = field(default_factory=dict)
    """Goal of each linked hand [m]."""
    v: np.ndarray = field(default_factory=lambda: np.zeros(2))
    """Root velocity asked by body links [m/s]."""
    vz: float | None = None
    """Pelvis vertical velocity asked by a pelvis contact [m/s] (None: the IK decides)."""
    face: float | None = None
    body_contact: bool = False
    lean_back: bool = False


@dataclass(frozen=True)
class StageResult:
    name: str
    status: Status
    seconds: float
    """World time the stage took [s]."""
    reason: str = ""
    error_m: float | None = None
    """Where the stage ended, its remaining error [m]: the moved object's distance to its target when the stage moves
    one, else the mean gap of its contact links; None for stages with neither (approach and walk stages)."""
    contacts_right: int = 0
    """Links whose contact state at the end matches their label (contact: touching; separating: not touching)."""
    contacts_judged: int = 0
    """Contact and separating links at the end (approaching and no-trend links have no contact state to match)."""


TOUCH = 0.025
"""A human part within this gap of its object part counts as touching it [m] (the grasp's reach)."""


def stage_end_figures(world: HOIWorld) -> dict[str, Any]:
    """``StageResult``'s ``error_m``, ``contacts_right`` and ``contacts_judged`` for the world's current stage."""
    info, st = world.stage_info(), world.tracker.stages
    links = np.flatnonzero(st.link_mask[0])
    labels = [LABELS[st.link_label[0, k]] for k in links]
    gaps = [float(info["gap"][k]) for k in links]
    error: float | None = None
    if int(st.object_index[0]) >= 0:
        error = float(info["object_dist"])
    elif "contact" in labels:
        error = float(np.mean([g for g, lab in zip(gaps, labels, strict=True) if lab == "contact"]))
    right = sum(
        (g < TOUCH) == (lab == "contact")
        for g, lab in zip(gaps, labels, strict=True)
        if lab in ("contact", "separating")
    )
    judged = sum(lab in ("contact", "separating") for lab in labels)
    return {"error_m": error, "contacts_right": int(right), "contacts_judged": int(judged)}


_STAGE_HINT = 'give the stage as a JSON object {"human_root": ..., "object_target": ..., "links": [...]}'


def _stage_json(text: str) -> Any:
    """A stage argument's JSON value; None for a stage name (text that is not JSON and does not start like an object or
    a list); the decode error for broken JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        return err if text.lstrip().startswith(("{", "[")) else None


def stage_problems(stage: Any, objects: Mapping[str, ObjectInfo] | None) -> list[ArgProblem]:
    """Every problem of one stage (the plain or strict data form) as ``stage...`` argument problems: the HOI planners'
    own validation (``planners.hoi.validate.validate_stages``) against the scene of ``objects`` (an ``HOIWorld``'s:
    ids, part vocabularies, finite targets inside the workspace, only movable objects moved, at most the links the
    compiler's goal vector holds), or the structure alone without objects or for objects of another world."""
    plan = {"stages": [stage]}
    if objects is not None and all(o.type in OBJECT_PARTS for o in objects.values()):
        problems = validate_stages(plan, describe_objects(objects))
    else:
        problems = schema_problems(normalize(plan))
    out = []
    for p in problems:
        if p.severity == "error":
            rest = p.path.removeprefix("$.stages[0]") if p.path.startswith("$.stages[0]") else ""
            out.append(ArgProblem(f"stage{rest}", p.message, p.hint))
    return out


class StageSkill(Skill):
    """One RMD stage as a behavior-tree leaf: SUCCESS when the stage reward passes 0.9, FAILURE on timeout.

    Settings: ``controller`` (default :class:`ScriptedStageController`; a learned one later). The world must be an
    :class:`~ember.sims.hoi.world.HOIWorld` (it compiles the stage and reports its reward)."""

    name = "hoi_stage"
    description = "Carry out one human-object interaction stage (root target, object target, part links)"
    params: ClassVar[tuple[Param, ...]] = (
        Param(
            "stage",
            ("string",),
            "the stage as JSON ({human_root, object_target, links}) or the name of a stage the planner stored",
        ),
        Param(
            "timeout",
            ("number",),
            "world time before failing [s]; the stage's timeout_s wins",
            default=10.0,
            required=False,
        ),
    )

    def __init__(self, controller: StageController | None = None, **settings: Any) -> None:
        super().__init__(**settings)
        self.controller: StageController = controller or ScriptedStageController()

    @classmethod
    def check_args(cls, args: Mapping[str, Any], objects: Mapping[str, ObjectInfo] | None) -> list[ArgProblem]:
        """The base checks, then a stage given as JSON (or as data: as good as its JSON text) is checked as the HOI
        planners check theirs (:func:`stage_problems`: structure, labels, parts, objects, finite targets inside the
        workspace, only movable objects moved); problems name their place in it (``stage.links[0][2]``). A stage
        name is resolved against the world's stage table when the leaf starts."""
        stage = args.get("stage") if isinstance(args, Mapping) else None
        if isinstance(stage, Mapping):  # a stage given as data is as good as its JSON text
            args = {**args, "stage": json.dumps(stage)}
        problems = super().check_args(args, objects)
        timeout = args.get("timeout") if isinstance(args, Mapping) else None
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and not 0.0 < timeout < math.inf:
            problems.append(
                ArgProblem("timeout", f"timeout must be a positive number of seconds; got {timeout}", "give e.g. 10.0")
            )
        text = args.get("stage") if isinstance(args, Mapping) else None
        if problems or not isinstance(text, str):
            return problems
        data = _stage_json(text)
        if data is None:
            return problems  # a stage name: resolved against the world's stage table when the leaf starts
        if isinstance(data, json.JSONDecodeError):
            return [ArgProblem("stage", f"stage is not JSON ({data.msg} at column {data.colno})", _STAGE_HINT)]
        if not isinstance(data, dict):
            kind = {list: "a list", str: "a string", bool: "a boolean"}.get(type(data), "a number")
            msg = f"stage={text.strip()[:60]!r} is {kind} in JSON, not a stage object"
            return [ArgProblem("stage", msg, f"{_STAGE_HINT}, or the name of a stage the HOI planner stored")]
        return stage_problems(data, objects)

    def _start(self) -> None:
        assert self.ctx is not None
        world = self.ctx.world
        if not isinstance(world, HOIWorld):
            raise TypeError(f"{self.name} needs an HOIWorld; got {type(world).__name__}")
        stage = self.ctx.args["stage"]
        if isinstance(stage, str) and stage in world.stage_table:  # a plan leaf names a stage its planner stored
            data: Any = dict(world.stage_table[stage])
        elif isinstance(stage, Mapping):
            data = dict(stage)
        else:
            data = _stage_json(str(stage))
            if not isinstance(data, dict):  # check_args has refused everything else but a name
                stored = f"holds {sorted(world.stage_table)}" if world.stage_table else "has none"
                raise WorldError(
                    f"stage={stage!r} names no stored stage (this world {stored}) and is not a JSON stage; "
                    "stage names resolve only in the run whose HOI planner stored them: give the stage itself as JSON "
                    '({"human_root": ..., "object_target": ..., "links": [...]}) in a plan file'
                )
        self.stage = normalize({"stages": [data]})["stages"][0]  # labels and directions as validation read them
        self.timeout = float(self.stage.get("timeout_s") or self.ctx.args["timeout"] or 10.0)
        world.set_stage(self.stage)
        self.t0 = world.time()
        self.controller.reset(world, self.ctx.agent)

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        world: HOIWorld = self.ctx.world  # type: ignore[assignment]
        reward = world.stage_reward()
        if bool(stage_done(reward)):
            return Outcome(Status.SUCCESS, f"stage reward {reward:.2f}")
        if world.time() - self.t0 > self.timeout:
            i = world.stage_info()
            gaps = ", ".join(
                f"{g * 100:.0f} cm" for g, on in zip(i["gap"], world.tracker.stages.link_mask[0], strict=True) if on
            )
            return Outcome(
                Status.FAILURE,
                f"stage {self.stage.get('name', '')!r}: reward {reward:.2f} not past 0.9 within {self.timeout:.0f} s "
                f"(links {i['r_links']:.2f}, link gaps [{gaps}], root {i['r_root']:.2f} at {i['root_dist']:.2f} m, "
                f"object {i['r_object']:.2f} at {i['object_dist']:.2f} m)",
            )
        world.apply(self.ctx.agent, {"action": self.controller.act(world, self.ctx.agent)})
        return RUNNING

    def cancel(self) -> None:
        if self.ctx is None:
            return
        hold = np.zeros(ACTION_DIM)
        world: HOIWorld = self.ctx.world  # type: ignore[assignment]
        hold[4:13] = joint_action(world.data.qpos[world.index.qadr[4:13]])
        hold[13:15] = [1.0 if o is not None else -1.0 for o in world.index.grasped(world.data).values()]
        world.apply(self.ctx.agent, {"action": hold})


def run_stages(
    world: HOIWorld,
    stages: Sequence[Mapping[str, Any]],
    controller: StageController | None = None,
    timeout: float = 10.0,
    agent: str = "human",
) -> list[StageResult]:
    """Run ``stages`` in order as ``StageSkill`` leaves (one ``advance`` per tick); stops at the first failure."""
    out = []
    for stage in stages:
        skill = StageSkill(controller=controller)
        skill.start(world, agent, stage=dict(stage), timeout=timeout)
        t0 = world.time()
        while (outcome := skill.tick()).status is Status.RUNNING:
            world.advance()
        figures = stage_end_figures(world)
        out.append(
            StageResult(str(stage.get("name", "")), outcome.status, world.time() - t0, outcome.reason, **figures)
        )
        if outcome.status is Status.FAILURE:
            break
    return out

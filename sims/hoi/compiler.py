"""The stage compiler: one RMD stage (plain data) -> a fixed-size goal vector and a stage reward in [0, 1], both
recomputed every control step from the state, vectorised in numpy over ``N`` envs.

A stage is the dict form of ``planners.hoi.stages.Stage`` (taken as data: ``sims`` does not import planners)::

    {"human_root": [x, y] | [x, y, z] | {"near": obj, "offset": [dx, dy]} | None,
     "object_target": {"object": obj, "position": [x, y, z], "yaw"?: ...} | None,
     "links": [[obj, object_part, human_part, label, direction?], ...]}

``near`` is resolved against the object's position when the stage is compiled (the stage's start). The object
target's ``yaw`` and each link's ``direction`` are not used (a limit: the reward does not check headings).

Link geometry: a link's gap is the distance between the human part (a sphere of ``scene.HUMAN_RADIUS`` around its
site) and the nearest point of the object part's patch (a flat box site, plus ``scene.PART_RADIUS`` for bars), 0 when
they touch; ``side`` picks, at each step, the box's vertical face with the smallest gap.

Goal vector (``GOAL_DIM`` = 83, in the character's heading frame: yaw removed, z up):

- per link, up to ``MAX_LINKS`` (4) in stage order, else zeros (``LINK_DIM`` = 18): the nearest point of the object
  part relative to the human part (3) [m], its change over the last control period / dt (3) [m/s], the label one-hot
  (4, RMD's order), the human part one-hot (7, ``scene.HUMAN_PARTS``), mask (1);
- root target minus the pelvis (3, z only when the target gives z) [m], mask (1);
- object target minus the object's position (3) [m], the object's position minus the pelvis (3) [m], mask (1).

Stage reward, after RMD (Deng et al. 2025), whose task reward is ``0.5 r_RMD + exp(-|x_h - d_h|^2) +
exp(-|x_o - d_o|^2)``. Per-link terms by label (gap ``g`` [m], closing speed ``v = -dg/dt`` [m/s]):
``contact`` ``exp(-(g / 0.1)^2)``; ``approaching`` ``max(exp(-(max(g - 0.5, 0) / 0.3)^2), clip(v / 0.3, 0, 1))``
(full credit within 0.5 m, or while closing at 0.3 m/s); ``separating`` ``1 - exp(-(g / 0.1)^2)``; ``no_trend`` 1.
``r_links`` is their mean; ``r_root = exp(-(|x_h - d_h| / 0.5)^2)``, ``r_object = exp(-(|x_o - d_o| / 0.15)^2)``.
The stage reward is ``(1.0 r_links + 0.5 r_root + 1.0 r_object)`` divided by the weights of the terms the stage has,
so it lies in [0, 1] and 0.9 means the same in every stage (RMD's unnormalised sum does not). Departures from RMD,
chosen so that ``stage_done`` (reward > 0.9) needs contact within ~3 cm, the object within ~8 cm and the root within
~0.3 m: the link weight is doubled relative to the destinations, the destination terms have length scales (RMD: 1 m),
and ``approaching`` rewards nearness as well as closing speed, so an approach stage can end with the character
standing still in front of the object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ember.sims.hoi.scene import BOX_FACES, HUMAN_PARTS, HUMAN_RADIUS

MAX_LINKS = 4
LABELS = ("contact", "approaching", "separating", "no_trend")
LINK_DIM = 3 + 3 + len(LABELS) + len(HUMAN_PARTS) + 1
GOAL_DIM = MAX_LINKS * LINK_DIM + 4 + 7
SIGMA_CONTACT = 0.1  # [m]
APPROACH_RANGE = 0.5  # [m]
SIGMA_APPROACH = 0.3  # [m]
APPROACH_SPEED = 0.3  # [m/s]
SIGMA_SEPARATE = 0.1  # [m]
SIGMA_ROOT = 0.5  # [m]
SIGMA_OBJECT = 0.15  # [m]
WEIGHTS = (1.0, 0.5, 1.0)
"""Weights of the links, root and object terms."""
DONE_THRESHOLD = 0.9
_HUMAN_R = np.array([HUMAN_RADIUS.get(p, 0.0) for p in HUMAN_PARTS])


def stage_done(reward: np.ndarray | float) -> np.ndarray:
    """Whether a stage is complete: its reward passes ``DONE_THRESHOLD`` (RMD's 0.9)."""
    return np.asarray(reward) > DONE_THRESHOLD


@dataclass
class CompiledStages:
    """``N`` stages as arrays; row ``i`` is env ``i``'s current stage."""

    link_mask: np.ndarray  # (N, L) bool
    link_human: np.ndarray  # (N, L) int, index into HUMAN_PARTS
    link_parts: np.ndarray  # (N, L, 4) int, candidate parts (``side``: the four faces; else one part four times)
    link_label: np.ndarray  # (N, L) int, index into LABELS
    root_target: np.ndarray  # (N, 3) [m]
    root_axes: np.ndarray  # (N, 3) bool, the axes the root target constrains
    object_index: np.ndarray  # (N,) int, -1: no object target
    object_target: np.ndarray  # (N, 3) [m]

    @classmethod
    def empty(cls, n: int) -> CompiledStages:
        return cls(
            np.zeros((n, MAX_LINKS), bool),
            np.zeros((n, MAX_LINKS), np.int64),
            np.zeros((n, MAX_LINKS, 4), np.int64),
            np.zeros((n, MAX_LINKS), np.int64),
            np.zeros((n, 3)),
            np.zeros((n, 3), bool),
            np.full(n, -1, np.int64),
            np.zeros((n, 3)),
        )

    def set_row(self, i: int, other: CompiledStages, j: int = 0) -> None:
        """Row ``i`` := row ``j`` of ``other``."""
        for f in fields(self):
            getattr(self, f.name)[i] = getattr(other, f.name)[j]


@dataclass
class PartState:
    """What the compiler reads, for ``N`` envs over one part table (``P`` parts, ``O`` objects)."""

    human: np.ndarray  # (N, 7, 3) human part sites [m]
    part_center: np.ndarray  # (N, P, 3) part patch centres [m]
    part_rot: np.ndarray  # (N, P, 3, 3) patch frames (columns: axes in world)
    part_half: np.ndarray  # (N, P, 3) patch half sizes [m]
    part_radius: np.ndarray  # (P,) bar radius [m]
    object_pos: np.ndarray  # (N, O, 3) object positions [m]
    root: np.ndarray  # (N, 3) pelvis [m]
    yaw: np.ndarray  # (N,) heading [rad]


def _err(field: str, value: Any, fix: str) -> ValueError:
    return ValueError(f"stage {field}: got {value!r}; {fix}")


def compile_stage(
    stage: Mapping[str, Any], parts: Sequence[tuple[str, str]], objects: Sequence[str], object_pos: np.ndarray
) -> CompiledStages:
    """One stage (module docstring) against a scene's part table ``parts`` ((object, part) per row), its object ids
    and their current positions ``(O, 3)`` [m]; raises ``ValueError`` naming the field for anything it cannot map."""
    out = CompiledStages.empty(1)
    index = {p: k for k, p in enumerate(parts)}
    links = list(stage.get("links") or [])
    if len(links) > MAX_LINKS:
        raise _err("links", f"{len(links)} links", f"the goal vector holds at most {MAX_LINKS}; split the stage")
    for k, link in enumerate(links):
        obj, part, human, label = (str(x) for x in link[:4])
        if human not in HUMAN_PARTS:
            raise _err(f"links[{k}][2]", human, f"human parts are {list(HUMAN_PARTS)}")
        label = LABELS[int(label)] if label.isdigit() and int(label) < len(LABELS) else label
        if label not in LABELS:
            raise _err(f"links[{k}][3]", label, f"labels are {list(LABELS)}")
        names = [(obj, f) for f in BOX_FACES] if part == "side" else [(obj, part)] * 4
        missing = [n for n in names if n not in index]
        if missing:
            known = sorted({p for o, p in parts if o == obj}) or sorted({o for o, _ in parts})
            raise _err(f"links[{k}][0:2]", [obj, part], f"the scene has {known}")
        out.link_mask[0, k] = True
        out.link_human[0, k] = HUMAN_PARTS.index(human)
        out.link_parts[0, k] = [index[n] for n in names]
        out.link_label[0, k] = LABELS.index(label)
    root = stage.get("human_root")
    if isinstance(root, Mapping):
        near = str(root.get("near"))
        if near not in objects:
            raise _err("human_root.near", near, f"objects are {list(objects)}")
        off = root.get("offset") or (0.0, 0.0)
        out.root_target[0, :2] = np.asarray(object_pos[list(objects).index(near)][:2]) + np.asarray(off[:2], float)
        out.root_axes[0, :2] = True
    elif root is not None:
        if len(root) not in (2, 3):
            raise _err("human_root", root, "give [x, y] or [x, y, z] in metres")
        out.root_target[0, : len(root)] = np.asarray(root, float)
        out.root_axes[0, : len(root)] = True
    target = stage.get("object_target")
    if target is not None:
        if target.get("object") not in objects:
            raise _err("object_target.object", target.get("object"), f"objects are {list(objects)}")
        out.object_index[0] = list(objects).index(target["object"])
        out.object_target[0] = np.asarray(target["position"], float)[:3]
    return out


def _rot_z(vec: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotate ``(N, ..., 3)`` vectors by ``-yaw`` ``(N,)`` about z (world -> heading frame)."""
    shape = (-1,) + (1,) * (vec.ndim - 2)
    c, s = np.cos(yaw).reshape(shape), np.sin(yaw).reshape(shape)
    out = vec.copy()
    out[..., 0] = c * vec[..., 0] + s * vec[..., 1]
    out[..., 1] = -s * vec[..., 0] + c * vec[..., 1]
    return out


def link_geometry(stages: CompiledStages, state: PartState) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per link: the human part position and the nearest point of its object part ``(N, L, 3)`` [m], the gap
    ``(N, L)`` [m] and the part it was measured to ``(N, L)`` (``side`` resolved)."""
    n = stages.link_mask.shape[0]
    rows = np.arange(n)
    hp = state.human[rows[:, None], stages.link_human]  # (N, L, 3)
    if state.part_center.shape[1] == 0:  # a scene without parts: no link can be met
        return hp, hp + 1e3, np.full(stages.link_mask.shape, 1e3), np.zeros(stages.link_mask.shape, np.int64)
    cand = stages.link_parts  # (N, L, 4)
    r3 = rows[:, None, None]
    c, rot, half = state.part_center[r3, cand], state.part_rot[r3, cand], state.part_half[r3, cand]
    d = hp[:, :, None, :] - c
    local = np.clip(np.einsum("nlkji,nlkj->nlki", rot, d), -half, half)
    near = c + np.einsum("nlkij,nlkj->nlki", rot, local)
    dist = np.linalg.norm(hp[:, :, None, :] - near, axis=-1)
    gap = np.maximum(dist - _HUMAN_R[stages.link_human][:, :, None] - state.part_radius[cand], 0.0)
    best = np.argmin(gap, axis=-1)[..., None]
    near, gap = np.take_along_axis(near, best[..., None], 2)[:, :, 0], np.take_along_axis(gap, best, 2)[..., 0]
    return hp, near, gap, np.take_along_axis(cand, best, 2)[..., 0]


def link_terms(gap: np.ndarray, closing: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per-link reward terms (module docstring) from the gap [m], closing speed [m/s] and label codes."""
    contact = np.exp(-((gap / SIGMA_CONTACT) ** 2))
    near = np.exp(-((np.maximum(gap - APPROACH_RANGE, 0.0) / SIGMA_APPROACH) ** 2))
    approaching = np.maximum(near, np.clip(closing / APPROACH_SPEED, 0.0, 1.0))
    separating = 1.0 - np.exp(-((gap / SIGMA_SEPARATE) ** 2))
    return np.choose(label, [contact, approaching, separating, np.ones_like(gap)])


def combine(
    r_links: np.ndarray, r_root: np.ndarray, r_object: np.ndarray, has: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """The weighted mean of the terms a stage has (``has``: three ``(N,)`` bool); 1 for a stage with none."""
    num = sum(w * r * h for w, r, h in zip(WEIGHTS, (r_links, r_root, r_object), has, strict=True))
    den = sum(w * h for w, h in zip(WEIGHTS, has, strict=True))
    return np.where(den > 0, num / np.maximum(den, 1e-9), 1.0)


class StageTracker:
    """``N`` envs' current stages and the link state of the previous control step (for velocities).

    Call :meth:`set` when an env starts a stage and :meth:`evaluate` once per control step."""

    def __init__(self, n: int, dt: float) -> None:
        self.n, self.dt = n, dt
        self.stages = CompiledStages.empty(n)
        self.prev_rel = np.zeros((n, MAX_LINKS, 3))
        self.prev_gap = np.zeros((n, MAX_LINKS))
        self.fresh = np.ones(n, bool)

    def set(self, i: int, compiled: CompiledStages) -> None:
        self.stages.set_row(i, compiled)
        self.fresh[i] = True

    def evaluate(self, state: PartState, update: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """``(goal (N, GOAL_DIM), reward (N,), info)``; ``info`` holds the terms (``r_links``, ``r_root``,
        ``r_object``), per-link ``gap``, ``near`` (world) and ``part``, and the distances. ``update=False`` leaves the
        previous-step memory alone (a second look within one control period)."""
        s = self.stages
        hp, near, gap, part = link_geometry(s, state)
        rel = near - hp
        keep = (~self.fresh)[:, None]
        vel = np.where(keep[..., None], (rel - self.prev_rel) / self.dt, 0.0)
        closing = np.where(keep, (self.prev_gap - gap) / self.dt, 0.0)
        terms = link_terms(gap, closing, s.link_label)
        count = s.link_mask.sum(1)
        r_links = (terms * s.link_mask).sum(1) / np.maximum(count, 1)
        root_err = (s.root_target - state.root) * s.root_axes
        root_dist = np.linalg.norm(root_err, axis=1)
        r_root = np.exp(-((root_dist / SIGMA_ROOT) ** 2))
        has_obj = s.object_index >= 0
        rows = np.arange(self.n)
        obj_pos = state.object_pos[rows, np.maximum(s.object_index, 0)] if state.object_pos.shape[1] else state.root
        obj_err = np.where(has_obj[:, None], s.object_target - obj_pos, 0.0)
        obj_dist = np.linalg.norm(obj_err, axis=1)
        r_object = np.exp(-((obj_dist / SIGMA_OBJECT) ** 2))
        has = (count > 0, np.asarray(s.root_axes.any(1)), has_obj)
        reward = combine(r_links, r_root, r_object, has)
        m = s.link_mask[..., None]
        labels = np.eye(len(LABELS))[s.link_label]
        humans = np.eye(len(HUMAN_PARTS))[s.link_human]
        per_link = np.concatenate(
            [_rot_z(rel, state.yaw), _rot_z(vel, state.yaw), labels, humans, np.ones_like(gap)[..., None]], -1
        )
        obj_rel = np.where(has_obj[:, None], obj_pos - state.root, 0.0)
        goal = np.concatenate(
            [
                (per_link * m).reshape(self.n, -1),
                _rot_z(root_err, state.yaw),
                has[1][:, None],
                _rot_z(obj_err, state.yaw),
                _rot_z(obj_rel, state.yaw),
                has_obj[:, None],
            ],
            1,
        )
        if update:
            self.prev_rel, self.prev_gap = rel, gap
            self.fresh[:] = False
        info = {
            "r_links": r_links,
            "r_root": r_root,
            "r_object": r_object,
            "gap": gap,
            "near": near,
            "part": part,
            "root_dist": root_dist,
            "object_dist": obj_dist,
            "has_links": has[0],
            "has_root": has[1],
            "has_object": has_obj,
        }
        return goal.astype(np.float32), reward, info

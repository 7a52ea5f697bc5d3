"""An HOI scene as a :class:`~ember.sims.world.World` (contract 2): one MuJoCo model and data, one agent
``"human"`` (the simplified character of ``scene.py``), and the RMD stage it is working on.

Facts (from poses and the grasp welds, never from what a skill claims):

- ``near(human, o)``: the pelvis is within ``NEAR`` (0.8 m) horizontally of ``o``'s footprint.
- ``grasping(human, o)``: a hand's grasp weld to ``o`` is on.
- ``sitting(human, c)``: the pelvis rests on chair ``c``'s seat (gap under 3 cm) below 0.7 m.
- ``on(b, s)``: box ``b`` rests on the top of table ``s``, or on box ``s`` (its bottom within 3 cm of the top, its
  centre over the top) and no hand holds it.
- ``open(o)``: drawer ``o`` is pulled out more than 0.15 m, door ``o`` turned more than 0.5 rad.

``apply("human", {"action": a})`` queues an action (``scene.ACTION_NAMES``, 15 values in [-1, 1]); without one,
``advance`` stops the root and keeps the joint targets and grasps. ``set_stage(stage)`` compiles a stage (dict form of
``planners.hoi.stages.Stage``) against the current poses; ``observe`` then lays the groups out as ``HOIVecEnv`` does
(``policy`` 126, ``critic`` 202; objects missing from the env's four slots read as absent). ``render()`` is a
top-down drawing (PIL; MuJoCo's GL renderer needs EGL or OSMesa): 1 px = 1 cm at the default 5 m view, object
footprints in their type's colour with ids and a thick front (+x) edge, part sites as dots, the character as a disc
with a heading arrow and its hands; world +x points right, +y up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ember.sims.hoi.compiler import PartState, StageTracker, compile_stage
from ember.sims.hoi.env import TASKS, WORKSPACE, privileged, sample_scene, stack_states
from ember.sims.hoi.scene import (
    ACTION_DIM,
    CONTROL_DECIMATION,
    CONTROL_DT,
    DEFAULT_SIZES,
    HANDS,
    HUMAN_PARTS,
    STAND_HEIGHT,
    SceneIndex,
    build_scene,
)
from ember.sims.predicates import Atom
from ember.sims.world import ObjectInfo, World, WorldError

AGENT = "human"
NEAR = 0.8  # [m]
_COLORS = {
    "box": (205, 140, 75),
    "chair": (105, 75, 180),
    "drawer": (75, 155, 125),
    "table": (155, 125, 100),
    "door": (180, 180, 150),
}


class HOIWorld(World):
    """Args:
    objects: id -> ``{"type", "position", "yaw"?, "size"?, "mass"?, "friction"?}`` (``scene.build_scene``).
    character: the root's start ``(x, y, yaw)`` [m, m, rad].
    seed: draws box masses and frictions that ``objects`` leaves out.
    """

    control_dt = CONTROL_DT

    def __init__(
        self,
        objects: Mapping[str, Mapping[str, Any]],
        character: tuple[float, float, float] = (0.0, 0.0, 0.0),
        seed: int = 0,
    ) -> None:
        import mujoco

        self._mj = mujoco
        self.specs = {oid: dict(spec) for oid, spec in objects.items()}
        self.model = mujoco.MjModel.from_xml_string(build_scene(self.specs, seed))
        self.data = mujoco.MjData(self.model)
        self.index = SceneIndex(self.model, self.specs)
        self.start = character
        self.index.set_pose(self.data, *character)
        mujoco.mj_forward(self.model, self.data)
        self.tracker = StageTracker(1, CONTROL_DT)
        self.stage: Mapping[str, Any] | None = None
        self.stage_table: dict[str, Mapping[str, Any]] = {}
        """Stages by name, for plans whose leaves name their stage (``hoi_stage`` with ``stage="<name>"``): the HOI
        planner puts its stages here, as a behavior tree's arguments hold only short strings."""
        self._queued: np.ndarray | None = None
        self._eval: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None

    @classmethod
    def sampled(cls, scene: str = "sit", seed: int = 0) -> HOIWorld:
        """A seeded random scene for the benchmark task ``scene`` (``env.sample_scene``): what ``ember run task=hoi``
        acts in."""
        if scene not in TASKS:
            raise WorldError(f"task.scene={scene!r} is not an HOI scene; choose one of {list(TASKS)}")
        return cls.from_description(sample_scene(scene, np.random.default_rng(seed)), seed=seed)

    @classmethod
    def from_description(cls, description: Mapping[str, Any], seed: int = 0) -> HOIWorld:
        """Build from an ``env.sample_scene`` description."""
        x, y = description.get("character_position", (0.0, 0.0))
        return cls(description["objects"], (float(x), float(y), float(description.get("character_yaw", 0.0))), seed)

    def description(self) -> dict[str, Any]:
        """The scene as ``planners.hoi.scene.SceneInfo.from_dict`` reads it (poses as they are now)."""
        root = self.human_part_pose("pelvis")
        out = describe_objects(self.objects(), (float(root[0]), float(root[1])))
        for oid, spec in self.specs.items():
            out["objects"][oid].update({k: spec[k] for k in ("mass", "friction") if k in spec})
        return out

    # ------------------------------------------------------------------ accessors
    def part_pose(self, obj: str, part: str) -> tuple[np.ndarray, np.ndarray]:
        """A part site's centre [m] and frame (3x3, columns = its axes in the world)."""
        if (obj, part) not in self.index.parts:
            raise WorldError(f"part {obj}/{part} is unknown; parts are {[f'{o}/{p}' for o, p in self.index.parts]}")
        site = self.index.part_site[self.index.parts.index((obj, part))]
        return self.data.site_xpos[site].copy(), self.data.site_xmat[site].reshape(3, 3).copy()

    def human_part_pose(self, part: str) -> np.ndarray:
        """A human part site's position [m]."""
        if part not in HUMAN_PARTS:
            raise WorldError(f"human part {part!r} is unknown; parts are {list(HUMAN_PARTS)}")
        return self.data.site_xpos[self.index.human_site[HUMAN_PARTS.index(part)]].copy()

    def part_state(self) -> PartState:
        return stack_states([self.index.part_state(self.model, self.data)], self.index.part_radius)

    # ------------------------------------------------------------------ stages
    def set_stage(self, stage: Mapping[str, Any] | None) -> None:
        """Compile ``stage`` against the current poses (None: no stage; the goal reads zeros)."""
        self.stage = stage
        compiled = compile_stage(
            stage or {}, self.index.parts, self.index.object_ids, self.data.xpos[self.index.object_body]
        )
        self.tracker.set(0, compiled)
        self._eval = self.tracker.evaluate(self.part_state(), update=False)

    def stage_reward(self) -> float:
        """The current stage's reward in [0, 1] (1 with no stage)."""
        return float(self._eval[1][0]) if self._eval is not None and self.stage is not None else 1.0

    def stage_info(self) -> dict[str, np.ndarray]:
        """The compiler's terms for the current stage (``StageTracker.evaluate``'s info, row 0)."""
        if self._eval is None:
            raise WorldError("no stage set; call set_stage(stage) first")
        return {k: v[0] for k, v in self._eval[2].items()}

    # ------------------------------------------------------------------ contract
    def agents(self) -> list[str]:
        return [AGENT]

    def _check_agent(self, agent: str) -> None:
        if agent != AGENT:
            raise WorldError(f"agent {agent!r} is unknown; the agent is {AGENT!r}")

    def objects(self) -> dict[str, ObjectInfo]:
        out = {}
        for k, oid in enumerate(self.index.object_ids):
            body = self.index.object_body[k]
            kind = self.index.types[oid]
            w, x, y, z = self.data.xquat[body]
            mat = self.data.xmat[body].reshape(3, 3)
            parts = {
                p: {
                    "position": [round(float(v), 4) for v in self.data.site_xpos[self.index.part_site[j]]],
                    "normal": [
                        round(float(v), 4)
                        for v in self.data.site_xmat[self.index.part_site[j]].reshape(3, 3) @ self.index.part_normal[j]
                    ],
                }
                for j, (o, p) in enumerate(self.index.parts)
                if o == oid
            }
            attrs: dict[str, Any] = {
                "size": tuple(self.specs[oid].get("size") or DEFAULT_SIZES[kind]),
                "yaw": math.atan2(mat[1, 0], mat[0, 0]),
                "parts": parts,
            }
            if kind == "box":
                attrs["mass"] = float(self.model.body_mass[body])
                attrs["friction"] = float(self.model.geom_friction[self.model.body_geomadr[body], 0])
            if oid in self.index.articulation:
                attrs["opening"] = float(self.data.qpos[self.index.articulation[oid]])
            out[oid] = ObjectInfo(
                oid,
                kind,
                tuple(float(v) for v in self.data.xpos[body]),  # type: ignore[arg-type]
                (float(x), float(y), float(z), float(w)),
                kind != "table" and kind != "chair",
                attrs,
            )
        return out

    def facts(self) -> frozenset[Atom]:
        facts = set()
        objects = self.objects()
        pelvis = self.human_part_pose("pelvis")
        held = {o for o in self.index.grasped(self.data).values() if o is not None}
        if pelvis[2] > STAND_HEIGHT - 0.1:
            facts.add(Atom("standing", (AGENT,)))
        for oid, info in objects.items():
            if _footprint_distance(pelvis[:2], info) <= NEAR:
                facts.add(Atom("near", (AGENT, oid)))
            if oid in held:
                facts.add(Atom("grasping", (AGENT, oid)))
            if info.type == "chair":
                seat, frame = self.part_pose(oid, "seat")
                local = np.abs(frame.T @ (pelvis - seat))
                half = self.model.site_size[self.index.part_site[self.index.parts.index((oid, "seat"))]]
                if (local[:2] <= half[:2] + 0.05).all() and local[2] - 0.1 < 0.03 and pelvis[2] < 0.7:
                    facts.add(Atom("sitting", (AGENT, oid)))
            if info.type in ("drawer", "door") and info.attributes["opening"] > (
                0.15 if info.type == "drawer" else 0.5
            ):
                facts.add(Atom("open", (oid,)))
        for oid, info in objects.items():
            if info.type != "box" or oid in held:
                continue
            bottom, _ = self.part_pose(oid, "bottom")
            for sid, sup in objects.items():
                if sid == oid or sup.type not in ("table", "box"):
                    continue
                top, frame = self.part_pose(sid, "top")
                local = frame.T @ (bottom - top)
                half = self.model.site_size[self.index.part_site[self.index.parts.index((sid, "top"))]]
                if abs(local[2]) < 0.03 and (np.abs(local[:2]) <= half[:2] + 0.05).all():
                    facts.add(Atom("on", (oid, sid)))
        return frozenset(facts)

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        self._check_agent(agent)
        if self._eval is None:
            self.set_stage(self.stage)
        assert self._eval is not None
        goal, _, info = self._eval
        policy = np.concatenate([self.index.proprio(self.data), goal[0]]).astype(np.float32)
        terms = (float(info["r_links"][0]), float(info["r_root"][0]), float(info["r_object"][0]))
        extra = privileged(self.model, self.data, self.index, self.index.object_ids, (0, 1), terms)
        return {"policy": policy, "critic": np.concatenate([policy, extra]).astype(np.float32)}

    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        self._check_agent(agent)
        if set(action) != {"action"}:
            raise WorldError(
                f"action must be {{'action': [{ACTION_DIM} values in [-1, 1]]}}; got keys {sorted(action)}"
            )
        a = np.asarray(action["action"], np.float64).reshape(-1)
        if a.shape != (ACTION_DIM,) or not np.isfinite(a).all():
            raise WorldError(f"action needs {ACTION_DIM} finite values; got {a.size}")
        self._queued = a

    def advance(self) -> None:
        if self._queued is not None:
            command = self.index.apply_action(self.data, self._queued)
        else:
            self.data.ctrl[:4] = 0.0
            command = np.array([self.index.grasped(self.data)[h] is not None for h in HANDS])
        self.index.update_grasp(self.model, self.data, command)
        self._mj.mj_step(self.model, self.data, nstep=CONTROL_DECIMATION)
        self._queued = None
        self._eval = self.tracker.evaluate(self.part_state())

    def time(self) -> float:
        return float(self.data.time)

    # ------------------------------------------------------------------ picture
    def render(self, size: int = 512, extent: float | None = None) -> np.ndarray:
        from PIL import Image, ImageDraw

        pelvis = self.human_part_pose("pelvis")
        pts = [pelvis[:2]] + [np.asarray(o.position[:2]) for o in self.objects().values()]
        centre = (np.min(pts, 0) + np.max(pts, 0)) / 2
        half = extent / 2 if extent else max(2.5, float(np.max(np.abs(np.array(pts) - centre))) + 1.0)
        scale = size / (2 * half)

        def px(p: np.ndarray) -> tuple[float, float]:
            return (float((p[0] - centre[0]) * scale + size / 2), float(size / 2 - (p[1] - centre[1]) * scale))

        img = Image.new("RGB", (size, size), (235, 235, 235))
        draw = ImageDraw.Draw(img)
        for g in np.arange(math.floor(centre[0] - half), centre[0] + half + 1):
            draw.line([px(np.array([g, centre[1] - half])), px(np.array([g, centre[1] + half]))], (210, 210, 210))
        for g in np.arange(math.floor(centre[1] - half), centre[1] + half + 1):
            draw.line([px(np.array([centre[0] - half, g])), px(np.array([centre[0] + half, g]))], (210, 210, 210))
        by_top = sorted(self.objects().items(), key=lambda kv: kv[1].position[2] + kv[1].attributes["size"][2] / 2)
        for oid, info in by_top:  # lower objects first, so a box on a table shows
            corners = [px(c) for c in _corners(info)]
            draw.polygon(corners, fill=_COLORS[info.type], outline=(40, 40, 40))
            draw.line([corners[1], corners[2]], fill=(20, 20, 20), width=4)  # the front (+x) edge
            for part in info.attributes["parts"].values():
                x, y = px(np.asarray(part["position"]))
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(200, 30, 30))
            x, y = px(np.asarray(info.position))
            draw.text((x + 5, y - 14), oid, fill=(0, 0, 0))
        x, y = px(pelvis)
        r = 0.2 * scale
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(60, 110, 220), outline=(20, 40, 90))
        yaw = self.index.yaw(self.data)
        tip = px(pelvis + 0.4 * np.array([math.cos(yaw), math.sin(yaw), 0.0]))
        draw.line([(x, y), tip], fill=(20, 40, 90), width=3)
        for h in HANDS:
            hx, hy = px(self.human_part_pose(h))
            draw.ellipse([hx - 4, hy - 4, hx + 4, hy + 4], fill=(240, 200, 160), outline=(20, 40, 90))
        draw.text((5, 5), f"1 grid cell = 1 m, +x right, +y up, t = {self.time():.1f} s", fill=(0, 0, 0))
        return np.asarray(img, dtype=np.uint8)


def describe_objects(
    objects: Mapping[str, ObjectInfo], character_position: tuple[float, float] = (0.0, 0.0)
) -> dict[str, Any]:
    """A scene description (``planners.hoi.scene.SceneInfo.from_dict``'s form) from an ``HOIWorld``'s ``objects()``:
    types, poses, sizes, whether each can move in this simulation (chairs and tables are fixed), the workspace."""
    return {
        "objects": {
            oid: {
                "type": info.type,
                "position": [round(v, 4) for v in info.position],
                "yaw": round(float(info.attributes.get("yaw", 0.0)), 4),
                "size": list(info.attributes.get("size") or DEFAULT_SIZES[info.type]),
                "movable": bool(info.movable),
            }
            for oid, info in objects.items()
        },
        "workspace": [list(WORKSPACE[0]), list(WORKSPACE[1])],
        "character_position": [round(character_position[0], 4), round(character_position[1], 4)],
    }


def _corners(info: ObjectInfo) -> list[np.ndarray]:
    """The footprint's corners (world xy) of an object's bounding box (a drawer's chest lies behind its panel)."""
    sx, sy, _ = info.attributes["size"]
    yaw = info.attributes["yaw"]
    c, s = math.cos(yaw), math.sin(yaw)
    out = info.attributes.get("opening", 0.0)
    x0, x1 = (-sx - out, -out) if info.type == "drawer" else (-sx, 0.0) if info.type == "door" else (-sx / 2, sx / 2)
    y0, y1 = (-sy, 0.0) if info.type == "door" else (-sy / 2, sy / 2)
    p = np.asarray(info.position[:2])
    return [p + np.array([c * x - s * y, s * x + c * y]) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]


def _footprint_distance(point: np.ndarray, info: ObjectInfo) -> float:
    """Horizontal distance [m] from ``point`` to an object's footprint (0 inside)."""
    corners = _corners(info)
    yaw = info.attributes["yaw"]
    c, s = math.cos(yaw), math.sin(yaw)
    rel = [np.array([c * v[0] + s * v[1], -s * v[0] + c * v[1]]) for v in (q - corners[0] for q in (point, corners[2]))]
    lo, hi = np.minimum(0.0, rel[1]), np.maximum(0.0, rel[1])
    return float(np.linalg.norm(rel[0] - np.clip(rel[0], lo, hi)))

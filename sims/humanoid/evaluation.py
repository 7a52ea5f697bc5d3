"""Evaluating a tracking policy in :class:`~.retarget_env.RetargetVecEnv`: rollouts from fixed phases with success,
MPJPE, head/hands error, jitter and foot skating (the bench, the fixed-phase tests and training's evaluations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ember.sims.humanoid.retarget_env import FOOT_SITES, TRACKER_SITES, RetargetVecEnv


def evaluate_tracking(
    env: RetargetVecEnv, act: Any, clip: str, phases: Sequence[int], seconds: float, success_err: float = 0.3
) -> dict[str, Any]:
    """Roll ``act(obs) -> actions`` from each of ``phases`` (one per env) of ``clip`` for ``seconds`` or to the clip's
    end, whichever comes first, without resets. Success: no fall and a mean body error below ``success_err`` [m] at
    every step. Returns the success rate, how rollouts stopped (``fell_rate``: the env ended them on the head's height;
    ``drift_rate``: upright, on the mean body error alone), time survived (mean, and
    per rollout), world and root-relative mean
    per-joint position error (MPJPE over the 15 bodies, mm), head/hands error (mm), jitter (mean body acceleration,
    m/s^2) and foot skating (mean horizontal speed of a foot in ground contact, mm/s)."""
    obs = env.reset_to(clip, phases)
    n, fps = env.num_envs, 30.0
    t = env.tables
    alive, ok, survived = np.ones(n, dtype=bool), np.ones(n, dtype=bool), np.zeros(n)
    fallen, drifted = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    world_err, root_err, key_err, skate, accel = [], [], [], [], []
    prev: dict[str, np.ndarray] = {}
    for _ in range(round(seconds * fps)):
        with torch.no_grad():
            action = act(obs)
        ref = env.frame + 1
        obs, _, terminated, truncated, extras = env.step(action)
        s = env.last_state  # the state the step ended in, before finished rows were reset
        fell = terminated.numpy()
        live = alive & ~fell
        if live.any():
            own_b, ref_b = s["bodies"][live], t.bodies[ref][live]
            world_err.append(np.linalg.norm(own_b - ref_b, axis=-1).mean(1))
            rel = (own_b - s["qpos"][live, None, :3]) - (ref_b - t.qpos[ref][live, None, :3])
            root_err.append(np.linalg.norm(rel, axis=-1).mean(1))
            keys = [s["sites"][live, env._site_ids[k]] - t.sites[k][ref][live] for k in TRACKER_SITES]
            key_err.append(np.linalg.norm(np.stack(keys, 1), axis=-1).mean(1))
            feet = np.stack([s["sites"][:, env._site_ids[k]] for k in FOOT_SITES], 1)
            if prev:
                both = live & prev["live"]
                speed = np.linalg.norm(feet[both, :, :2] - prev["feet"][both, :, :2], axis=-1) * fps
                skate.append(speed[s["contact"][both] & prev["contact"][both]])
                v = (s["bodies"] - prev["bodies"]) * fps
                if "v" in prev:
                    accel.append(np.linalg.norm((v - prev["v"])[both & prev["live_v"]] * fps, axis=-1).ravel())
                prev.update(v=v, live_v=both)
            prev.update(feet=feet, contact=s["contact"], bodies=s["bodies"], live=live)
        stop = alive & fell
        fallen |= stop & extras["head_low"]
        drifted |= stop & ~extras["head_low"]
        ok &= ~(alive & (fell | (extras["body_err"] >= success_err)))
        survived += alive
        alive &= ~(fell | truncated.numpy())
        if not alive.any():
            break

    def mean(rows: list[np.ndarray], scale: float = 1000.0) -> float:
        values = np.concatenate(rows) if rows else np.zeros(0)
        return round(scale * float(values.mean()), 1) if values.size else float("nan")

    return {
        "clip": clip,
        "episodes": n,
        "success_rate": float(ok.mean()),
        "fell_rate": float(fallen.mean()),
        "drift_rate": float(drifted.mean()),
        "mean_survival_s": round(float(survived.mean() / fps), 2),
        "survival_s": [round(float(v) / fps, 2) for v in survived],
        "mpjpe_world_mm": mean(world_err),
        "mpjpe_root_mm": mean(root_err),
        "head_hands_mm": mean(key_err),
        "jitter_m_s2": mean(accel, 1.0),
        "foot_skate_mm_s": mean(skate),
    }


def spread_phases(room: int, n: int) -> list[int]:
    """``n`` start frames spread evenly over the first ``room`` rows of a clip (``tables.start_room``: one cycle of a
    looping clip, else the rows that leave the lookahead and a second) — the fixed-phase evaluations."""
    return np.linspace(0, max(int(room), 1) - 1, n).astype(int).tolist()


def tracking_success(env: RetargetVecEnv, act: Any, seconds: float | None = None) -> float:
    """Mean success rate over the env's unmirrored clips, each from ``env.num_envs`` phases spread over the clip (the
    training evaluation)."""
    seconds = seconds if seconds is not None else getattr(env, "eval_options", {}).get("seconds", 5.0)
    rates = []
    for c, name in enumerate(env.tables.names):
        if "@" in name:
            continue
        phases = spread_phases(env.tables.start_room(c), env.num_envs)
        rates.append(evaluate_tracking(env, act, name, phases, seconds)["success_rate"])
    return float(np.mean(rates))

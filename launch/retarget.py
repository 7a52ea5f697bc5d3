"""``ember run task=retarget input=FILE``: drive the physics character from a recorded head/hands stream with the
tracking policy and write a video of it beside the input markers.

ember run task=retarget input=recording.jsonl                        # the shipped policy, the human character
ember run task=retarget input=recording.csv task.leg_scale=0.7 task.arm_scale=1.3 zero_shot=true
ember run task=retarget input=rec.jsonl tracking_policy=runs/<train run>/artifact

The stream is checked and put on the 30 Hz grid (``sims/humanoid/stream.py``); dropped samples hold the tracker's last
pose. A residual policy corrects the motion-matched pose of its training clips (``policy.base``). The character
starts standing (the walk clip's first pose) under the first head report, facing the head's
heading. At each step the actor sees its own state and the next two reports (the same layout as in training); the run
directory gets ``episode.mp4``, ``trace.jsonl`` (one line a second: errors, head height) and ``metrics.json``
(tracking error of head and hands against the input, when the character fell, if it did). Ctrl-C stops the replay
with one line, exit 130 and the metrics of the frames replayed (``interrupted_at_s``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from rich.console import Console

from ember.launch.rundir import RunDir, VideoWriter
from ember.launch.status import print_error, status_progress


def _start_pose(model: Any, head: np.ndarray, head_quat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ember.sims.humanoid.motion import load_clip
    from ember.sims.humanoid.rotations import quat_mul, quat_yaw, yaw_quat

    qpos = load_clip("walk").qpos[0].copy()
    qpos[3:7] = quat_mul(yaw_quat(quat_yaw(head_quat) - quat_yaw(qpos[3:7])), qpos[3:7])
    qpos[:2] = head[:2]  # refined by the caller once the head site's offset from the root is known
    return qpos, np.zeros(model.nv)


def run(cfg: DictConfig, run_dir: RunDir, console: Console) -> None:
    """Replay ``cfg.input``; Ctrl-C ends it with one line (and the metrics of the frames done, once it is running)."""
    try:
        _run(cfg, run_dir, console)
    except KeyboardInterrupt:
        run_dir.trace({"event": "interrupted"})
        run_dir.close()
        console.print(f"interrupted -> {run_dir.path}", soft_wrap=True)
        sys.exit(130)


def _run(cfg: DictConfig, run_dir: RunDir, console: Console) -> None:
    import mujoco

    from ember.sims.humanoid.character import CONTROL_DECIMATION, load_humanoid
    from ember.sims.humanoid.render import render_frame
    from ember.sims.humanoid.retarget_env import ACTION_SCALE, LOOKAHEAD, TRACKER_SITES, actor_observation
    from ember.sims.humanoid.sparse import hold_last
    from ember.sims.humanoid.stream import StreamError, read_tracker_file
    from ember.skills.humanoid.tracking import SHIPPED, TrackingPolicy, TrackingPolicyError

    if cfg.input is None:
        print_error(console, "task=retarget needs input=FILE (a .jsonl or .csv head/hands recording)")
        sys.exit(2)
    leg, arm = float(cfg.task.leg_scale), float(cfg.task.arm_scale)
    try:
        raw = read_tracker_file(str(cfg.input))
        policy = TrackingPolicy(cfg.tracking_policy or SHIPPED, leg, arm, zero_shot=bool(cfg.zero_shot))
    except (StreamError, TrackingPolicyError) as err:
        run_dir.trace({"event": "error", "type": type(err).__name__, "message": str(err)})
        print_error(console, str(err))
        sys.exit(2)
    signals = hold_last(raw)
    model = load_humanoid(leg, arm, **policy.drive)
    data = mujoco.MjData(model)
    sites = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n) for n in TRACKER_SITES]
    head_body = model.site_bodyid[sites[0]]
    data.qpos[:], data.qvel[:] = _start_pose(model, signals.pos[0, 0], signals.quat[0, 0])
    mujoco.mj_forward(model, data)
    data.qpos[:2] += signals.pos[0, 0, :2] - data.site_xpos[sites[0], :2]  # the head right under the headset
    mujoco.mj_forward(model, data)
    frames = signals.pos.shape[0]
    video = VideoWriter(run_dir.path, fps=30.0) if cfg.video else None
    parents = model.body_parentid[1:] - 1
    errors, fell_at, wall0, interrupted = [], None, time.perf_counter(), False
    progress = status_progress(console, bool(cfg.progress))
    with progress:
        bar = progress.add_task(f"retarget {cfg.input}", total=frames - 1, status="")
        try:
            for f in range(frames - 1):
                ahead = [min(f + k, frames - 1) for k in range(1, LOOKAHEAD + 1)]
                obs = actor_observation(
                    data.qpos[None].copy(),
                    data.qvel[None].copy(),
                    data.site_xpos[sites][None].copy(),
                    signals.pos[ahead][None],
                    signals.quat[ahead[0]][None],
                )
                window = signals.pos[[f, *ahead[:2]]][None]
                base = policy.base(window, signals.quat[ahead[0], 0][None])
                if policy.residual_scale > 0:
                    obs = np.concatenate([obs, base], 1)
                action = policy.targets(torch.as_tensor(obs, dtype=torch.float32), base)[0]
                data.ctrl[:] = action * ACTION_SCALE
                mujoco.mj_step(model, data, nstep=CONTROL_DECIMATION)
                own = data.site_xpos[sites]
                gap = np.linalg.norm(own - signals.pos[f + 1], axis=-1)
                errors.append(gap)
                if fell_at is None and own[0, 2] < 0.6 * signals.pos[f + 1, 0, 2]:
                    fell_at = (f + 1) / 30.0
                    run_dir.trace({"event": "fall", "t": round(fell_at, 3), "head_z": round(float(own[0, 2]), 3)})
                if (f + 1) % 30 == 0:
                    run_dir.trace(
                        {
                            "event": "status",
                            "t": round((f + 1) / 30, 2),
                            "head_hands_err_mm": [round(1000 * float(e), 1) for e in gap],
                            "head_z": round(float(own[0, 2]), 3),
                        }
                    )
                if video is not None:
                    caption = f"t={(f + 1) / 30:5.2f}s  head/hands err {1000 * float(gap.mean()):4.0f} mm"
                    video.add(
                        render_frame(
                            data.xpos[1:].copy(),
                            parents,
                            data.xpos[head_body].copy(),
                            signals.pos[f + 1],
                            raw.valid[f + 1],
                            caption=caption,
                        )
                    )
                progress.update(bar, completed=f + 1, status=f"err {1000 * float(gap.mean()):.0f} mm")
        except KeyboardInterrupt:  # Ctrl-C: keep what was replayed
            interrupted = True
    try:
        video_path = video.close() if video is not None else None
    except Exception:  # Ctrl-C in a terminal stops the ffmpeg child too: its video is lost, the metrics are not
        if not interrupted:
            raise
        video_path = None
    err_all = np.array(errors)
    metrics = {
        "input": str(cfg.input),
        "frames": int(frames),
        "seconds": round((frames - 1) / 30.0, 2),
        "interrupted_at_s": round(len(errors) / 30.0, 2) if interrupted else None,
        "measured_share": round(float(raw.valid.mean()), 3),
        "fell_at_s": fell_at,
        "head_hands_err_mm": round(1000 * float(err_all.mean()), 1) if err_all.size else None,
        "per_tracker_err_mm": [round(1000 * float(v), 1) for v in err_all.mean(0)] if err_all.size else None,
        "leg_scale": leg,
        "arm_scale": arm,
        "policy": str(cfg.tracking_policy or SHIPPED),
        "wall_s": round(time.perf_counter() - wall0, 2),
        "video": video_path.name if video_path else None,
    }
    run_dir.write_json("metrics.json", metrics)
    if interrupted:
        run_dir.trace({"event": "interrupted", "t": metrics["interrupted_at_s"]})
        run_dir.close()
        console.print(
            f"interrupted at {metrics['interrupted_at_s']} s of {metrics['seconds']} s; the metrics cover the frames "
            f"replayed -> {run_dir.path}",
            soft_wrap=True,
        )
        sys.exit(130)
    run_dir.close()
    verdict = "[green]stayed up[/]" if fell_at is None else f"[red]fell at {fell_at:.2f} s[/]"
    console.print(f"{verdict}  head/hands error {metrics['head_hands_err_mm']} mm -> {run_dir.path}", soft_wrap=True)

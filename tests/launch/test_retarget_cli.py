"""``ember run task=retarget input=FILE``: replay a recorded head/hands stream through a tracking policy artifact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mujoco")

from helpers import default_sigint

from ember.sims.humanoid.character import load_humanoid
from ember.sims.humanoid.motion import load_clip
from ember.sims.humanoid.sparse import SparseConfig, sparse_from_clip
from ember.sims.humanoid.stream import write_tracker_jsonl
from ember.skills.humanoid.tracking import TrackingPolicy, TrackingPolicyError, save_tracking_artifact


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained policy's artifact: the plumbing, not the skill (the shipped policy is tested on its own)."""
    from ember.launch.train import build_algo
    from ember.sims.humanoid.retarget_env import RetargetVecEnv

    env = RetargetVecEnv(num_envs=1, clips=["walk"], mirror=False)
    algo = build_algo({"name": "ppo", "hidden": [32, 32], "init_std": 0.2}, env, 0)
    folder = tmp_path_factory.mktemp("artifact")
    return save_tracking_artifact(algo, 123, folder, {"leg_scale": 1.0, "arm_scale": 1.0})


@pytest.fixture(scope="module")
def residual_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained residual policy's artifact (it corrects the motion-matched pose of the walk clip)."""
    from ember.launch.train import build_algo
    from ember.sims.humanoid.retarget_env import RetargetVecEnv

    env = RetargetVecEnv(num_envs=1, clips=["walk"], mirror=False, residual_scale=0.5)
    algo = build_algo({"name": "ppo", "hidden": [32, 32], "init_std": 0.2}, env, 0)
    folder = tmp_path_factory.mktemp("residual")
    meta = {"leg_scale": 1.0, "arm_scale": 1.0, "residual_scale": 0.5, "clips": ["walk"], "mirror": True}
    return save_tracking_artifact(algo, 151, folder, meta)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ember.launch.cli", "run", "task=retarget", "progress=false", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_replay_writes_video_and_metrics(artifact: Path, tmp_path: Path) -> None:
    signals = sparse_from_clip(load_clip("walk"), load_humanoid(), SparseConfig(noise_pos_m=0.005, dropout=0.1))
    stream = write_tracker_jsonl(signals, tmp_path / "walk.jsonl")
    proc = run(f"input={stream}", f"tracking_policy={artifact}", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["frames"] == signals.pos.shape[0] and 0.8 < metrics["measured_share"] < 1.0
    assert metrics["head_hands_err_mm"] > 0 and (tmp_path / "run" / metrics["video"]).stat().st_size > 1000


def test_a_residual_policy_replays_and_acts_as_its_env_does(residual_artifact: Path, tmp_path: Path) -> None:
    import numpy as np
    import torch

    from ember.sims.humanoid.retarget_env import RetargetVecEnv

    policy = TrackingPolicy(residual_artifact)
    kwargs = policy.env_kwargs()
    drive = {"joint_damping": 0.1, "armature": 0.0}  # the default drive, which the artifact does not record
    assert kwargs == {**drive, "residual_scale": 0.5, "match_clips": ["walk"], "match_mirror": True}
    env = RetargetVecEnv(num_envs=2, clips=["walk"], mirror=False, seed=4, **kwargs)
    obs, _ = env.reset(seed=4)
    t, f = env.tables, env.frame
    window = np.stack([t.sites[n][f[:, None] + np.arange(3)] for n in ("head", "left_hand", "right_hand")], 2)
    base = policy.base(window, t.tracker_quat[f + 1, 0])
    np.testing.assert_allclose(base, env.base, atol=1e-9)  # the live base is the env's
    targets = policy.targets(obs["policy"], base)
    np.testing.assert_allclose(targets, np.clip(base + 0.5 * policy.act(obs).numpy(), -2, 2), atol=1e-6)
    env.step(policy.act(obs))
    assert torch.isfinite(torch.as_tensor(env.last_state["qpos"])).all()
    signals = sparse_from_clip(load_clip("walk"), load_humanoid(), SparseConfig(noise_pos_m=0.005, dropout=0.1))
    stream = write_tracker_jsonl(signals, tmp_path / "walk.jsonl")
    proc = run(f"input={stream}", f"tracking_policy={residual_artifact}", "video=false", f"hydra.run.dir={tmp_path}/r")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["head_hands_err_mm"] > 0


def test_bad_inputs_exit_2_naming_the_problem(artifact: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"t": 0.1}\n{"t": 0.0}\n')
    proc = run(f"input={tmp_path / 'bad.jsonl'}", f"tracking_policy={artifact}", f"hydra.run.dir={tmp_path / 'r1'}")
    assert proc.returncode == 2 and "timestamps must increase" in proc.stderr
    proc = run(f"tracking_policy={artifact}", f"hydra.run.dir={tmp_path / 'r2'}")
    assert proc.returncode == 2 and "needs input=FILE" in proc.stderr


def test_out_of_range_scales_and_unusable_streams_exit_2_without_a_traceback(artifact: Path, tmp_path: Path) -> None:
    """Each of these ended in a traceback (the character's own scale check, an OverflowError on a 400-digit t) or ran
    a stream shorter than a frame to "frames: 1" with no video before."""
    signals = sparse_from_clip(load_clip("walk"), load_humanoid(), SparseConfig())
    stream = write_tracker_jsonl(signals, tmp_path / "walk.jsonl")
    lines = stream.read_text().splitlines()
    (tmp_path / "close.jsonl").write_text(lines[0] + "\n" + lines[1].replace('"t": 0.033333', '"t": 0.001') + "\n")
    (tmp_path / "huge.jsonl").write_text("\n".join([lines[0].replace('"t": 0.0', '"t": 1' + "0" * 400), *lines[1:]]))
    cases = [
        ([f"input={stream}", "task.leg_scale=0.1"], "task.leg_scale=0.1: must be in [0.3, 3.0]"),
        ([f"input={stream}", "task.arm_scale=100", "zero_shot=true"], "task.arm_scale=100.0: must be in [0.3, 3.0]"),
        ([f"input={tmp_path / 'close.jsonl'}"], "it needs at least two samples spanning 0.0667 s (3 frames)"),
        ([f"input={tmp_path / 'huge.jsonl'}"], "huge.jsonl:1: t=100000000000... (401 digits) is too large"),
        (["input="], "input='' is empty"),
    ]
    for i, (args, needle) in enumerate(cases):
        proc = run(*args, f"tracking_policy={artifact}", f"hydra.run.dir={tmp_path / f'r{i}'}")
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr and not (tmp_path / f"r{i}" / "metrics.json").exists()


def test_ctrl_c_prints_one_line_and_writes_the_metrics_of_what_was_replayed(artifact: Path, tmp_path: Path) -> None:
    import os
    import signal
    import time

    still = {"pos": [0.0, 0.0, 1.5], "quat": [1.0, 0.0, 0.0, 0.0]}
    hand = {"pos": [0.2, 0.3, 1.0], "quat": [1.0, 0.0, 0.0, 0.0]}
    records = [{"t": i / 30, "head": still, "left_hand": hand, "right_hand": hand} for i in range(36000)]
    (tmp_path / "long.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))  # 20 min: a minute took 1 s
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ember.launch.cli", "run", "task=retarget", "progress=false", "video=false"]
    cmd += [f"input={tmp_path / 'long.jsonl'}", f"tracking_policy={artifact}", f"hydra.run.dir={out}"]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            trace = out / "trace.jsonl"
            if trace.exists() and '"status"' in trace.read_text():  # a second replayed
                break
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("interrupted at "), err[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 1.0 <= metrics["interrupted_at_s"] < metrics["seconds"] and metrics["head_hands_err_mm"] > 0


def test_policy_of_another_morphology_is_refused_unless_zero_shot(artifact: Path) -> None:
    with pytest.raises(TrackingPolicyError, match="zero_shot=True"):
        TrackingPolicy(artifact, leg_scale=0.7, arm_scale=1.3)
    policy = TrackingPolicy(artifact, leg_scale=0.7, arm_scale=1.3, zero_shot=True)
    assert policy.act(__import__("numpy").zeros((2, 123))).shape == (2, 28)
    with pytest.raises(TrackingPolicyError, match=r"observation must be \(N, 123\)"):
        policy.act(__import__("numpy").zeros((2, 100)))


def test_fine_tuning_starts_from_another_run(tmp_path: Path) -> None:
    """The second morphology is fine-tuned from the human policy's checkpoint (init_from); a network of another size is
    refused with the field named. The human run trains with the virtual assistant fading out."""

    def train(run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["algo=ppo", "algo.hidden=[32,32]", "total_steps=1024", "eval_every_steps=1024", "task.eval_envs=2"]
        args += ["task.eval_seconds=0.3", "task.clips=[walk]", "task.num_envs=4", "progress=false"]
        return subprocess.run(
            [sys.executable, "-m", "ember.launch.cli", "train", "task=retarget", *args, *extra, f"hydra.run.dir={run}"],
            capture_output=True,
            text=True,
            timeout=300,
        )

    human = train(tmp_path / "human", "task.assist_steps=2048")  # an assisted run; its evaluation is unaided
    assert human.returncode == 0, human.stderr[-2000:]
    last = tmp_path / "human" / "checkpoints" / "last.pt"  # a checkpoint file; a run directory gives its best.pt
    tuned = train(tmp_path / "tuned", "task.leg_scale=0.7", "task.arm_scale=1.3", f"init_from={last}")
    assert tuned.returncode == 0, tuned.stderr[-2000:]
    meta = json.loads((tmp_path / "tuned" / "artifact" / "meta.json").read_text())
    assert meta["leg_scale"] == 0.7 and "init_from=" in meta["train_command"]
    TrackingPolicy(tmp_path / "tuned" / "artifact", leg_scale=0.7, arm_scale=1.3)  # fits its own character
    bad = train(tmp_path / "bad", "algo.hidden=[16]", f"init_from={tmp_path / 'human'}")
    assert bad.returncode == 2 and "do not fit" in bad.stderr


def test_dagger_trains_from_the_mpc_teacher_and_resumes(tmp_path: Path) -> None:
    """``ember train task=retarget algo=dagger``: labels are env steps; ``resume=`` goes on to a larger total; the
    artifact is a tracking policy whose command chain is recorded; the second morphology starts from it
    (``init_from=``) and gets its own character's artifact."""
    small = ["algo=dagger", "algo.envs=2", "algo.steps=3", "algo.samples=4", "algo.horizon=3", "algo.epochs=1"]
    small += ["algo.mpc_threads=1", "algo.hidden=[32,32]", "task.clips=[walk]", "task.mirror=false"]
    small += ["task.residual_scale=0.5", "progress=false"]

    def train(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "ember.launch.cli", "train", "task=retarget", *small, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    run_dir = tmp_path / "dagger"
    first = train("total_steps=10", f"hydra.run.dir={run_dir}")  # rounded up to two iterations of 2 x 3
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads((run_dir / "metrics.json").read_text())["labels"] == 12
    more = train("total_steps=18", f"resume={run_dir}", f"hydra.run.dir={tmp_path / 'unused'}")
    assert more.returncode == 0, more.stderr[-2000:]
    meta = json.loads((run_dir / "artifact" / "meta.json").read_text())
    assert meta["env_steps"] == 18 and meta["train_command"].count("ember train") == 2
    assert TrackingPolicy(run_dir / "artifact").residual_scale == 0.5
    morph = tmp_path / "morph"
    tuned = train(
        "task.leg_scale=0.7",
        "task.arm_scale=1.3",
        f"init_from={run_dir}",
        "total_steps=6",
        f"hydra.run.dir={morph}",
        "algo.warm_start=student",  # the teacher searches around the student's action
        "algo.window=1",
    )
    assert tuned.returncode == 0, tuned.stderr[-2000:]
    meta = json.loads((morph / "artifact" / "meta.json").read_text())
    assert meta["leg_scale"] == 0.7 and meta["init_from"].endswith("checkpoint.pt") and meta["env_steps"] == 6
    assert meta["distill"]["warm_start"] == "student" and meta["distill"]["window"] == 1
    TrackingPolicy(morph / "artifact", leg_scale=0.7, arm_scale=1.3)  # fits its own character
    bad = train(f"init_from={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode == 2 and "no artifact/checkpoint.pt there" in bad.stderr
    nothing = train(f"resume={tmp_path / 'bad'}", f"hydra.run.dir={tmp_path / 'unused2'}")
    assert nothing.returncode == 2 and "no artifact/dagger_data.pt" in nothing.stderr
    horizon = train("++algo.clip_horizon={run:24}", f"hydra.run.dir={tmp_path / 'bad2'}")  # run is not trained on
    assert horizon.returncode == 2 and "clip_horizon={'run': 24}: keys must be clips this env tracks" in horizon.stderr


def test_a_policy_carries_its_drive_to_every_env_and_replay_that_uses_it(tmp_path: Path) -> None:
    """A policy trained on a lighter drive (joint damping, armature) records it; TrackingPolicy builds that character
    (model hash, env arguments, the live replay's model) and refuses a meta.json whose drive is not a character."""
    from ember.launch.train import build_algo
    from ember.sims.humanoid.character import humanoid_mjcf, model_hash
    from ember.sims.humanoid.retarget_env import RetargetVecEnv

    drive = {"joint_damping": 0.025, "armature": 0.01}
    env = RetargetVecEnv(num_envs=1, clips=["walk"], mirror=False, **drive)
    assert env.model.dof_armature[6:] == pytest.approx(0.01)
    algo = build_algo({"name": "ppo", "hidden": [32, 32], "init_std": 0.2}, env, 0)
    folder = save_tracking_artifact(algo, 123, tmp_path / "light", {"leg_scale": 1.0, "arm_scale": 1.0, **drive})
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_hash"] == model_hash(humanoid_mjcf(1.0, 1.0, 0.025, 0.01)) != model_hash(humanoid_mjcf())
    policy = TrackingPolicy(folder)
    assert policy.drive == drive and policy.env_kwargs() == drive
    assert RetargetVecEnv(num_envs=1, clips=["walk"], **policy.env_kwargs()).model.dof_damping[6] == pytest.approx(25)
    signals = sparse_from_clip(load_clip("walk"), load_humanoid(), SparseConfig())
    stream = write_tracker_jsonl(signals, tmp_path / "walk.jsonl")
    proc = run(f"input={stream}", f"tracking_policy={folder}", "video=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for bad in ("lots", 7):
        (folder / "meta.json").write_text(json.dumps({**meta, "joint_damping": bad}))
        with pytest.raises(TrackingPolicyError, match=r"joint_damping .* do not describe a character"):
            TrackingPolicy(folder)

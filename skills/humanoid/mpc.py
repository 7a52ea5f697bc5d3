"""A sampling MPC that tracks the reference with MuJoCo as its own model (predictive sampling, as in MuJoCo MPC:
Howell et al. 2022), and DAgger distillation of it into a sparse-input tracking policy (Ross et al. 2011).

The MPC is privileged — it reads the simulator state and the reference's coming frames — so it is a teacher, not a
live controller. Each control step it perturbs its plan (PD-target offsets from the reference's angles at
``knots`` points over ``horizon`` control steps, linear in between) ``samples - 1`` times with Gaussian noise, rolls
every candidate out from the env's current state with ``mujoco.rollout``, keeps the cheapest (tracking cost below)
or, with a ``temperature``, their cost-weighted average (MPPI), executes its first step and shifts it by one step.

Cost of a candidate, summed over its control steps: ``10 · (root-relative mean body error)^2 + 3 · (world mean body
error)^2 + 20 · (root height error)^2`` (factors: ``weights``), plus 100 for each step past the env's fall
threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ember.sims.humanoid.character import CONTROL_DECIMATION, JOINT_DAMPING
from ember.sims.humanoid.retarget_env import ACTION_SCALE, FALL_BODY_ERR, RetargetVecEnv

TEACHER_WEIGHTS = (10.0, 10.0, 20.0)
"""DAgger's cost factors: the world body error weighed 10 rather than :class:`SamplingMPC`'s 3 (the students of the
latter drift behind the reference while upright)."""


def _interp_matrix(points: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """``(len(points), len(knots))`` weights of linear interpolation between ``knots`` (clamped at the ends)."""
    return np.stack([np.interp(points, knots, unit) for unit in np.eye(len(knots))], 1)


class SamplingMPC:
    """Args:
    env: the env whose characters it controls (its model, reference tables, states and frames).
    samples: candidate plans per control step (the current plan is one of them).
    horizon: control steps each candidate is rolled out for.
    sigma: standard deviation of the plan perturbations [action units: ``ACTION_SCALE`` rad].
    knots: plan knots over the horizon.
    threads: ``mujoco.rollout`` threads.
    weights: the cost's factors on the root-relative body error, the world body error and the root height error.
    clip_horizon: another horizon for the named clips and their variants (run needs a longer look ahead than walk: 24
        steps against 15; ``run`` covers ``run@mirror``).
    temperature: 0 — keep the cheapest candidate (predictive sampling); above 0 — the candidates' average weighted by
        ``exp(-(cost - min) / (temperature * std(cost)))`` (MPPI, Williams et al. 2016): smoother actions, which a
        student imitates more easily.
    seed: seed of the perturbations.
    """

    def __init__(
        self,
        env: RetargetVecEnv,
        samples: int = 64,
        horizon: int = 15,
        sigma: float = 0.1,
        knots: int = 3,
        threads: int = 2,
        temperature: float = 0.0,
        seed: int = 0,
        weights: Sequence[float] = (10.0, 3.0, 20.0),
        clip_horizon: Mapping[str, int] | None = None,
    ) -> None:
        import mujoco
        from mujoco import rollout

        if samples < 2 or horizon < 2 or knots < 2 or sigma <= 0:
            raise ValueError(
                f"samples, horizon and knots must be >= 2 and sigma > 0; got {samples}, {horizon}, {knots}, {sigma}"
            )
        if len(weights) != 3 or min(weights) < 0:
            raise ValueError(f"weights={list(weights)} must be three factors >= 0 (relative, world, height)")
        clip_horizon = dict(clip_horizon or {})
        bases = [name.split("@")[0] for name in env.tables.names]  # "run@mirror", "run@yaw+90": run's horizon
        unknown = sorted(set(clip_horizon) - set(env.tables.names) - set(bases))
        if unknown or min(clip_horizon.values(), default=2) < 2:
            raise ValueError(
                f"clip_horizon={clip_horizon}: keys must be clips this env tracks ({env.tables.names}) and horizons "
                f">= 2{'; unknown: ' + str(unknown) if unknown else ''}"
            )
        self.env, self.samples, self.horizon, self.sigma = env, samples, horizon, sigma
        self._horizons = np.array(
            [clip_horizon.get(n, clip_horizon.get(b, horizon)) for n, b in zip(env.tables.names, bases, strict=True)]
        )
        self.temperature = float(temperature)
        self.weights = tuple(float(w) for w in weights)
        self._mj = mujoco
        self.model = env.model
        self._pool = rollout.Rollout(nthread=threads if threads > 1 else 0)
        self._scratch = [mujoco.MjData(self.model) for _ in range(max(threads, 1))]
        self._spec = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
        self._cspec = int(mujoco.mjtState.mjSTATE_CTRL)
        self._nstate = mujoco.mj_stateSize(self.model, self._spec)
        self._mats = {}  # horizon -> knots-to-steps interpolation (H, K) and the plan's one-step shift (K, K)
        for h in {int(v) for v in self._horizons}:
            at = np.linspace(0, h - 1, knots)
            expand = _interp_matrix(np.arange(h, dtype=float), at)
            self._mats[h] = (expand, _interp_matrix(at + 1, np.arange(h, dtype=float)) @ expand)
        self.plans = np.zeros((env.num_envs, knots, self.model.nu))
        self.rng = np.random.default_rng(seed)

    def reset(self, ids: np.ndarray | None = None) -> None:
        """Forget the plans of envs ``ids`` (all by default): after an env reset."""
        self.plans[slice(None) if ids is None else ids] = 0.0

    def targets(
        self, i: int, prior: np.ndarray | None = None, fresh: bool = False, passes: int = 1, decay: float = 0.7
    ) -> np.ndarray:
        """The PD targets (28, action units) for env ``i``'s coming control step; advances its plan. ``prior``: PD
        targets (28, action units) to search around instead of the plan carried over from the last step — the plan
        becomes their offset from the reference's next frame, held over the horizon. Seeded by a policy's action, the
        result depends on the state and that policy only (no hidden plan), so a student can learn it. ``fresh``:
        search from the reference itself (a zero plan) — the result depends on the state alone. ``passes``: refine
        the plan that many times this step, each pass sampling around the last one's MPPI average with the
        perturbation scaled by ``decay`` (from a fresh plan one pass falls within ~2 s on walk; three keep it up)."""
        env, t = self.env, self.env.tables
        if passes < 1 or not 0 < decay <= 1:
            raise ValueError(f"passes={passes} must be >= 1 and decay={decay} in (0, 1]")
        last = t.start[env.clip[i]] + t.length[env.clip[i]] - 1
        horizon = int(self._horizons[env.clip[i]])
        expand, shift = self._mats[horizon]
        frames = np.minimum(env.frame[i] + 1 + np.arange(horizon), last)
        reference = t.qpos[frames, 7:] / ACTION_SCALE  # (H, nu)
        if fresh:
            self.plans[i] = 0.0
        if prior is not None:
            self.plans[i] = np.clip(prior, -2.0, 2.0) - reference[0]
        chosen = self.plans[i]
        for k in range(passes):
            chosen = self._improve(i, chosen, reference, frames, expand, self.sigma * decay**k)
        self.plans[i] = shift @ chosen
        return np.asarray(np.clip(reference[0] + (expand[0] @ chosen), -2.0, 2.0))

    def _improve(
        self, i: int, plan: np.ndarray, reference: np.ndarray, frames: np.ndarray, expand: np.ndarray, sigma: float
    ) -> np.ndarray:
        """One sampling pass around ``plan`` (knots, nu) for env ``i``: the cheapest candidate or the MPPI average."""
        env, t, mj = self.env, self.env.tables, self._mj
        horizon = len(frames)
        knots = plan[None] + sigma * self.rng.standard_normal((self.samples, *plan.shape))
        knots[0] = plan
        offsets = np.einsum("hk,skn->shn", expand, knots)
        ctrl = np.clip(reference[None] + offsets, -2.0, 2.0) * ACTION_SCALE
        start = np.empty(self._nstate)
        mj.mj_getState(self.model, env.datas[i], start, self._spec)
        _, sensed = self._pool.rollout(
            self.model,
            self._scratch,
            np.tile(start, (self.samples, 1)),
            np.repeat(ctrl, CONTROL_DECIMATION, axis=1),
            control_spec=self._cspec,
            nstep=horizon * CONTROL_DECIMATION,
        )
        cost = self._cost(sensed, t.bodies[frames])
        if self.temperature > 0:
            share = np.exp(-(cost - cost.min()) / (self.temperature * cost.std() + 1e-9))
            return np.asarray(np.einsum("s,skn->kn", share / share.sum(), knots))
        return np.asarray(knots[int(np.argmin(cost))])

    def _cost(self, sensed: np.ndarray, ref: np.ndarray) -> np.ndarray:
        s = sensed[:, CONTROL_DECIMATION - 1 :: CONTROL_DECIMATION, :45]  # bodies at the end of each control step
        bodies = s.reshape(s.shape[0], s.shape[1], 15, 3)
        world = np.linalg.norm(bodies - ref[None], axis=-1).mean(-1)  # (S, H)
        rel = np.linalg.norm((bodies - bodies[:, :, :1]) - (ref - ref[:, :1])[None], axis=-1).mean(-1)
        height = bodies[:, :, 0, 2] - ref[None, :, 0, 2]
        w_rel, w_world, w_height = self.weights
        cost = w_rel * (rel**2).sum(1) + w_world * (world**2).sum(1) + w_height * (height**2).sum(1)
        return np.asarray(cost + 100.0 * (world > FALL_BODY_ERR).sum(1))

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> SamplingMPC:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def distill(
    out: str,
    clips: tuple[str, ...] = ("walk",),
    mirror: bool = False,
    iterations: int = 30,
    envs: int = 8,
    steps: int = 100,
    samples: int = 64,
    horizon: int = 15,
    residual_scale: float = 0.5,
    clip_horizon: Mapping[str, int] | None = None,
    tracker_noise: float = 0.01,
    hidden: tuple[int, ...] = (512, 256),
    epochs: int = 20,
    threads: int = 2,
    temperature: float = 0.3,
    weights: Sequence[float] = TEACHER_WEIGHTS,
    teacher_share: float = 0.25,
    warm_start: str = "plan",
    passes: int = 1,
    window: int = 0,
    seed: int = 0,
    resume: bool = False,
    leg_scale: float = 1.0,
    arm_scale: float = 1.0,
    joint_damping: float = JOINT_DAMPING,
    armature: float = 0.0,
    init_from: str | None = None,
    log: Any = print,
    on_iteration: Any = None,
    command: str = "",
) -> dict[str, Any]:
    """DAgger: in iteration ``k`` the MPC drives a share ``max(0.5^k, teacher_share)`` of the envs, the student (the
    deterministic actor) the others; every visited state is labelled with the MPC's action (MPPI at ``temperature``:
    smoother labels than the single cheapest candidate; ``warm_start``: the MPC searches around its own plan from
    the last step (``"plan"``), around the student's action in that state (``"student"``: labels that depend on the
    state alone, an improvement step on the student) or around the reference (``"fresh"``: labels that depend on the
    state alone, from ``passes`` refinements — three keep walk up where one falls), the student (a PPO actor with
    its observation normalizer, so PPO can go on from it with ``init_from=``) is refit on everything so far, and its
    artifact is written to ``out`` after each iteration (and its figures passed to ``on_iteration``). With
    ``residual_scale`` 0 the student outputs the PD targets themselves. ``resume``: go on from ``out``'s labels and
    student (the iteration count, and so the teacher's share, continues; clips, residual scale and drive must
    match). ``leg_scale``/``arm_scale``/``joint_damping``/``armature``: the character (the teacher plans on its own
    model, so another morphology or drive gets its own labels); ``clip_horizon``: the MPC's horizon for the named
    clips (others: ``horizon``); ``init_from``: a PPO checkpoint file (``<out>/checkpoint.pt`` of another
    distillation) whose student starts this one — fine-tuning the human policy to other proportions. ``window``:
    refit on the labels of the last ``window`` iterations only (0: all, DAgger's aggregation; around the student,
    older labels improve on older students and hold the new one back). Returns the last iteration's figures."""
    import json
    import time
    from pathlib import Path

    import torch

    from ember.skills.humanoid.tracking import save_tracking_artifact
    from ember.skills.learning.networks import GaussianActor
    from ember.skills.learning.ppo import PPO
    from ember.skills.learning.runner import save_checkpoint

    if warm_start not in ("plan", "student", "fresh"):
        raise ValueError(
            f"warm_start={warm_start!r}: choose 'plan' (the MPC's own last plan), 'student' or 'fresh' (the reference)"
        )
    if passes < 1:
        raise ValueError(f"passes={passes} must be >= 1 (MPC refinements per label)")
    if window < 0:
        raise ValueError(f"window={window} must be >= 0 (0: refit on every label so far)")
    torch.manual_seed(seed)
    env = RetargetVecEnv(
        num_envs=envs,
        clips=list(clips),
        mirror=mirror,
        residual_scale=residual_scale,
        tracker_noise=tracker_noise,
        leg_scale=leg_scale,
        arm_scale=arm_scale,
        joint_damping=joint_damping,
        armature=armature,
        seed=seed,
    )
    obs, _ = env.reset(seed=seed)
    policy_dim, critic_dim = obs["policy"].shape[1], obs["critic"].shape[1]
    algo = PPO(  # critic_lr: two optimizer groups, as in the README's PPO command that may go on from it
        policy_dim, critic_dim, env.model.nu, num_envs=envs, hidden=hidden, init_std=0.1, critic_lr=1e-3, seed=seed
    )
    norm, actor = algo.policy_norm, algo.actor
    assert norm is not None and isinstance(actor, GaussianActor)
    optimizer = torch.optim.Adam(actor.mean.parameters(), lr=1e-3)
    data_x: list[torch.Tensor] = []
    data_y: list[torch.Tensor] = []
    first, before, wall = 0, "", 0.0  # iteration, commands and wall time so far
    if init_from is not None and not resume:
        from ember.skills.learning.runner import load_checkpoint

        try:
            algo.load_state_dict({**load_checkpoint(Path(init_from))["algo"], "env_steps": 0})
        except (RuntimeError, KeyError) as err:
            raise ValueError(
                f"init_from={init_from!r}: not a PPO checkpoint of this observation/action layout and hidden sizes "
                f"({str(err).splitlines()[0]}); give <distillation>/checkpoint.pt of a run with the same task settings"
            ) from err
    if resume:
        prior = _resume(
            Path(out),
            algo,
            data_x,
            data_y,
            clips,
            residual_scale,
            (policy_dim, env.model.nu),
            (joint_damping, armature),
        )
        first, before = int(prior["distill"]["iteration"]) + 1, str(prior.get("train_command", ""))
        wall = float(prior["distill"]["wall_s"])
        log(f"resumed from {out}: {sum(len(x) for x in data_x)} labels, iteration {first}")
    figures: dict[str, Any] = {}
    start = time.perf_counter()
    planner = SamplingMPC(
        env,
        samples,
        horizon,
        threads=threads,
        temperature=temperature,
        seed=seed,
        weights=weights,
        clip_horizon=clip_horizon,
    )
    with planner as mpc:
        for it in range(first, first + iterations):
            falls = 0
            taught = torch.arange(envs) < round(envs * max(0.5**it, teacher_share))
            for _ in range(steps):
                base = env.base.copy()  # 0 without a residual
                with torch.no_grad():
                    action = actor(norm(obs["policy"]))
                seeds: list[np.ndarray | None] = [None] * envs  # the MPC's own carried plans
                if warm_start == "student":  # the student's PD targets
                    seeds = list(np.clip(base + (residual_scale or 1.0) * action.numpy(), -2.0, 2.0))
                fresh = warm_start == "fresh"
                teacher = np.stack([mpc.targets(i, seeds[i], fresh, passes) for i in range(envs)])
                label = np.clip((teacher - base) / (residual_scale or 1.0), -2.0, 2.0)
                data_x.append(obs["policy"].clone())
                data_y.append(torch.as_tensor(label, dtype=torch.float32))
                action[taught] = torch.as_tensor(label, dtype=torch.float32)[taught]
                obs, _, terminated, truncated, _ = env.step(action)
                done = (terminated | truncated).numpy()
                falls += int(terminated[~taught].sum())
                if done.any():
                    mpc.reset(np.flatnonzero(done))
            x, y = torch.cat(data_x), torch.cat(data_y)
            fit_x, fit_y = (x[-window * envs * steps :], y[-window * envs * steps :]) if window else (x, y)
            norm.mean, norm.var = fit_x.mean(0), fit_x.var(0, unbiased=False)
            norm.count = torch.tensor(float(len(fit_x)))
            xn = norm(fit_x)
            loss = torch.zeros(())
            for _ in range(epochs):
                for idx in torch.randperm(len(fit_x)).split(256):
                    loss = (actor.mean(xn[idx]) - fit_y[idx]).pow(2).mean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            figures = {
                "iteration": it,
                "labels": len(x),
                "student_falls_per_step": round(falls / max(steps * int((~taught).sum()), 1), 4),
                "teacher_envs": int(taught.sum()),
                "fit_mse": round(float(loss.detach()), 4),
                "wall_s": round(wall + time.perf_counter() - start, 1),  # all sessions of this folder
            }
            log(json.dumps(figures))
            if on_iteration is not None:
                on_iteration(figures)
            meta = {
                "train_command": " && ".join(filter(None, [before, command or "ember.skills.humanoid.mpc.distill"])),
                "method": "DAgger from a sampling MPC (skills/humanoid/mpc.py)",
                "clips": list(clips),
                "mirror": mirror,
                "leg_scale": leg_scale,
                "arm_scale": arm_scale,
                "joint_damping": joint_damping,
                "armature": armature,
                "residual_scale": residual_scale,
                **({"init_from": str(init_from)} if init_from else {}),
                "distill": {
                    **figures,
                    **{"samples": samples, "horizon": horizon, "temperature": temperature, "envs": envs},
                    "warm_start": warm_start,
                    "passes": passes,
                    "clip_horizon": dict(clip_horizon or {}),
                    "window": window,
                    "weights": list(weights),
                    "steps": steps,
                },
                "env_steps": len(x),
                "wall_s": figures["wall_s"],
            }
            save_tracking_artifact(algo, policy_dim, Path(out), meta)
            save_checkpoint(Path(out) / "dagger_data.pt", {"x": x, "y": y})  # atomic writes: a crash corrupts neither
            # a checkpoint PPO can start from: ember train task=retarget init_from=<out>/checkpoint.pt ...
            save_checkpoint(Path(out) / "checkpoint.pt", {"algo": algo.state_dict()})
    return figures


def _resume(
    out: Any,
    algo: Any,
    data_x: list[Any],
    data_y: list[Any],
    clips: tuple[str, ...],
    residual_scale: float,
    dims: tuple[int, int],
    drive: tuple[float, float] = (JOINT_DAMPING, 0.0),
) -> dict[str, Any]:
    """Load ``out``'s DAgger labels into ``data_x``/``data_y`` and its student into ``algo``; returns its meta."""
    import json

    from ember.skills.learning.runner import load_checkpoint

    paths = [out / "meta.json", out / "dagger_data.pt", out / "checkpoint.pt"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"resume: {', '.join(missing)} not found; run without --resume to start {out}")
    meta = json.loads(paths[0].read_text())
    for field, have, want in (
        ("clips", list(clips), meta.get("clips")),
        ("residual_scale", residual_scale, meta.get("residual_scale")),
        ("joint_damping", drive[0], meta.get("joint_damping", JOINT_DAMPING)),
        ("armature", drive[1], meta.get("armature", 0.0)),
    ):
        if have != want:
            raise ValueError(f"resume: {field}={have!r} but {out} was distilled with {want!r}; pass the same {field}")
    data = load_checkpoint(paths[1])
    x, y = data["x"], data["y"]
    if x.ndim != 2 or y.ndim != 2 or (x.shape[1], y.shape[1]) != dims or len(x) != len(y):
        raise ValueError(
            f"resume: {paths[1]} holds labels of shape {tuple(x.shape)} -> {tuple(y.shape)}, this env needs "
            f"(N, {dims[0]}) -> (N, {dims[1]}); start a new folder"
        )
    algo.load_state_dict(load_checkpoint(paths[2])["algo"])
    data_x.append(x)
    data_y.append(y)
    return dict(meta)


if __name__ == "__main__":
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="DAgger from the sampling MPC into a sparse-input tracking policy")
    parser.add_argument("--out", required=True, help="artifact folder to write")
    parser.add_argument("--clips", nargs="+", default=["walk"])
    parser.add_argument("--mirror", action="store_true")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=15)
    parser.add_argument("--clip-horizon", nargs="*", default=[], metavar="CLIP=STEPS", help="e.g. run=24")
    parser.add_argument("--temperature", type=float, default=0.3)
    parser.add_argument("--weights", type=float, nargs=3, default=list(TEACHER_WEIGHTS), help="the MPC's cost factors")
    parser.add_argument("--warm-start", choices=["plan", "student", "fresh"], default="plan", help="MPC seed")
    parser.add_argument("--passes", type=int, default=1, help="MPC refinements per label")
    parser.add_argument("--window", type=int, default=0, help="refit on the last N iterations' labels (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="go on from --out's labels and student")
    a = parser.parse_args()
    distill(
        a.out,
        tuple(a.clips),
        a.mirror,
        a.iterations,
        a.envs,
        a.steps,
        a.samples,
        a.horizon,
        clip_horizon={k: int(v) for k, v in (item.split("=", 1) for item in a.clip_horizon)},
        temperature=a.temperature,
        weights=tuple(a.weights),
        warm_start=a.warm_start,
        passes=a.passes,
        window=a.window,
        seed=a.seed,
        resume=a.resume,
        command="python -m ember.skills.humanoid.mpc " + " ".join(sys.argv[1:]),
    )

"""``ember train``: train an asymmetric actor-critic policy on a batched env; checkpoints, TensorBoard, export.

ember train                                   # SAC on the batched torch pendulum until mean return >= -200
ember train algo=ppo task.num_envs=64
ember train resume=runs/train_..._seed0        # continue a killed run from its last checkpoint
ember train policy=beso task=tabletop_push_obstacle   # diffusion policy from (recorded) demonstrations
ember train task=overcooked_selfplay algo=ppo         # an Overcooked partner by PPO self-play (Discrete actions)
ember train pipeline=retarget                         # the shipped retargeting policy's three stages, one command
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from ember.launch.bounds import ConfigBoundsError, check_bounds
from ember.launch.config import register
from ember.launch.status import print_error, status_progress
from ember.launch.warmstart import TrainConfigError, check_resume, init_weights
from ember.sims import ENVS, make_env
from ember.sims.atomic import atomic_write_json, atomic_write_text
from ember.skills.learning import distributed
from ember.skills.learning.build import build_algo, cpu_threads
from ember.skills.learning.export import export_policy, save_skill_artifact
from ember.skills.learning.runner import load_checkpoint, train

log = logging.getLogger("ember.train")
register()


def success_rate(algo: Any, env: Any, seed: int = 5) -> float:
    """Fraction of ``env``'s envs whose first episode ends in success (terminated with the success bonus)."""
    obs, _ = env.reset(seed=seed)
    done = torch.zeros(env.num_envs, dtype=torch.bool)
    ok = torch.zeros(env.num_envs, dtype=torch.bool)
    for _ in range(env.max_episode_length):
        obs, reward, terminated, truncated, _ = env.step(algo.act(obs, deterministic=True))
        ok |= terminated & ~done & (reward > 0)
        done |= terminated | truncated
        if done.all():
            break
    return float(ok.float().mean())


def task_eval_fn(name: str, eval_env: Any) -> Any:
    """A task's own success criterion as the evaluation, where it has one (else the mean return)."""
    if name == "quadrotor_hover":
        from ember.sims.torch_envs.quadrotor import hover_success

        return lambda algo: hover_success(eval_env, lambda obs: algo.act(obs, deterministic=True))
    if name == "tabletop_push":
        return lambda algo: success_rate(algo, eval_env)
    if name == "retarget":
        from ember.sims.humanoid.evaluation import tracking_success

        return lambda algo: tracking_success(eval_env, lambda obs: algo.act(obs, deterministic=True))
    if name == "overcooked_selfplay":
        from ember.sims.overcooked.vec_env import soups_per_episode

        return lambda algo: soups_per_episode(eval_env, algo.act)  # sampled, as the partner plays
    if name == "hoi":
        envs = eval_env.per_task  # set by hoi_task

        def hoi_eval(algo: Any) -> float:
            per_task = {task: round(hoi_completion(algo, env), 4) for task, env in envs.items()}
            log.info("hoi evaluation at %d env steps: %s", algo.env_steps, json.dumps(per_task))
            return float(sum(per_task.values()) / len(per_task))

        return hoi_eval
    return None


def hoi_task(task: dict[str, Any], eval_envs: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Training and evaluation arguments of ``hoi``: stages from the template planner; evaluation episodes end when
    their last stage completes; with ``residual_scale`` > 0 the scripted controller is the residual's base."""
    from ember.planners.hoi.template import template_plans

    task = {k: v for k, v in task.items() if k not in ("scene", "controller", "artifact", "max_seconds")}  # run's
    task = {**task, "plans": template_plans}
    if float(task.get("residual_scale", 0.0)) > 0.0:
        from ember.skills.hoi.scripted import ScriptedStageController

        task["base_controller"] = ScriptedStageController
    evaluation = {**task, "end_on_success": True, "num_envs": eval_envs, "task_sampling": "uniform"}
    return task, evaluation


def hoi_meta(task: dict[str, Any]) -> dict[str, Any]:
    """What an ``hoi`` artifact's meta.json records of its env beyond the sizes: the tasks and the residual mode
    (``PolicyStageController`` runs the scripted base under a residual policy)."""
    scale = float(task.get("residual_scale", 0.0))
    base = {"base": "scripted"} if scale else {}
    return {"task": "hoi", "tasks": list(task["tasks"]), "residual_scale": scale, **base}


def hoi_completion(algo: Any, env: Any, seed: int = 5) -> float:
    """Full-task completion of the deterministic policy: the share of ``env``'s envs whose first episode completes
    every stage."""
    obs, _ = env.reset(seed=seed)
    done = torch.zeros(env.num_envs, dtype=torch.bool)
    ok = torch.zeros(env.num_envs, dtype=torch.bool)
    for _ in range(env.max_episode_length):
        obs, _, terminated, truncated, extras = env.step(algo.act(obs, deterministic=True))
        ok |= extras["success"] & ~done
        done |= terminated | truncated
        if done.all():
            break
    return float(ok.float().mean())


def _start_runners(cfg: DictConfig, name: str, task: dict[str, Any], algo_cfg: dict[str, Any], console: Console) -> Any:
    from ember.skills.learning.runners import RunnerGroup, RunnerSpec

    if cfg.num_workers < 1:
        raise TrainConfigError(f"num_workers={cfg.num_workers} must be >= 1 with distributed={cfg.distributed}")
    if cfg.distributed == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise TrainConfigError("distributed=ray needs Ray: pip install 'ember[ray]'")
    steps = int(algo_cfg.get("num_steps", 32)) if algo_cfg["name"] == "ppo" else int(cfg.rollout_steps)
    spec = RunnerSpec(name, dict(task), dict(algo_cfg), int(cfg.seed), steps, int(cfg.threads))
    with console.status(f"starting {cfg.num_workers} env runners ({cfg.distributed})"):
        group = RunnerGroup(
            spec,
            int(cfg.num_workers),
            backend=str(cfg.distributed),
            address=cfg.address,
            worker_cpus=float(cfg.worker_cpus),
            restart_timeout_s=float(cfg.restart_timeout_s),
        )
    log.info("%d env runners up in %.1f s (Ray start %.1f s)", cfg.num_workers, group.start_s, group.ray_init_s)
    return group


def overcooked_task(task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Training and evaluation arguments of ``overcooked_selfplay``: a named partner becomes a factory, and the
    evaluation counts soups only (no shaping)."""
    if task.get("partner", "self") != "self":
        from ember.skills.overcooked.partners import partner_factory

        task = {**task, "partner": partner_factory(str(task["partner"]), str(task.get("layout", "cramped_room")))}
    return task, {**task, "shaping_steps": 0}


SKILL_ARTIFACTS = {"tabletop_push": {"task": "push", "control": "ee_delta", "ee_step": 0.02}}
"""Tasks whose policies become skills: their runs also write ``artifact/`` (see ``ember.skills.learned``)."""


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    console = Console(stderr=True)
    try:
        check_bounds(cfg)
    except ConfigBoundsError as err:
        _fail(console, str(err))
    run_dir = Path(cfg.resume) if cfg.resume else Path(HydraConfig.get().runtime.output_dir)
    if cfg.get("pipeline") is not None or (cfg.resume and (run_dir / "pipeline.json").is_file()):
        from ember.launch import pipeline

        try:
            given = HydraConfig.get().overrides
            search = [o for o in given.hydra if o.startswith("hydra.searchpath=")]  # stages find the user's configs
            code = pipeline.run(cfg, [*given.task, *search], run_dir, console)
        except TrainConfigError as err:
            _fail(console, str(err))
        if code:
            sys.exit(code)
        return
    if distributed.init():  # torchrun: every rank uses rank 0's run directory; only rank 0 writes to it
        run_dir = _shared_run_dir(run_dir)
    lead = distributed.rank() == 0
    try:
        _main(cfg, run_dir, console, lead)
    finally:
        distributed.shutdown()


def _dagger(cfg: DictConfig, run_dir: Path, console: Console) -> None:
    """``algo=dagger``: distil the sampling MPC into a tracking policy (``skills/humanoid/mpc.py``); the run's
    ``artifact/`` holds the policy, its labels and a PPO checkpoint (``init_from=<run>/artifact/checkpoint.pt``).
    ``resume=<run>`` goes on from its labels until ``total_steps`` labels."""

    from ember.skills.humanoid.mpc import distill

    task: dict[str, Any] = OmegaConf.to_container(cfg.task, resolve=True)  # type: ignore[assignment]
    a: dict[str, Any] = OmegaConf.to_container(cfg.algo, resolve=True)  # type: ignore[assignment]
    if task["name"] != "retarget":
        _fail(console, f"algo=dagger distils the humanoid MPC teacher; task={task['name']!r} must be task=retarget")
    if task.get("clip_weights") is not None:
        _fail(console, "task.clip_weights: algo=dagger draws clips uniformly; leave it null (it is for algo=ppo|sac)")
    if task.get("adaptive_starts"):
        _fail(console, "task.adaptive_starts: algo=dagger draws starts uniformly; leave it 0 (it is for algo=ppo|sac)")
    init_from = None
    if cfg.init_from and not cfg.resume:  # another distillation's run (its artifact/checkpoint.pt) or that file
        given = Path(cfg.init_from)
        init_from = given if given.is_file() else given / "artifact" / "checkpoint.pt"
        if not init_from.is_file():
            _fail(console, f"init_from={cfg.init_from!r}: no artifact/checkpoint.pt there; give an algo=dagger run")
    for key in ("envs", "steps", "samples", "horizon", "epochs", "mpc_threads"):
        if int(a[key]) < 1:
            _fail(console, f"algo.{key}={a[key]} must be a positive integer")
    out = run_dir / "artifact"
    done = 0
    if cfg.resume:
        meta_path = out / "meta.json"
        if not (out / "dagger_data.pt").is_file() or not meta_path.is_file():
            _fail(console, f"resume={cfg.resume!r}: no artifact/dagger_data.pt there; give an `algo=dagger` run")
        done = int(json.loads(meta_path.read_text()).get("env_steps", 0))
    per_iteration = int(a["envs"]) * int(a["steps"])
    iterations = math.ceil(max(int(cfg.total_steps) - done, 0) / per_iteration)
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    overrides = " ".join(HydraConfig.get().overrides.task)
    progress = status_progress(console, bool(cfg.progress))
    with progress:
        bar = progress.add_task("dagger on retarget", total=int(cfg.total_steps), completed=done, status="")

        def on_iteration(f: dict[str, Any]) -> None:
            status = f"student falls {f['student_falls_per_step']:.3f}/step  fit {f['fit_mse']:.4f}"
            progress.update(bar, completed=f["labels"], status=status)

        try:
            figures = distill(
                str(out),
                tuple(task["clips"]),
                bool(task["mirror"]),
                iterations,
                int(a["envs"]),
                int(a["steps"]),
                int(a["samples"]),
                int(a["horizon"]),
                residual_scale=float(task["residual_scale"]),
                clip_horizon={str(k): int(v) for k, v in a["clip_horizon"].items()},
                tracker_noise=float(task["tracker_noise"]),
                hidden=tuple(int(h) for h in a["hidden"]),
                epochs=int(a["epochs"]),
                threads=int(a["mpc_threads"]),
                temperature=float(a["temperature"]),
                weights=[float(w) for w in a["weights"]],  # checked by SamplingMPC
                teacher_share=float(a["teacher_share"]),
                warm_start=str(a["warm_start"]),
                passes=int(a["passes"]),
                window=int(a["window"]),
                seed=int(cfg.seed),
                resume=bool(cfg.resume),
                leg_scale=float(task["leg_scale"]),
                arm_scale=float(task["arm_scale"]),
                joint_damping=float(task["joint_damping"]),
                armature=float(task["armature"]),
                init_from=str(init_from) if init_from else None,
                log=log.info,
                on_iteration=on_iteration,
                command="ember train " + overrides,
            )
        except (ValueError, FileNotFoundError, RuntimeError) as err:
            _fail(console, str(err))
    metrics = {"task": "retarget", "algo": "dagger", **figures}
    atomic_write_json(run_dir / "metrics.json", metrics, indent=2)
    console.print(json.dumps(metrics), soft_wrap=True)


def _shared_run_dir(own: Path) -> Path:
    import shutil

    import torch.distributed as dist

    shared = [str(own)]
    dist.broadcast_object_list(shared, src=0)
    lead_dir = Path(shared[0])
    if (
        own.resolve() != lead_dir.resolve()
        and own.is_dir()
        and {p.name for p in own.iterdir()} <= {".hydra", "train.log"}
    ):
        shutil.rmtree(own)  # Hydra made one per rank when the ranks' clocks straddled a second
    return lead_dir


def _fail(console: Console, message: str) -> NoReturn:
    """A bad config: exit 2 with the message, or, in a sweep (``-m``), fail this job only (the sweep's table lists
    it as failed with the message, and the other jobs go on)."""
    print_error(console, message)
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        raise TrainConfigError(message) from None  # the message says it all; no chained traceback
    sys.exit(2)


def _main(cfg: DictConfig, run_dir: Path, console: Console, lead: bool) -> None:
    if cfg.max_wall_s and (cfg.algo.name == "dagger" or cfg.get("policy") is not None):
        what = "algo=dagger" if cfg.get("policy") is None else f"policy={cfg.policy.kind}"
        _fail(console, f"max_wall_s={cfg.max_wall_s}: {what} has no wall-clock budget; size it with total_steps")
    if cfg.algo.name == "dagger":
        _dagger(cfg, run_dir, console)
        return
    if cfg.resume and not (run_dir / "checkpoints" / "last.pt").is_file():
        _fail(
            console,
            f"resume={cfg.resume!r}: no checkpoints/last.pt there; give the run directory of an earlier `ember train`",
        )
    for key in ("total_steps", "eval_every_steps", "threads"):
        if int(cfg[key]) < 1:
            _fail(console, f"{key}={cfg[key]} must be a positive integer")
    cpu_threads(int(cfg.threads))
    if cfg.get("policy") is not None:  # policy=beso|bc: imitation from demonstrations
        from ember.launch.imitation import run

        run(cfg, run_dir, console)
        return
    task: dict[str, Any] = OmegaConf.to_container(cfg.task, resolve=True)  # type: ignore[assignment]
    algo_cfg: dict[str, Any] = OmegaConf.to_container(cfg.algo, resolve=True)  # type: ignore[assignment]
    name = task.pop("name")
    if name not in ENVS:
        _fail(console, f"task.name={name!r} is unknown; choose one of {sorted(ENVS)}")
    eval_target, eval_envs = task.pop("eval_target", None), task.pop("eval_envs", 16)
    eval_extra = {"seconds": task.pop("eval_seconds")} if "eval_seconds" in task else {}
    runners = None
    try:
        if cfg.distributed not in ("none", "ray", "local"):
            raise TrainConfigError(f"distributed={cfg.distributed!r} is unknown; choose none, ray or local")
        if cfg.distributed != "none" and distributed.active():
            raise TrainConfigError(
                f"distributed={cfg.distributed} under torchrun: use one of them (env runners or data-parallel ranks)"
            )
        eval_task = dict(task)
        if name == "overcooked_selfplay":
            task, eval_task = overcooked_task(task)
        if name == "hoi":
            task, eval_task = hoi_task(task, eval_envs)
        if name == "retarget" and task.get("assist_steps"):
            eval_task["assist_start"] = 0.0  # evaluations measure the character unaided
        seed = cfg.seed + 1000 * distributed.rank()
        eval_env = make_env(name, **{**eval_task, "num_envs": eval_envs, "seed": cfg.seed + 10_000})
        eval_env.eval_options = eval_extra
        if name == "hoi":  # one evaluation env per task, so each task counts alike
            eval_env.per_task = {
                t: make_env(name, **{**eval_task, "tasks": [t], "seed": cfg.seed + 10_000}) for t in task["tasks"]
            }
        if cfg.distributed == "none":
            env = make_env(name, seed=seed, **task)
            algo = build_algo(dict(algo_cfg), env, cfg.seed)
        else:  # the learner needs no env of its own: sizes come from the evaluation env
            env = eval_env
            algo = build_algo(dict(algo_cfg), eval_env, cfg.seed)
            runners = _start_runners(cfg, name, task, algo_cfg, console)
        if cfg.init_from and not cfg.resume:
            init_weights(algo, Path(cfg.init_from), algo_cfg.get("finetune_std"))
        if cfg.resume:
            check_resume(cfg, run_dir, algo)
    except (TypeError, ValueError, RuntimeError) as err:
        if runners is not None:
            runners.close()
        _fail(console, str(err))
    if lead:
        atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tensorboard")) if lead else None
    progress = status_progress(console, bool(cfg.progress) and lead)
    try:
        with progress:
            bar = progress.add_task(f"{algo_cfg['name']} on {name}", total=cfg.total_steps, status="")

            def on_progress(p: dict[str, Any]) -> None:
                progress.update(
                    bar,
                    completed=p["env_steps"],
                    status=(f"return {p['eval']:.1f} (best {p['best']:.1f})  {p['steps_per_s']:.0f} steps/s"),
                )

            result = train(
                algo,
                env if runners is None else None,  # type: ignore[arg-type]
                eval_env,
                cfg.total_steps,
                run_dir=run_dir,
                eval_every_steps=cfg.eval_every_steps,
                eval_target=eval_target,
                stop_at_target=cfg.stop_at_target,
                max_wall_s=float(cfg.max_wall_s),
                resume=bool(cfg.resume),
                seed=cfg.seed,
                on_progress=on_progress,
                on_log=writer.add_scalar if writer is not None else None,
                eval_fn=task_eval_fn(name, eval_env),
                runners=runners,
            )
    finally:
        if runners is not None:
            runners.close()
    if writer is None:
        return
    writer.close()
    best = run_dir / "checkpoints" / "best.pt"
    if best.is_file():  # export the best evaluated policy, not the last one
        algo.load_state_dict(load_checkpoint(best)["algo"])
    policy_dim = env.single_observation_space["policy"].shape[0]
    export_policy(algo, policy_dim, run_dir / "policy.pt2")
    if name in SKILL_ARTIFACTS:
        from ember.sims.pybullet.assets import scene_hash

        critic_dim = env.single_observation_space["critic"].shape[0]
        meta = {
            **SKILL_ARTIFACTS[name],
            "scene_hash": scene_hash(),
            "train_command": "ember train " + " ".join(HydraConfig.get().overrides.task),
            "best_eval": result.best_eval,
            "env_steps": int(algo.env_steps),  # of the exported (best) checkpoint
            "run_env_steps": result.env_steps,
        }
        save_skill_artifact(algo, policy_dim, critic_dim, run_dir / "artifact", meta)
    if name == "retarget":
        from ember.skills.humanoid.tracking import drive_of, save_tracking_artifact

        meta = {
            "train_command": "ember train " + " ".join(HydraConfig.get().overrides.task),
            "clips": list(task.get("clips", [])),
            "mirror": bool(task.get("mirror", True)),
            "leg_scale": float(task.get("leg_scale", 1.0)),
            "residual_scale": float(task.get("residual_scale", 0.0)),
            "arm_scale": float(task.get("arm_scale", 1.0)),
            **drive_of(task),
            "best_eval_success": result.best_eval,
            "env_steps": int(algo.env_steps),  # of the exported (best) checkpoint
            "run_env_steps": result.env_steps,
            "wall_s": round(result.wall_s, 1),
        }
        save_tracking_artifact(algo, policy_dim, run_dir / "artifact", meta)
    if name == "hoi":
        critic_dim = env.single_observation_space["critic"].shape[0]
        meta = {
            **hoi_meta(task),
            "train_command": "ember train " + " ".join(HydraConfig.get().overrides.task),
            "best_eval_completion": result.best_eval,
            "env_steps": int(algo.env_steps),  # of the exported (best) checkpoint
            "run_env_steps": result.env_steps,
            "wall_s": round(result.wall_s, 1),
        }
        save_skill_artifact(algo, policy_dim, critic_dim, run_dir / "artifact", meta)
    if name == "overcooked_selfplay":
        from ember.skills.overcooked.partners import save_partner

        meta = {
            "activation": algo_cfg.get("activation", "elu"),
            "train_command": "ember train " + " ".join(HydraConfig.get().overrides.task),
            "best_eval_soups": result.best_eval,
            "env_steps": int(algo.env_steps),  # of the exported (best) checkpoint
            "run_env_steps": result.env_steps,
        }
        save_partner(algo, env.layout, run_dir / "partner.pt", meta)
    metrics = {
        "task": name,
        "algo": algo_cfg["name"],
        "env_steps": result.env_steps,
        "wall_s": round(result.wall_s, 2),
        "best_eval_return": result.best_eval,
        "last_eval_return": result.last_eval,
        "eval_target": eval_target,
        "solved_at_s": result.solved_at_s,
        "solved_at_env_steps": result.solved_at_steps,
        "torch_threads": torch.get_num_threads(),
        "distributed": cfg.distributed if not distributed.active() else f"torchrun x{distributed.world_size()}",
    }
    if runners is not None:
        metrics["runners"] = {
            "num_workers": cfg.num_workers,
            "alive": len(runners.workers),
            "restarts": runners.restarts,
            "discarded_batches": runners.discarded,
            "lost": runners.lost,
            "start_s": round(runners.start_s, 2),
        }
    atomic_write_json(run_dir / "metrics.json", metrics, indent=2)
    console.print(json.dumps(metrics), soft_wrap=True)


if __name__ == "__main__":
    main()


def retarget_artifact(run: str | Path, checkpoint: str = "best.pt") -> Path:
    """Write ``artifact/`` of a ``task=retarget`` run from one of its checkpoints (a killed or stopped run has
    checkpoints but no artifact): ``python -c "from ember.launch.train import retarget_artifact as a; a('RUN')"``."""
    from ember.skills.humanoid.tracking import drive_of, save_tracking_artifact

    run = Path(run)
    cfg, task = _run_config(run, "retarget")
    env = make_env(
        "retarget",
        num_envs=1,
        clips=["walk"],
        mirror=False,
        leg_scale=task["leg_scale"],
        arm_scale=task["arm_scale"],
        **drive_of(task),
        residual_scale=task.get("residual_scale", 0.0),
        match_clips=list(task["clips"]),
        match_mirror=bool(task["mirror"]),
    )
    algo, state = _restore(cfg, env, run / "checkpoints" / checkpoint)
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    meta = {
        "train_command": "ember train " + " ".join(f"{k}={v}" for k, v in _overrides(run).items()),
        "clips": list(task["clips"]),
        "mirror": bool(task["mirror"]),
        "leg_scale": float(task["leg_scale"]),
        "residual_scale": float(task.get("residual_scale", 0.0)),
        "arm_scale": float(task["arm_scale"]),
        **drive_of(task),
        "best_eval_success": state.get("best"),
        "env_steps": int(algo.env_steps),
        "wall_s": metrics.get("wall_s", state.get("wall_s")),
        "checkpoint": checkpoint,
    }
    return save_tracking_artifact(algo, env.single_observation_space["policy"].shape[0], run / "artifact", meta)


def hoi_artifact(run: str | Path, checkpoint: str = "best.pt") -> Path:
    """Write ``artifact/`` of a ``task=hoi`` run from one of its checkpoints (a stopped run has checkpoints but no
    artifact): ``python -c "from ember.launch.train import hoi_artifact as a; a('RUN')"``."""
    from ember.skills.learning.export import save_skill_artifact

    run = Path(run)
    cfg, task = _run_config(run, "hoi")
    scale = float(task.get("residual_scale", 0.0))
    env_args, _ = hoi_task({"num_envs": 1, "tasks": list(task["tasks"]), "residual_scale": scale}, 1)
    env = make_env("hoi", **env_args)
    algo, state = _restore(cfg, env, run / "checkpoints" / checkpoint)
    meta = {
        **hoi_meta(task),
        "train_command": "ember train " + " ".join(f"{k}={v}" for k, v in _overrides(run).items()),
        "best_eval_completion": state.get("best"),
        "env_steps": int(algo.env_steps),
        "wall_s": state.get("wall_s"),
        "checkpoint": checkpoint,
    }
    spaces = env.single_observation_space
    return save_skill_artifact(algo, spaces["policy"].shape[0], spaces["critic"].shape[0], run / "artifact", meta)


def _run_config(run: Path, task_name: str) -> tuple[DictConfig, dict[str, Any]]:
    """A finished or stopped run's resolved config and task, checked to be a ``task_name`` run."""
    cfg = OmegaConf.load(run / "config.yaml")
    assert isinstance(cfg, DictConfig)
    task: dict[str, Any] = OmegaConf.to_container(cfg.task, resolve=True)  # type: ignore[assignment]
    if task.get("name") != task_name:
        raise TrainConfigError(f"{run}: task.name={task.get('name')!r}; this export is for task={task_name} runs")
    return cfg, task


def _restore(cfg: DictConfig, env: Any, checkpoint: Path) -> tuple[Any, dict[str, Any]]:
    """The run's algorithm with ``checkpoint``'s state loaded, and that state."""
    algo_cfg: dict[str, Any] = OmegaConf.to_container(cfg.algo, resolve=True)  # type: ignore[assignment]
    algo = build_algo(dict(algo_cfg), env, int(cfg.seed))
    state = load_checkpoint(checkpoint)
    algo.load_state_dict(state["algo"])
    return algo, state


def _overrides(run: Path) -> dict[str, str]:
    file = run / ".hydra" / "overrides.yaml"
    if not file.is_file():
        return {}
    from omegaconf import OmegaConf

    items = OmegaConf.to_container(OmegaConf.load(file))
    assert isinstance(items, list)
    return dict(str(item).split("=", 1) for item in items)  # type: ignore[misc]

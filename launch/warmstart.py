"""Starting a training run from saved weights: ``init_from=`` (another run's networks, this run's learning rates)
and ``resume=`` (checked against the run before anything of it is touched)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ember.skills.learning.build import AlgoConfigError
from ember.skills.learning.runner import load_checkpoint


class TrainConfigError(AlgoConfigError):
    pass


def check_resume(cfg: DictConfig, run_dir: Path, algo: Any) -> None:
    """Before a resumed run writes anything: the command must train what the run trained (its task and networks)
    and the run's last checkpoint must load into them — else a clear error, and the run's config and checkpoints are
    left as they were."""
    saved_path = run_dir / "config.yaml"
    saved = OmegaConf.load(saved_path) if saved_path.is_file() else None
    keys = ("task.name", "algo.name", "algo.hidden", "algo.activation", "policy")
    if isinstance(saved, DictConfig):
        before = {k: OmegaConf.select(saved, k, default=None) for k in keys}
        now = {k: OmegaConf.select(cfg, k, default=None) for k in keys}
        differ = [k for k in keys if before[k] != now[k]]
        if differ:
            raise TrainConfigError(
                f"resume={cfg.resume!r}: that run trained "
                + ", ".join(f"{k}={before[k]}" for k in differ)
                + "; this command asks for "
                + ", ".join(f"{k}={now[k]}" for k in differ)
                + " — resume with the run's own overrides (its .hydra/overrides.yaml)"
            )
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")  # a damaged file: RuntimeError naming it
    try:
        algo.load_state_dict(state["algo"])  # train() loads it again, with the env's state and the RNG
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise TrainConfigError(
            f"resume={cfg.resume!r}: its checkpoints/last.pt does not fit the networks this command builds "
            f"({str(err).splitlines()[0]}); resume with the run's own overrides (its .hydra/overrides.yaml)"
        ) from err


def init_weights(algo: Any, run: Path, std: float | None = None) -> None:
    """Start from another run's best (else last) checkpoint, or from the checkpoint file ``run`` names: networks,
    normalizers and optimizer moments; steps and PPO's update count restart at 0 (so ``algo.critic_warmup`` counts
    from this run's start: a PPO checkpoint's own count, past its warm-up, used to skip it). The learning rates stay
    this run's config's (a checkpoint's own — a DAgger student's 1e-3, say — would otherwise replace them silently);
    ``std``: a Gaussian actor's action std to start from instead of the checkpoint's (``algo.finetune_std``)."""
    found = (run / "checkpoints" / n for n in ("best.pt", "last.pt") if (run / "checkpoints" / n).is_file())
    path = run if run.is_file() else next(found, None)
    if path is None:
        raise TrainConfigError(
            f"init_from={str(run)!r}: no checkpoints/best.pt or last.pt there; give a train run or a checkpoint file"
        )
    state = dict(load_checkpoint(path)["algo"])
    optimizers = {k: v for k, v in vars(algo).items() if isinstance(v, torch.optim.Optimizer)}
    rates = {k: [g["lr"] for g in opt.param_groups] for k, opt in optimizers.items()}
    lr = getattr(algo, "lr", None)
    try:
        algo.load_state_dict({**state, "env_steps": 0, **({"updates": 0} if "updates" in state else {})})
    except RuntimeError as err:
        raise TrainConfigError(
            f"init_from={str(run)!r}: its networks do not fit this command's (another algo.name, task or "
            f"algo.hidden?) ({str(err).splitlines()[0]})"
        ) from err
    for k, opt in optimizers.items():
        for group, rate in zip(opt.param_groups, rates[k], strict=True):
            group["lr"] = rate
    if lr is not None:
        algo.lr = lr
    if std is not None:
        log_std = getattr(getattr(algo, "actor", None), "log_std", None)
        if not isinstance(log_std, torch.nn.Parameter):
            raise TrainConfigError(
                f"algo.finetune_std={std}: only a PPO Gaussian actor (a state-independent std) can start from a given "
                "std; leave it null"
            )
        with torch.no_grad():
            log_std.fill_(math.log(std))

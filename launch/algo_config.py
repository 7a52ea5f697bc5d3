"""Typed configs of ``ember train``'s learning algorithms (``algo=sac|ppo|dagger``) and pipelines (``pipeline=``),
registered with the rest by :func:`ember.launch.config.register`."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class SACConfig:
    name: str = "sac"
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    """Hidden widths of actor and critics."""
    activation: str = "relu"
    lr: float = 3e-3
    """Adam learning rate."""
    gamma: float = 0.99
    tau: float = 0.01
    """Target network Polyak rate."""
    batch_size: int = 256
    buffer_size: int = 200000
    """Replay capacity [transitions]."""
    learning_starts: int = 500
    """Random-action transitions before updates."""
    utd_ratio: float = 0.5
    """Gradient steps per collected transition."""
    init_alpha: float = 0.5
    """Initial entropy temperature."""
    target_entropy: float | None = None
    """Entropy target of the temperature tuning; null: minus the action size."""


@dataclass
class PPOConfig:
    name: str = "ppo"
    num_steps: int = 64
    """Steps per env per rollout."""
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "elu"
    init_std: float = 1.0
    """Initial action std of the Gaussian actor."""
    init_output_scale: float = 1.0
    """Factor on the Gaussian actor's initial output layer: 1 PyTorch's default init, 0 a zero mean action at first
    (a residual policy then starts as its base controller, task=hoi task.residual_scale=...)."""
    lr: float = 1e-3
    """Initial learning rate (adapted to desired_kl)."""
    critic_lr: float | None = None
    """The critic's own fixed learning rate (null: it shares lr and its adaptation)."""
    gamma: float = 0.99
    lam: float = 0.95
    clip: float = 0.2
    epochs: int = 5
    num_minibatches: int = 4
    value_coef: float = 1.0
    entropy_coef: float = 0.0
    desired_kl: float | None = 0.01
    """KL target of the adaptive learning rate (null: the learning rate stays at lr)."""
    max_grad_norm: float = 1.0
    normalize_obs: bool = True
    critic_warmup: int = 0
    """Updates at the start in which only the critic learns (the actor held): a residual policy's burn-in."""
    finetune_std: float | None = None
    """With init_from: the action std the actor starts from (null: the checkpoint's). A DAgger student's is 0.1,
    which on task=retarget topples a policy whose precision matters to a degree."""


@dataclass
class DAggerConfig:
    """DAgger from the sampling MPC teacher (``skills/humanoid/mpc.py``; ``task=retarget`` only). Its env steps are
    labels: ``total_steps`` is rounded up to whole iterations of ``envs * steps``."""

    name: str = "dagger"
    envs: int = 8
    """Envs the teacher labels (each label is one MPC call, ~0.08 s on two threads at 64 samples x 15 steps)."""
    steps: int = 100
    """Control steps per env per iteration."""
    samples: int = 64
    """The MPC's candidate plans per step."""
    horizon: int = 15
    """The MPC's horizon [control steps]."""
    clip_horizon: dict[str, int] = field(default_factory=dict)
    """Another horizon for the named clips (run needs a longer look ahead), e.g. ``++algo.clip_horizon={run:24}``
    (``++``: the dict starts empty)."""
    temperature: float = 0.3
    """MPPI temperature (0: the cheapest candidate; its labels are harder to imitate)."""
    weights: list[float] = field(default_factory=lambda: [10.0, 10.0, 20.0])
    """The MPC's cost factors: root-relative body error, world body error, root height error (a world factor of 10
    rather than 3 keeps the character from drifting behind the reference)."""
    teacher_share: float = 0.25
    """Floor of the share of envs the teacher drives (from 1/2, halving each iteration)."""
    warm_start: str = "plan"
    """What the MPC searches around each step: its own plan from the last step (``plan``), the student's action
    (``student``: labels that depend on the state alone — start from a trained student with ``init_from``) or the
    reference (``fresh``: labels that depend on the state alone; give ``passes`` 3)."""
    passes: int = 1
    """MPC refinements per label, each around the last one's answer with 0.7x the perturbation (a fresh plan needs
    3 on walk; each pass costs one MPC call)."""
    window: int = 0
    """Refit the student on the labels of the last ``window`` iterations only (0: all of them, DAgger's
    aggregation; with ``warm_start=student`` older labels improve on older students)."""
    epochs: int = 20
    """Passes over all labels when refitting the student each iteration."""
    hidden: list[int] = field(default_factory=lambda: [512, 256])
    mpc_threads: int = 2
    """``mujoco.rollout`` threads of the teacher."""


@dataclass
class PipelineStageConfig:
    name: str = MISSING
    """The stage's directory under the pipeline's run directory, and its key in ``pipeline.json``."""
    overrides: list[str] = field(default_factory=list)
    """The stage's ``ember train`` overrides (the command line's come after them and win)."""
    init_from: str | None = None
    """A checkpoint of an earlier stage, relative to the pipeline's run directory (``ppo/checkpoints/last.pt``), that
    starts this stage (``init_from=``); null: the stage starts from scratch."""
    use_budget: bool = False
    """Give the stage what is left of ``budget_s`` as its ``max_wall_s`` (PPO and SAC stages only)."""


@dataclass
class PipelineConfig:
    name: str = MISSING
    task: str = MISSING
    """The task every stage trains (``task=``)."""
    stages: list[PipelineStageConfig] = field(default_factory=list)
    budget_s: float = 0.0
    """Wall-clock budget of all stages together [s]; 0: none."""
    stage_overrides: dict[str, list[str]] = field(default_factory=dict)
    """More overrides for one stage only, after the command line's: ``'+pipeline.stage_overrides.ppo=["algo.lr=1e-4"]'``
    (keys that other stages' algorithms lack, for instance)."""
    dry_run: bool = False
    """Print each stage's command and stop."""
    label: str = "pipeline"
    """The run directory's name part in place of the algorithm's (``runs/train_<time>_<task>_pipeline_seed0``)."""

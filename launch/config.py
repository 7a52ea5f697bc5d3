"""Typed configs for ``ember`` subcommands, registered in Hydra's ConfigStore (one group per extension point).

The YAML tree under ``launch/conf/`` names these as schemas in its defaults lists, so a misspelled key or a value of
the wrong type is refused at load time with the key's full name. The algorithms' and pipelines' schemas live in
``launch/algo_config.py`` (registered here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from ember.launch.algo_config import DAggerConfig, PipelineConfig, PPOConfig, SACConfig
from ember.robots.config import RobotConfig
from ember.skills.diffusion.policy import PolicyConfig


@dataclass
class TabletopTaskConfig:
    name: str = "tabletop"
    """Task id in ``ember.sims.TASKS``."""
    cubes: list[str] = field(default_factory=lambda: ["red", "green", "blue"])
    """Cube colors; objects are named ``<color>_cube``."""
    arrangement: Any = "scattered"
    """Initial arrangement: scattered, tower, tray, mixed, or {tower: [...], tray: [...], scattered: [...]}."""
    tray: bool = True
    """Whether the scene has a tray."""
    physics_hz: int = 240
    """Physics rate [Hz]."""
    decimation: int = 8
    """Physics steps per control period (240 / 8 = 30 Hz control)."""
    render_size: list[int] = field(default_factory=lambda: [160, 120])
    """Video frame size, width height [px]."""
    max_seconds: float = 150.0
    """World-time budget of an episode [s]."""


@dataclass
class OvercookedTaskConfig:
    name: str = "overcooked"
    """Task id: two chefs in an Overcooked-AI kitchen."""
    layout: str = "cramped_room"
    """A layout the overcooked package ships (the run's top-level ``layout=`` overrides it)."""
    horizon: int = 400
    """Ticks per episode."""


@dataclass
class MinecraftTaskConfig:
    name: str = "minecraft"
    """Task id: mineflayer bots on a Minecraft server."""
    host: str | None = None
    """An external server's host; null: Ember starts its local flying-squid server (and stops it after the run)."""
    port: int = 25565
    """The external server's port (the local server takes a free one)."""
    version: str = "1.20.4"
    """Minecraft version the bots (and the local server) speak."""
    bots: int = 1
    """Bots bot0, bot1, ... (the run's top-level bots= overrides it)."""
    trees: int = 3
    """Local server: trees the seeded scenario plants."""
    obstacles: int = 2
    """Local server: walls and pillars the seeded scenario builds."""
    max_seconds: float = 300.0
    """Time budget of the run [s of game time, which is wall time]."""
    planning: str = "central"
    """Team planning: ``central`` (one plan from every bot's facts) or ``per_bot`` (each bot plans its own share from
    its own facts and its beliefs about the others: whom it sees, what they said they hold)."""


@dataclass
class SymbolicPlannerConfig:
    name: str = "symbolic"
    """Planner id."""
    max_depth: int = 8
    """Deepest chain of sub-goals [levels]."""
    max_expansions: int = 20000
    """Search budget [achiever attempts]."""
    shallow_depth: int = 1
    """Levels of repair branches under conditions that already hold."""


@dataclass
class LLMPlannerConfig:
    name: str = "llm"
    """Planner id."""
    base_url: str = MISSING
    """OpenAI-compatible endpoint root, e.g. http://127.0.0.1:8000/v1."""
    model: str = MISSING
    """Model name the endpoint serves."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (local servers need none)."""
    structured: str = "auto"
    """auto (json_schema, stepping down when refused), json_schema, json_object (JSON mode) or none (plain)."""
    critique_rounds: int = 3
    """Repair rounds after the first reply."""
    fallback: str = "none"
    """symbolic: use the symbolic planner when the model never gives a valid plan."""
    vlm: bool = False
    """Send the rendered camera image with the request."""
    timeout: float = 60.0
    """Per-request timeout [s]."""
    max_retries: int = 3
    """Retries with backoff on 408/409/429/5xx and connection errors."""
    temperature: float = 0.0
    """Sampling temperature."""
    max_tokens: int = 4096
    """Completion token cap."""
    stream: bool = False
    """Stream the reply (server-sent events)."""
    cache_dir: str | None = "runs/llm_cache"
    """On-disk reply cache keyed by request; null disables it."""
    max_reply_chars: int = 100000
    """Longer replies are rejected unread [characters]."""
    critic_model: str | None = None
    """A second model that reviews each valid plan (Critic-V); null: none."""
    critic_base_url: str | None = None
    """The critic's endpoint; null: the planner's."""


@dataclass
class RunConfig:
    task: Any = MISSING
    planner: Any = MISSING
    goal: str = "stack green on red"
    """Goal: predicates (on(a, b) & ...) or an English form the planner accepts."""
    plan: str | None = None
    """Path to a plan JSON file to run instead of planning."""
    seed: int = 0
    """Seed of the initial arrangement."""
    max_replans: int = 2
    """Fresh plans allowed after the tree fails."""
    video: bool = True
    """Write episode.mp4 (GIF if no MP4 encoder is available)."""
    video_every: int = 3
    """Control ticks per video frame."""
    progress: bool = True
    """Live progress display."""
    layout: str | None = None
    """Overcooked: the kitchen layout (shorthand for task.layout)."""
    partner: str | None = None
    """Overcooked: greedy, random, stay, ppo (the committed self-play partner) or a partner.pt path drives the chef
    Ember does not (null: Ember drives both)."""
    seat: int = 0
    """Overcooked: which chef Ember drives beside a partner (0 or 1)."""
    episodes: int = 1
    """Overcooked: episodes to play (seeds seed, seed+1, ...)."""
    bots: int | None = None
    """Minecraft: how many bots share the goal (shorthand for task.bots)."""
    input: str | None = None
    """Retarget: a recorded head/hands stream (.jsonl or .csv) to drive the character with."""
    tracking_policy: str | None = None
    """Retarget: an artifact folder of a trained tracking policy (null: the shipped one)."""
    zero_shot: bool = False
    """Retarget: drive a character of other proportions with a policy trained on the human one."""
    backend: str = "sim"
    """Tabletop: ``sim`` (PyBullet in this process), ``ros`` (a robot or ``ember robot-sim`` over ROS 2) or
    ``rosbridge`` (a rosbridge websocket at ``robot.rosbridge_url``)."""
    robot: Any = None
    """The robot config (group ``robot``) used when ``backend`` is not ``sim``."""
    record: str | None = None
    """Robot backends: directory of a rosbag2/MCAP recording of the run (null: none)."""
    skill_store: str | None = "runs/skill_store.json"
    """Minecraft: the persistent library of learned composite skills (null: learn nothing, reuse nothing)."""


@dataclass
class PendulumTaskConfig:
    name: str = "pendulum"
    """Env id in ``ember.sims.ENVS``."""
    num_envs: int = 8
    """Parallel envs for training."""
    eval_envs: int = 32
    """Envs (one episode each) per evaluation."""
    max_episode_length: int = 200
    """Steps per episode."""
    obs_noise: float = 0.0
    """Std of the noise on the actor's observation."""
    eval_target: float = -200.0
    """Mean evaluation return that counts as solved."""


@dataclass
class OvercookedSelfPlayTaskConfig:
    name: str = "overcooked_selfplay"
    """Env id in ``ember.sims.ENVS``: Overcooked kitchens with the partner inside (contract 1)."""
    layout: str = "cramped_room"
    """A layout the overcooked package ships."""
    num_envs: int = 64
    """Rows of the batch (two per kitchen in self-play)."""
    eval_envs: int = 32
    """Rows per evaluation (one episode each, the policy sampled)."""
    partner: str = "self"
    """self (self-play), greedy, random, stay, ppo (the committed self-play partner) or a partner.pt path."""
    seat: Any = "both"
    """With a partner inside: the learner's chef, 0, 1 or both (alternating rows)."""
    shaping_steps: int = 3000000
    """Env steps over which the shaped reward's weight falls from 1 to 0."""
    horizon: int = 400
    """Ticks per episode."""
    eval_target: float | None = None
    """Mean soups per episode that counts as solved (null: train for total_steps)."""


@dataclass
class QuadrotorTaskConfig:
    name: str = "quadrotor_hover"
    """Env id in ``ember.sims.ENVS``."""
    num_envs: int = 256
    """Parallel envs for training (PPO: fewer envs, more updates per env step; 256 x 32 steps needs about half the
    env steps of 1024 x 32 at nearly the same cost per step on CPU)."""
    eval_envs: int = 100
    """Envs started from the task's initial distribution per evaluation."""
    max_episode_length: int = 500
    """Training episode length [100 Hz steps]."""
    obs_noise: float = 1.0
    """Scale of the published observation noise."""
    obs_delay: int = 0
    """Control steps of actor observation delay."""
    disturbance: float = 1.0
    """Scale of the published random force and torque."""
    weights: list[float] = field(default_factory=lambda: [20.0, 0.2, 0.05])
    """Reward weights (w_p, w_v, w_a) of position [1/m^2], velocity [s^2/m^2] and action (see the env)."""
    reward_scale: float = 0.1
    """Factor on the reward (keeps PPO's value targets small)."""
    eval_target: float = 0.95
    """Hover criterion: fraction of eval envs within 0.1 m of the target from t = 2 s to t = 12 s."""


@dataclass
class RetargetTaskConfig:
    name: str = "retarget"
    """Env id in ``ember.sims.ENVS``: the MuJoCo humanoid tracking clips from sparse head/hand signals."""
    num_envs: int = 32
    clips: list[str] = field(default_factory=lambda: ["walk", "run", "punch", "kick"])
    """Training clips (pybullet_data's DeepMimic clips); the held-out ones are dance_a and dance_b."""
    mirror: bool = True
    """Also train on each clip's mirror image."""
    max_episode_length: int = 300
    """Control steps per episode (30 Hz)."""
    leg_scale: float = 1.0
    """Leg length factor of the character, in [0.3, 3] (0.7 for the second morphology)."""
    arm_scale: float = 1.0
    """Arm length factor of the character, in [0.3, 3] (1.3 for the second morphology)."""
    joint_damping: float = 0.1
    """The character's passive hinge damping per unit of its kp [s], in [0, 1] (DeepMimic's kv = kp / 10: 0.1). It is
    not clamped by the torque limit, so it caps joint speed near max_force / (joint_damping * kp): 3-4 rad/s for hips
    and knees at 0.1 (bench/retarget_actuation.py). Lower values need ``armature`` for stability."""
    armature: float = 0.0
    """Rotor inertia added to each of the character's hinges [kg m^2], in [0, 1]."""
    tracker_noise: float = 0.01
    """Standard deviation of the trackers' position reports during training [m]."""
    residual_scale: float = 0.0
    """0: the policy outputs PD targets; above 0: it corrects the motion-matched pose of the training clips by
    ``residual_scale * action`` (``sims/humanoid/matching.py``)."""
    assist_steps: int = 0
    """Env steps over which a virtual assistant (a PD wrench pulling the pelvis toward the reference) fades from full
    strength to none; 0: no assistant. Evaluations never have it."""
    assist_max_fall: float = 1.0
    """The assistant fades only while the running per-step fall rate is at most this (1: a fixed schedule)."""
    physics_threads: int = 0
    """0: step each env's MuJoCo data from Python; N: step the batch with ``mujoco.rollout`` on N threads (same
    physics; on 2 free cores 2 threads gave 1.5x the env-only steps/s, bench/retarget.py)."""
    root_reward: bool = False
    """Reward the root as DeepMimic does: its orientation error joins the pose term and its linear velocity error gets
    a term of its own (weight 0.1)."""
    clip_weights: list[float] | None = None
    """How often an episode starts on each of ``clips`` (one weight each, a mirror image sharing its clip's; null:
    uniform)."""
    adaptive_starts: float = 0.0
    """Share of episode starts drawn where episodes have lately been falling, in [0, 1] (0: none): per clip and phase
    bin, in proportion to the running fall rate of the episodes started there (``sims/humanoid/retarget_env.py``)."""
    eval_envs: int = 8
    """Fixed phases per training clip in each evaluation."""
    eval_seconds: float = 5.0
    """Length of each evaluation rollout [s] (non-looping clips end sooner)."""
    eval_target: float = 0.9
    """Success rate over the training clips that counts as solved."""


@dataclass
class HOITaskConfig:
    name: str = "hoi"
    """Env id in ``ember.sims.ENVS``: the simplified character following RMD stage plans (MuJoCo)."""
    num_envs: int = 16
    tasks: list[str] = field(default_factory=lambda: ["reach", "push", "open", "sit", "carry"])
    """Tasks episodes draw from; stages come from the template planner (planners/hoi/template.py)."""
    max_episode_length: int = 500
    """Control steps per training episode (25 Hz)."""
    stage_bonus: float = 1.0
    """Reward per completed stage, every step after it."""
    end_on_success: bool = False
    """End a training episode when its last stage completes (else the last stage is held)."""
    eval_envs: int = 10
    """Episodes per task in each evaluation (full-task completion over all of them)."""
    eval_target: float = 0.9
    """Full-task completion that counts as solved."""
    scene: str = "sit"
    """ember run: which task's seeded random scene to act in (reach, push, open, sit, carry)."""
    controller: str = "learned"
    """ember run: stage leaves driven by the ``learned`` policy or the ``scripted`` baseline."""
    artifact: str | None = None
    """ember run: the learned policy's artifact folder (null: the shipped one)."""
    max_seconds: float = 60.0
    """ember run: world-time budget of the episode [s]."""
    residual_scale: float = 0.0
    """Training: > 0 learns a residual on the scripted baseline, executing clip(a_scripted + residual_scale * a, -1, 1)
    and giving the actor a_scripted (sims/hoi/env.py); 0: the policy acts alone. Pair with a small algo.init_std and
    algo.init_output_scale=0 so training starts at the baseline."""
    task_sampling: str = "uniform"
    """Training: ``uniform`` draws each episode's task uniformly; ``failures`` in proportion to its running failure
    rate (floor 0.1), so the tasks the policy fails get the samples (sims/hoi/env.py)."""


@dataclass
class TabletopPushTaskConfig:
    name: str = "tabletop_push"
    """Env id in ``ember.sims.ENVS``: push one cube to a goal with the Panda (PyBullet)."""
    num_envs: int = 8
    """Parallel PyBullet clients for training."""
    eval_envs: int = 16
    """Envs (one episode each) per evaluation."""
    max_episode_length: int = 80
    """Control steps per episode (30 Hz)."""
    obs_noise: float = 0.005
    """Std of the noise on the actor's cube position [m]."""
    obs_delay: int = 0
    """Control steps by which the actor's cube position lags."""
    domain_randomization: bool = False
    """Draw the cube's friction (0.35-0.65) and mass (0.07-0.13 kg) per episode."""
    eval_target: float = 0.9
    """Success rate that counts as solved."""


@dataclass
class TabletopPushObstacleTaskConfig(TabletopPushTaskConfig):
    """Push a cube around a post to a goal (PyBullet); the push task's settings with its own defaults."""

    name: str = "tabletop_push_obstacle"
    num_envs: int = 2
    """Parallel PyBullet clients (recording, evaluation)."""
    eval_envs: int = 2
    max_episode_length: int = 200
    """Control steps per episode (30 Hz)."""
    eval_target: float = 0.8


@dataclass
class ImitationConfig(PolicyConfig):
    """The policy's own settings (``PolicyConfig``: kind, obs_history, horizon, action_steps, hidden, blocks,
    goal_dropout, features, sigma_*, rho, sample_steps, sampler, guidance) plus how to train it."""

    dataset: Any = None
    """Episode dataset(s) to train on: a path or a list of paths; null: record ``demos`` demonstrations into the run
    directory first."""
    demos: int = 400
    """Demonstrations to record when ``dataset`` is null."""
    demo_seed: int = 0
    """Seed of that recording."""
    demo_action_noise: float = 0.1
    """Std of the noise on the demonstrator's executed actions while recording (DART; the clean ones are stored)."""
    success_only: bool = True
    """Train on successful demonstrations only."""
    steps: int = 20000
    """Gradient steps."""
    batch_size: int = 256
    lr: float = 3e-4
    """AdamW learning rate (500-step warm-up, cosine decay)."""
    ema_decay: float = 0.999
    """Decay of the EMA weights that are evaluated and exported."""
    checkpoint_every: int = 1000
    """Gradient steps between checkpoints."""
    eval_episodes: int = 20
    """Episodes of the evaluation after training (0: none)."""


@dataclass
class EvalConfig:
    checkpoint: str = MISSING
    """A policy.pt written by ``ember train policy=beso|bc``."""
    episodes: int = 100
    """Seeded episodes."""
    seed: int = 1000
    """Seed of the first episode."""
    steps: int | None = None
    """Denoising steps (null: the policy's own)."""
    sampler: str | None = None
    """Sampler (null: the policy's own)."""
    guidance: float | None = None
    """Guidance scale (null: the policy's own)."""
    num_envs: int = 1
    """Parallel envs."""
    threads: int = 1
    """torch intra-op threads."""
    progress: bool = True


@dataclass
class TrainConfig:
    task: Any = MISSING
    algo: Any = MISSING
    policy: Any = None
    """Set (policy=beso or policy=bc) to train from demonstrations instead of with ``algo``."""
    pipeline: Any = None
    """Set (pipeline=retarget) to run a pipeline's stages, each an ``ember train`` run of its own
    (``launch/pipeline.py``)."""
    total_steps: int = 100000
    """Env steps to train for (stops earlier at the task's eval_target when stop_at_target)."""
    seed: int = 0
    eval_every_steps: int = 2000
    """Env steps between evaluations and checkpoints."""
    stop_at_target: bool = True
    max_wall_s: float = 0.0
    """Wall-clock budget of the run [s] (0: none) that it ends inside: at the rollout boundary where one more iteration
    and evaluation (their last measured durations) would pass it, it evaluates, checkpoints and stops, exporting its
    best-evaluated policy as a finished run does. A resumed run's earlier time counts."""
    resume: str | None = None
    """Run directory of a killed run to continue from its last checkpoint."""
    init_from: str | None = None
    """Run directory whose best (else last) checkpoint's networks and normalizers start this run, or a checkpoint
    file (``runs/<run>/checkpoints/last.pt``); fine-tuning, steps restart at zero. The observation and action
    layouts must match."""
    threads: int = 1
    """torch intra-op threads (1 is fastest for small MLPs on 2 cores)."""
    progress: bool = True
    distributed: str = "none"
    """Where rollouts are collected: ``none`` (in the learner's process), ``ray`` (env-runner actors on a Ray cluster)
    or ``local`` (the same runner path in-process). Data-parallel learners: launch with ``torchrun`` instead."""
    num_workers: int = 2
    """Env runners with distributed=ray|local; each builds ``task.num_envs`` envs."""
    address: str | None = None
    """Ray cluster to join (``auto`` or ``HOST:PORT``); null starts a local Ray head on 127.0.0.1."""
    rollout_steps: int = 64
    """SAC with env runners: steps per env per sample (PPO uses ``algo.num_steps``)."""
    worker_cpus: float = 1.0
    """CPUs each Ray env runner reserves."""
    restart_timeout_s: float = 60.0
    """How long a replacement env runner may take to start before the run goes on with fewer runners."""


@dataclass
class RobotSimConfig:
    robot: Any = MISSING
    task: Any = MISSING
    seed: int = 0
    """Seed of the initial arrangement."""
    state_hz: float = 250.0
    """Joint state rate [Hz]."""
    pose_hz: float = 60.0
    """Object pose rate [Hz]."""
    camera_hz: float = 2.0
    """Camera image rate [Hz] (0: no camera)."""


def register() -> None:
    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    cs.store(name="robot_sim_schema", node=RobotSimConfig)
    cs.store(group="robot", name="panda_schema", node=RobotConfig)
    cs.store(group="task", name="tabletop_schema", node=TabletopTaskConfig)
    cs.store(group="planner", name="symbolic_schema", node=SymbolicPlannerConfig)
    cs.store(group="task", name="overcooked_schema", node=OvercookedTaskConfig)
    cs.store(group="task", name="minecraft_schema", node=MinecraftTaskConfig)
    cs.store(group="planner", name="llm_schema", node=LLMPlannerConfig)
    cs.store(name="train_schema", node=TrainConfig)
    cs.store(group="task", name="pendulum_schema", node=PendulumTaskConfig)
    cs.store(group="task", name="quadrotor_hover_schema", node=QuadrotorTaskConfig)
    cs.store(group="task", name="retarget_schema", node=RetargetTaskConfig)
    cs.store(group="task", name="hoi_schema", node=HOITaskConfig)
    cs.store(group="task", name="overcooked_selfplay_schema", node=OvercookedSelfPlayTaskConfig)
    cs.store(group="task", name="tabletop_push_schema", node=TabletopPushTaskConfig)
    cs.store(group="task", name="tabletop_push_obstacle_schema", node=TabletopPushObstacleTaskConfig)
    cs.store(group="policy", name="imitation_schema", node=ImitationConfig)
    cs.store(name="eval_schema", node=EvalConfig)
    cs.store(group="algo", name="sac_schema", node=SACConfig)
    cs.store(group="algo", name="ppo_schema", node=PPOConfig)
    cs.store(group="algo", name="dagger_schema", node=DAggerConfig)
    cs.store(group="pipeline", name="pipeline_schema", node=PipelineConfig)

"""Env runners: where rollouts are collected, apart from where the learner updates (after RLlib's EnvRunner).

``ember train`` steps its env in the learner's own process and algorithm by default (no copy, exact resume). With
``distributed=ray num_workers=N`` (or ``distributed=local`` for the same path without Ray) it samples through a
:class:`RunnerGroup`: each :class:`EnvRunner` holds its own vectorized env and a copy of the algorithm; every iteration
the learner broadcasts its weights (``set_weights(ref, version)``: one ``ray.put``, shared by all actors), each runner
collects ``T`` steps with them (``sample(T)``: PPO rollouts with GAE computed by the runner's critic copy, or SAC
transitions), and the learner ingests the batches (``algo.ingest``), merges the observation statistics the runners saw,
and updates.

Faults: a runner whose actor dies (process killed, node lost) or hangs past ``sample_timeout_s`` is replaced by a
fresh actor with a new seed, and its batch is discarded, never averaged in; a batch stamped with an older weight version
is discarded too. When no replacement starts within ``restart_timeout_s`` (its node is gone and no other has room) the
group continues with fewer runners. An exception raised by the env itself is a bug, not a fault: it is re-raised with
the runner's traceback.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from ember.sims import make_env
from ember.skills.learning.build import build_algo, cpu_threads

log = logging.getLogger(__name__)

RAY_LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Keeps a local Ray head on 127.0.0.1 (otherwise Ray swaps in the host's address; ../shared/notes/scale.md). Ray
reads it when ``ray`` is imported, so it is set here, before any import of Ray in this process."""
for _key, _value in RAY_LOCAL_ENV.items():
    os.environ.setdefault(_key, _value)


@dataclass
class RunnerSpec:
    """Everything a runner needs to build its env and algorithm copy, in any process."""

    env: str
    """Env id in ``ember.sims.ENVS``."""
    env_kwargs: dict[str, Any]
    """Arguments of the env (``num_envs`` included: envs per runner)."""
    algo: dict[str, Any]
    """The ``algo`` config (``name`` plus arguments)."""
    seed: int = 0
    rollout_steps: int = 64
    """Steps per env per sample (PPO: the algorithm's ``num_steps``)."""
    threads: int = 1
    """torch intra-op threads of a runner."""


@dataclass
class RolloutBatch:
    data: dict[str, Any]
    """``algo.export_batch``: PPO rollout tensors ``(T, N, ...)`` with returns and advantages, or SAC transitions."""
    env_steps: int
    weight_version: int
    worker: int
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)
    logs: dict[str, float] = field(default_factory=dict)
    """Means of the env's ``extras["log"]`` scalars over the sample."""
    sample_s: float = 0.0


class EnvRunner:
    """Holds one vectorized env and a copy of the algorithm; samples rollouts with the weights it was last given.

    This class runs in-process (``distributed=local``) and, wrapped by ``ray.remote``, as the Ray actor
    (``RayEnvRunner``). Its torch RNG is its own (seeded from ``spec.seed``, ``worker`` and ``incarnation``), so the
    same worker samples the same batches in either place.
    """

    def __init__(self, spec: RunnerSpec, worker: int = 0, incarnation: int = 0) -> None:
        cpu_threads(spec.threads)
        self.worker, self.seed = worker, spec.seed + 1000 * (worker + 1) + 1_000_000 * incarnation
        self.env = make_env(spec.env, seed=self.seed, **spec.env_kwargs)
        algo_cfg = dict(spec.algo)
        if algo_cfg.get("name") == "sac":  # the copy's buffer holds exactly one sample
            algo_cfg["buffer_size"] = spec.rollout_steps * self.env.num_envs
        with torch.random.fork_rng(devices=[]):
            self.algo = build_algo(algo_cfg, self.env, self.seed)
            torch.manual_seed(self.seed)
            self._rng = torch.get_rng_state()
        self.obs, _ = self.env.reset(seed=self.seed)
        self.version = -1
        self._returns = torch.zeros(self.env.num_envs)
        self._lengths = torch.zeros(self.env.num_envs, dtype=torch.long)

    def ready(self) -> int:
        """The runner's process id, once its env is built (a Ray actor's readiness check)."""
        return os.getpid()

    def node(self) -> str:
        """The Ray node this runner lives on ("local" outside Ray)."""
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"

    def set_weights(self, weights: dict[str, Any], version: int) -> int:
        self.algo.load_runner_weights(weights)
        self.version = version
        return version

    def sample(self, num_steps: int) -> RolloutBatch:
        t0 = time.perf_counter()
        returns: list[float] = []
        lengths: list[int] = []
        sums: dict[str, float] = {}
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng)
            for _ in range(num_steps):
                actions = self.algo.act(self.obs)
                next_obs, reward, terminated, truncated, extras = self.env.step(actions)
                self.algo.process_env_step(next_obs, reward, terminated, truncated, extras)
                self.obs = next_obs
                self._returns += reward.float()
                self._lengths += 1
                done = terminated | truncated
                if done.any():
                    returns += self._returns[done].tolist()
                    lengths += self._lengths[done].tolist()
                    self._returns[done], self._lengths[done] = 0.0, 0
                for key, value in extras.get("log", {}).items():
                    sums[key] = sums.get(key, 0.0) + float(value)
            data = self.algo.export_batch(self.obs)
            self._rng = torch.get_rng_state()
        return RolloutBatch(
            data=data,
            env_steps=num_steps * self.env.num_envs,
            weight_version=self.version,
            worker=self.worker,
            episode_returns=returns,
            episode_lengths=lengths,
            logs={k: v / num_steps for k, v in sums.items()},
            sample_s=time.perf_counter() - t0,
        )

    def close(self) -> None:
        self.env.close()


LocalEnvRunner = EnvRunner
"""The in-process runner (``distributed=local``)."""


def __getattr__(name: str) -> Any:
    """``RayEnvRunner``: :class:`EnvRunner` as a Ray actor class (``ray.remote(EnvRunner)``), built on first use so
    that Ray stays an optional extra."""
    if name == "RayEnvRunner":
        import ray

        cls = ray.remote(EnvRunner)
        globals()["RayEnvRunner"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def start_ray(address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to a Ray cluster (``address``: ``auto`` or ``HOST:PORT``) or start a local head bound to 127.0.0.1.
    Returns True when this call started Ray (so the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(
            address="local",
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            num_cpus=num_cpus,
            log_to_driver=False,
        )
    return True


class RunnerGroup:
    """``num_workers`` env runners sampled in step with the learner's weights.

    Args:
        spec: how each runner builds its env and algorithm copy.
        num_workers: runners.
        backend: ``ray`` (one actor per runner, spread over the cluster's nodes) or ``local`` (in-process, one
            after the other; the same data path without Ray, for debugging and tests).
        address: Ray cluster to join (``auto``, ``HOST:PORT``); None starts a local head on 127.0.0.1.
        worker_cpus: CPUs a runner actor reserves.
        restart_timeout_s: how long a replacement actor may take to start before the group goes on without it.
        sample_timeout_s: a runner that has not answered a sample by then is treated as dead.
    """

    def __init__(
        self,
        spec: RunnerSpec,
        num_workers: int,
        backend: str = "ray",
        address: str | None = None,
        worker_cpus: float = 1.0,
        restart_timeout_s: float = 60.0,
        sample_timeout_s: float = 600.0,
    ) -> None:
        if num_workers < 1:
            raise ValueError(f"num_workers={num_workers} must be >= 1")
        if backend not in ("ray", "local"):
            raise ValueError(f"distributed={backend!r} is unknown; choose 'ray' or 'local' (or none)")
        self.spec, self.backend = spec, backend
        self.worker_cpus = worker_cpus
        self.restart_timeout_s, self.sample_timeout_s = restart_timeout_s, sample_timeout_s
        self.version = 0
        self.restarts = self.discarded = self.lost = 0
        self.stats: dict[str, float] = {}
        self._incarnation: dict[int, int] = {}
        self._owns_ray = False
        t0 = time.perf_counter()
        if backend == "ray":
            self._owns_ray = start_ray(address, num_cpus=max(num_workers, os.cpu_count() or 1) if not address else None)
            self.ray_init_s = time.perf_counter() - t0
            import ray

            self._ray = ray
            self._actor_cls = __getattr__("RayEnvRunner")
        else:
            self.ray_init_s = 0.0
        self.workers: dict[int, Any] = {i: self._start(i) for i in range(num_workers)}
        if backend == "ray":
            try:
                self._ray.get([w.ready.remote() for w in self.workers.values()], timeout=max(120.0, restart_timeout_s))
            except (self._ray.exceptions.RayActorError, self._ray.exceptions.GetTimeoutError) as err:
                self.close()
                raise RuntimeError(f"env runners failed to start ({type(err).__name__}): {err}") from None
        self.start_s = time.perf_counter() - t0  # Ray's fixed cost plus building the runners' envs

    def _start(self, i: int) -> Any:
        incarnation = self._incarnation.get(i, -1) + 1
        self._incarnation[i] = incarnation
        if self.backend == "local":
            return EnvRunner(self.spec, i, incarnation)
        return self._actor_cls.options(
            num_cpus=self.worker_cpus, scheduling_strategy="SPREAD", name=None, max_restarts=0
        ).remote(self.spec, i, incarnation)

    def _replace(self, i: int, reason: str) -> None:
        """Kill runner ``i``'s actor and start a fresh one; drop the slot when none starts in time."""
        ray = self._ray
        try:
            ray.kill(self.workers[i], no_restart=True)
        except Exception:  # already gone
            pass
        fresh = self._start(i)
        try:
            ray.get(fresh.ready.remote(), timeout=self.restart_timeout_s)
        except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError) as err:
            ray.kill(fresh, no_restart=True)
            del self.workers[i]
            self.lost += 1
            log.warning(
                "env runner %d (%s) could not be replaced within %.0f s (%s); continuing with %d runners",
                i, reason, self.restart_timeout_s, type(err).__name__, len(self.workers),
            )  # fmt: skip
            if not self.workers:
                msg = f"every env runner is gone (last: runner {i}, {reason}); the run cannot go on"
                raise RuntimeError(msg) from err
            return
        self.workers[i] = fresh
        self.restarts += 1
        log.warning("env runner %d replaced (%s); its batch was discarded", i, reason)

    def sample(self, algo: Any, num_steps: int) -> list[RolloutBatch]:
        """Broadcast ``algo``'s weights, collect ``num_steps`` from every runner, and return the batches that arrived
        intact and current (at least one; an iteration in which every batch was lost is retried)."""
        for _attempt in range(3):
            batches = self._sample_once(algo, num_steps)
            if batches:
                return batches
        raise RuntimeError("three sampling rounds in a row lost every batch; the env runners keep failing")

    def _sample_once(self, algo: Any, num_steps: int) -> list[RolloutBatch]:
        self.version += 1
        weights = algo.runner_weights()
        t0 = time.perf_counter()
        if self.backend == "local":
            for w in self.workers.values():
                w.set_weights(weights, self.version)
            t1 = time.perf_counter()
            local = [w.sample(num_steps) for w in self.workers.values()]
            self.stats = {"broadcast_s": t1 - t0, "sample_s": time.perf_counter() - t1, "workers": len(self.workers)}
            return local
        ray = self._ray
        ref = ray.put(weights)
        acks = {i: w.set_weights.remote(ref, self.version) for i, w in self.workers.items()}
        dead: dict[int, str] = {}
        for i, ack in acks.items():
            try:
                ray.get(ack, timeout=self.sample_timeout_s)
            except ray.exceptions.RayActorError as err:
                dead[i] = f"died: {type(err).__name__}"
            except ray.exceptions.GetTimeoutError:
                dead[i] = "no answer to set_weights"
        t1 = time.perf_counter()
        futures = {w.sample.remote(num_steps): i for i, w in self.workers.items() if i not in dead}
        ready, late = ray.wait(list(futures), num_returns=len(futures), timeout=self.sample_timeout_s)
        batches: list[RolloutBatch] = []
        for ref_ in ready:
            i = futures[ref_]
            try:
                batch = ray.get(ref_)
            except ray.exceptions.RayActorError as err:
                dead[i] = f"died while sampling: {type(err).__name__}"
                continue
            except ray.exceptions.RayTaskError as err:  # the env or algorithm raised: a bug, not a fault
                raise err.as_instanceof_cause() from None
            if batch.weight_version != self.version:
                self.discarded += 1
                continue
            batches.append(batch)
        for ref_ in late:
            dead[futures[ref_]] = f"no batch within sample_timeout_s={self.sample_timeout_s:g}"
        for i, reason in sorted(dead.items()):
            self.discarded += 1
            self._replace(i, reason)
        self.stats = {
            "broadcast_s": t1 - t0,
            "sample_s": time.perf_counter() - t1,
            "workers": len(self.workers),
            "restarts": self.restarts,
            "discarded": self.discarded,
        }
        return sorted(batches, key=lambda b: b.worker)

    def close(self) -> None:
        if self.backend == "local":
            for w in self.workers.values():
                w.close()
            return
        for w in self.workers.values():
            try:
                self._ray.kill(w, no_restart=True)
            except Exception:
                pass
        if self._owns_ray:
            self._ray.shutdown()

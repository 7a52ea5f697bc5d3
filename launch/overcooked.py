"""``ember run task=overcooked``: play episodes with Ember's cooperative planner driving both chefs, or one chef
beside a partner; the run directory gets per-episode soups (``metrics.json``), the trace of every skill decision and
outcome, and ``episode.gif`` of the first episode (its first ``GIF_FRAMES`` ticks). Ctrl-C keeps the finished
episodes' metrics (``interrupted: true``, exit status 130).

ember run task=overcooked layout=coordination_ring planner=symbolic partner=greedy episodes=10
ember run task=overcooked planner=llm planner.base_url=http://127.0.0.1:8000/v1 planner.model=M \
    planner.fallback=symbolic
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np
from omegaconf import DictConfig
from rich.console import Console

from ember.launch.rundir import RunDir
from ember.launch.status import print_error, status_progress

GIF_FRAMES = 2000
"""Ticks of the first episode the GIF shows (at most; frames are held in memory until the run ends)."""


def _trace(run_dir: RunDir, episode: int, event: dict[str, Any]) -> None:
    run_dir.trace({**event, "episode": episode})


def run(cfg: DictConfig, run_dir: RunDir, console: Console) -> None:
    from ember.planners.llm.client import LLMError
    from ember.planners.overcooked import CooperativePlanner, run_episode
    from ember.sims.overcooked.kitchen import OvercookedWorld
    from ember.sims.world import WorldError
    from ember.skills.library import SkillLibrary
    from ember.skills.overcooked.partners import make_partner

    layout = cfg.layout or cfg.task.layout
    try:
        if cfg.planner.name not in ("symbolic", "llm"):
            raise ValueError(f"planner={cfg.planner.name!r} is not built for overcooked; use symbolic or llm")
        if cfg.partner is not None:
            make_partner(str(cfg.partner), 0, layout)  # refuses unknown names and partners of other layouts
        if cfg.seat not in (0, 1) or cfg.episodes < 1:
            raise ValueError(f"seat must be 0 or 1 and episodes >= 1; got seat={cfg.seat}, episodes={cfg.episodes}")
        world = OvercookedWorld(layout, horizon=int(cfg.task.horizon))
    except (ValueError, WorldError) as err:
        run_dir.trace({"event": "error", "type": type(err).__name__, "message": str(err)})
        run_dir.close()
        print_error(console, str(err))
        sys.exit(2)
    skills = SkillLibrary.for_domain("overcooked")
    planner: Any = CooperativePlanner(skills)
    if cfg.planner.name == "llm":
        from ember.planners.llm.client import ChatClient
        from ember.planners.llm.overcooked import ProAgentPlanner

        p = cfg.planner
        try:
            client = ChatClient(
                p.base_url,
                p.model,
                api_key_env=p.api_key_env,
                timeout=p.timeout,
                max_retries=p.max_retries,
                temperature=p.temperature,
                max_tokens=p.max_tokens,
                cache_dir=p.cache_dir,
            )
        except ValueError as err:
            print_error(console, str(err))
            sys.exit(2)
        fallback = CooperativePlanner(skills) if p.fallback == "symbolic" else None
        planner = ProAgentPlanner(client, skills, repair_rounds=int(p.critique_rounds), fallback=fallback)
    controlled = (True, True) if cfg.partner is None else (cfg.seat == 0, cfg.seat == 1)
    soups: list[int] = []
    scores: list[float] = []  # points: recipes differ in value on some layouts
    frames: list[np.ndarray] = []

    horizon = int(cfg.task.horizon)
    episode = 0

    def on_tick() -> None:
        if episode == 0 and cfg.video and len(frames) < GIF_FRAMES:
            frames.append(world.kitchen.frame(cell=20))
        if world.kitchen.tick % 25 == 0:
            progress.update(bar, completed=episode * horizon + world.kitchen.tick)

    interrupted = False
    with status_progress(console, bool(cfg.progress)) as progress:
        bar = progress.add_task(f"overcooked {layout}", total=cfg.episodes * horizon, status="")
        try:
            for episode in range(cfg.episodes):
                seed = int(cfg.seed) + episode
                partners: list[Any] = [None, None]
                if cfg.partner is not None:
                    partners[1 - cfg.seat] = make_partner(str(cfg.partner), seed + 1000, layout)
                run_dir.trace({"event": "episode_start", "episode": episode, "seed": seed, "layout": layout})
                try:
                    n = run_episode(
                        world,
                        planner,
                        controlled,
                        (partners[0], partners[1]),
                        on_event=functools.partial(_trace, run_dir, episode),
                        seed=seed,
                        on_tick=on_tick,
                    )
                except LLMError as err:
                    message = (
                        f"{err}; check planner.base_url={cfg.planner.base_url!r}, or set planner.fallback=symbolic"
                    )
                    run_dir.trace({"event": "error", "type": "LLMError", "kind": err.kind, "message": message})
                    run_dir.close()
                    progress.stop()
                    print_error(console, message)
                    sys.exit(2)
                soups.append(n)
                scores.append(float(world.kitchen.score))
                run_dir.trace({"event": "episode_end", "episode": episode, "soups": n, "score": scores[-1]})
                progress.update(bar, completed=(episode + 1) * horizon, status=f"soups {soups}")
        except KeyboardInterrupt:  # Ctrl-C: the finished episodes' metrics are kept, the one under way is dropped
            interrupted = True
            run_dir.trace({"event": "interrupted", "episode": episode, "tick": world.kitchen.tick})
    metrics = {
        "task": "overcooked",
        "layout": layout,
        "partner": cfg.partner,
        "seat": cfg.seat if cfg.partner is not None else None,
        "episodes": cfg.episodes,
        "episodes_played": len(soups),
        "interrupted": interrupted,
        "soups": soups,
        "soups_mean": float(np.mean(soups)) if soups else None,
        "soups_std": float(np.std(soups)) if soups else None,
        "scores": scores,
        "model_calls": getattr(planner, "calls", 0),
        "fallbacks": getattr(planner, "fallbacks", 0),
    }
    run_dir.write_json("metrics.json", metrics)  # before the GIF: a second Ctrl-C while it encodes loses only the GIF
    run_dir.close()
    if frames and cfg.video:
        import imageio.v2 as imageio

        try:
            imageio.mimsave(run_dir.path / "episode.gif", frames, duration=0.1, loop=0)  # type: ignore[arg-type]
        except KeyboardInterrupt:
            interrupted = True
    mean = f"{np.mean(soups):.2f}" if soups else "-"
    console.print(f"soups per episode {soups} (mean {mean}), points {scores} -> {run_dir.path}", soft_wrap=True)
    if interrupted:
        print_error(console, f"interrupted in episode {episode}; metrics.json holds the {len(soups)} finished")
        sys.exit(130)

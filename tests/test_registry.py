"""One smoke test per registry entry: every world, env, planner and skill named in a table can be built and used."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import pytest
import torch

from ember.planners import PLANNERS
from ember.planners.llm.standin import StandInModel
from ember.planners.llm.testing import OpenAIStubServer, Scripted, StubReply
from ember.sims import ENVS, SKILL_DOMAINS, WORLDS, load_class, make_env, make_world
from ember.skills.library import REGISTRY, SkillLibrary


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_world_entry(name: str) -> None:
    with make_world(name, seed=0) as world:
        assert world.facts() and world.objects() and world.agents()
        world.advance()
        assert world.time() > 0
        assert SKILL_DOMAINS[name] in REGISTRY


@pytest.mark.parametrize("name", sorted(ENVS))
def test_env_entry(name: str) -> None:
    kwargs: dict[str, object] = {}
    if name == "hoi":  # the HOI env takes its plan factory from the caller (sims never imports planners)
        from ember.planners.hoi.template import template_plans

        kwargs["plans"] = template_plans
    env = make_env(name, num_envs=2, **kwargs)
    obs, _ = env.reset(seed=0)
    space = env.single_action_space
    discrete = not space.shape  # Discrete: (N,) indices
    obs, reward, *_ = env.step(torch.zeros(2, dtype=torch.long) if discrete else torch.zeros(2, space.shape[0]))
    assert reward.shape == (2,) and obs["policy"].shape[0] == 2
    env.close()


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_planner_entry(name: str) -> None:
    minecraft = name.startswith("minecraft")
    domain = "minecraft" if minecraft else "hoi" if name == "hoi" else "tabletop"
    skills = SkillLibrary.for_domain(domain)
    with contextlib.ExitStack() as stack:
        kwargs: dict[str, object] = {}
        if name == "llm":  # model planners talk to the local stand-in endpoint
            server = stack.enter_context(OpenAIStubServer(StandInModel(skills, k=0.0)))
            kwargs = {"base_url": server.base_url, "model": "stand-in"}
        if name == "minecraft_llm":  # an endpoint that fails: the planner falls back to the symbolic one
            server = stack.enter_context(OpenAIStubServer(Scripted([StubReply(status=500)])))
            kwargs = {"base_url": server.base_url, "model": "m", "fallback": "symbolic", "max_retries": 0}
        planner = load_class(PLANNERS[name])(skills, **kwargs)
        if minecraft:
            world = stack.enter_context(make_world("minecraft", seed=0, trees=0, obstacles=0))
            assert planner.plan("collect 1 dirt", world)["root"]
        elif name == "hoi":  # instructions for the HOI scene's objects
            world = stack.enter_context(make_world("hoi", seed=0))
            assert planner.plan("sit on the chair", world)["root"]["children"]
        else:
            world = stack.enter_context(make_world("tabletop", seed=0))
            assert planner.plan("put red in the tray", world)["root"]


@pytest.mark.parametrize(("domain", "skill"), [(d, s) for d, table in sorted(REGISTRY.items()) for s in sorted(table)])
def test_skill_entry(domain: str, skill: str) -> None:
    cls = SkillLibrary.for_domain(domain)[skill]
    assert cls.name == skill and cls.description
    cls.parsed_preconditions()
    cls.parsed_effects()


def test_importing_ember_sims_loads_no_engine() -> None:
    code = "import sys, ember.sims, ember.planners; print('pybullet' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


def test_unknown_registry_names_are_refused() -> None:
    with pytest.raises(KeyError, match="registered"):
        make_world("kitchen")
    with pytest.raises(KeyError, match="registered domains"):
        SkillLibrary.for_domain("kitchen")

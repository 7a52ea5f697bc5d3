"""The skill library: a table from skill names to lazily imported classes, and its JSON-Schema self-description."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ember.sims import load_class
from ember.skills.skill import Skill

REGISTRY: dict[str, dict[str, str]] = {
    "tabletop": {
        "close_gripper": "ember.skills.tabletop.skills:CloseGripper",
        "move_to": "ember.skills.tabletop.skills:MoveTo",
        "open_gripper": "ember.skills.tabletop.skills:OpenGripper",
        "pick": "ember.skills.tabletop.skills:Pick",
        "place": "ember.skills.tabletop.skills:Place",
        "push": "ember.skills.tabletop.skills:Push",
        "push_around": "ember.skills.tabletop.diffusion:PushAround",
        "push_learned": "ember.skills.tabletop.learned:LearnedPush",
    },
    "overcooked": {
        "deliver": "ember.skills.overcooked.skills:Deliver",
        "fetch": "ember.skills.overcooked.skills:Fetch",
        "fetch_dish": "ember.skills.overcooked.skills:FetchDish",
        "pick_from_counter": "ember.skills.overcooked.skills:PickFromCounter",
        "pick_up_soup": "ember.skills.overcooked.skills:PickUpSoup",
        "place_on_counter": "ember.skills.overcooked.skills:PlaceOnCounter",
        "put_in_pot": "ember.skills.overcooked.skills:PutInPot",
        "start_cooking": "ember.skills.overcooked.skills:StartCooking",
        "wait": "ember.skills.overcooked.skills:Wait",
    },
    "minecraft": {
        "chat": "ember.skills.minecraft.skills:Chat",
        "craft": "ember.skills.minecraft.skills:Craft",
        "explore": "ember.skills.minecraft.skills:Explore",
        "give": "ember.skills.minecraft.skills:Give",
        "goto": "ember.skills.minecraft.skills:Goto",
        "mine": "ember.skills.minecraft.skills:Mine",
        "place": "ember.skills.minecraft.skills:Place",
        "wait_for": "ember.skills.minecraft.skills:WaitFor",
        "wait_near": "ember.skills.minecraft.skills:WaitNear",
    },
    "hoi": {
        "hoi_stage": "ember.skills.hoi.scripted:StageSkill",
        "hoi_stage_learned": "ember.skills.hoi.learned:LearnedStageSkill",
    },
}
"""Skill sets by domain: skill name -> ``"module:Class"``, imported on first use."""


class SkillLibrary:
    """A named set of skill classes."""

    def __init__(self, skills: Iterable[type[Skill]]) -> None:
        self.skills: dict[str, type[Skill]] = {}
        for cls in skills:
            if cls.name in self.skills:
                raise ValueError(f"skill name {cls.name!r} is registered twice")
            self.skills[cls.name] = cls

    @classmethod
    def for_domain(cls, domain: str, overrides: Mapping[str, str] | None = None) -> SkillLibrary:
        """The registered skills of ``domain``, with ``overrides`` (name -> "module:Class") replacing or adding."""
        if domain not in REGISTRY:
            raise KeyError(f"skill domain {domain!r} is unknown; registered domains are {sorted(REGISTRY)}")
        table = {**REGISTRY[domain], **(overrides or {})}
        return cls(load_class(path) for _, path in sorted(table.items()))

    def __contains__(self, name: object) -> bool:
        return name in self.skills

    def __getitem__(self, name: str) -> type[Skill]:
        return self.skills[name]

    def names(self) -> list[str]:
        return sorted(self.skills)

    def json_schema(self) -> dict[str, Any]:
        """Every skill's JSON-Schema self-description (what LLM planners see)."""
        return {"skills": [self.skills[n].json_schema() for n in self.names()]}

"""A persistent library of composite skills learned from successful behavior trees (after Voyager), for every
backend: when a tree achieves a goal, its actions are stored as a new named skill with a description; later goals
retrieve skills by text similarity (BM25 over names, descriptions and goals, via ``rank_bm25``: a lexical retriever,
nothing to download) and run them like any other skill. No model-written code is ever executed: a composite is
data — the ordered skill calls of the tree that worked — replayed through the same skill library.

The store is one JSON file, written atomically; a file that does not parse is refused with its path and the fix,
never overwritten.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ember.sims.atomic import atomic_write_text
from ember.skills.library import SkillLibrary
from ember.skills.skill import RUNNING, Outcome, Skill, SkillError, Status

_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lowercase words, underscores split, simple plurals folded (``oak_logs`` -> ``oak``, ``log``)."""
    out = []
    for word in _WORD.findall(text.lower().replace("_", " ")):
        if len(word) > 3 and word.endswith("es") and not word.endswith("ses"):
            word = word[:-2] if word[-3] in "xsz" or word.endswith("ches") else word[:-1]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


def slug(text: str) -> str:
    return "_".join(_WORD.findall(text.lower()))[:60] or "skill"


class StoreError(ValueError):
    """The store file cannot be read; the message names the file and the fix."""


@dataclass
class Composite:
    """One learned skill: the ordered calls (``{"skill", "args"}``) one agent made to reach ``goal``."""

    name: str
    description: str
    domain: str
    goal: str
    steps: list[dict[str, Any]]
    uses: int = 0
    successes: int = 0
    created: float = field(default_factory=time.time)

    def text(self) -> str:
        return f"{self.name} {self.description} {self.goal}"


class SkillStore:
    """Args: path: the JSON file (created on the first :meth:`add`); ``None`` keeps the store in memory."""

    VERSION = 1

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.entries: dict[str, Composite] = {}
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text())
            if raw.get("version") != self.VERSION:
                raise ValueError(f"version {raw.get('version')!r}, expected {self.VERSION}")
            for item in raw["skills"]:
                entry = Composite(**item)
                if not entry.steps or not all(isinstance(s.get("skill"), str) for s in entry.steps):
                    raise ValueError(f"skill {entry.name!r} has no valid steps")
                self.entries[entry.name] = entry
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise StoreError(
                f"skill store {path} cannot be read ({err}); move it aside (nothing was changed) or point "
                "skill_store at another file"
            ) from err

    def save(self) -> None:
        if self.path is None:
            return
        data = {"version": self.VERSION, "skills": [asdict(e) for e in self.entries.values()]}
        atomic_write_text(self.path, json.dumps(data, indent=1) + "\n")

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Composite]:
        return iter(self.entries.values())

    # ------------------------------------------------------------------ learning
    def add(self, goal: str, plan: dict[str, Any], domain: str, agent: str | None = None) -> Composite | None:
        """Store the actions of a tree that achieved ``goal`` (those of ``agent`` first, then the others', chat
        and self-handovers dropped) as the skill ``slug(goal)``; an existing skill of that name keeps the shorter
        program. Returns the entry (None when the plan has no action)."""
        steps = [
            {"skill": node["skill"], "args": dict(node.get("args") or {})}
            for node in _actions(plan["root"], agent)
            if node["skill"] != "chat"
        ]
        if not steps:
            return None
        name = slug(goal)
        calls = ", ".join(f"{s['skill']}({', '.join(str(v) for v in s['args'].values())})" for s in steps)
        entry = Composite(name, f"{goal}: {calls}", domain, goal, steps)
        old = self.entries.get(name)
        if old is not None:
            old.successes += 1
            if len(steps) < len(old.steps):
                old.steps, old.description = steps, entry.description
            entry = old
        else:
            entry.successes = 1
            self.entries[name] = entry
        self.save()
        return entry

    def record_use(self, name: str, success: bool) -> None:
        entry = self.entries[name]
        entry.uses += 1
        entry.successes += int(success)
        self.save()

    # ------------------------------------------------------------------ retrieval
    def search(self, query: str, domain: str | None = None, k: int = 3) -> list[tuple[Composite, float]]:
        """The ``k`` skills most similar to ``query`` (BM25 scores, highest first; zero-score skills left out)."""
        pool = [e for e in self.entries.values() if domain is None or e.domain == domain]
        if not pool:
            return []
        from rank_bm25 import BM25Okapi

        bm25 = BM25Okapi([tokens(e.text()) for e in pool])
        scores = bm25.get_scores(tokens(query))
        ranked = sorted(zip(pool, scores, strict=True), key=lambda es: -es[1])
        # BM25's idf is zero or negative for words in most documents of a tiny pool: fall back to word overlap there.
        if len(pool) < 3:
            words = set(tokens(query))
            ranked = sorted(((e, float(len(words & set(tokens(e.text()))))) for e in pool), key=lambda es: -es[1])
        return [(e, float(s)) for e, s in ranked[:k] if s > 0]

    # ------------------------------------------------------------------ execution
    def library(self, base: SkillLibrary, domain: str) -> SkillLibrary:
        """``base`` plus this store's skills of ``domain`` (a stored name never shadows a base skill)."""
        extra = [composite_skill(e, base) for e in self.entries.values() if e.domain == domain and e.name not in base]
        return SkillLibrary([*base.skills.values(), *extra])


def _actions(node: dict[str, Any], agent: str | None) -> list[dict[str, Any]]:
    kind = node.get("type")
    if kind == "action":
        if node.get("skill") == "give" and agent is not None and node.get("args", {}).get("player") == agent:
            return []  # a hand-over to the performer itself
        return [node]
    children = list(node.get("children") or ([node["child"]] if "child" in node else []))
    if kind == "parallel" and agent is not None:  # the performer's own branch first
        children.sort(key=lambda c: 0 if any(a.get("agent") == agent for a in _actions(c, None)) else 1)
    return [a for c in children for a in _actions(c, agent)]


class CompositeSkill(Skill):
    """Runs a stored program: each step's skill in turn, for the calling agent. Fails with the failing step's
    reason."""

    composite: ClassVar[Composite]
    base: ClassVar[SkillLibrary]

    def _start(self) -> None:
        self.index = 0
        self.current: Skill | None = None

    def tick(self) -> Outcome:
        failed = self.unmet_preconditions_outcome()
        if failed is not None:
            return failed
        assert self.ctx is not None
        steps = self.composite.steps
        while self.index < len(steps):
            step = steps[self.index]
            if self.current is None:
                if step["skill"] not in self.base:
                    return Outcome(
                        Status.FAILURE, f"{self.name}: step {self.index + 1} uses unknown skill {step['skill']!r}"
                    )
                self.current = self.base[step["skill"]](**self.settings)
                try:
                    self.current.start(self.ctx.world, self.ctx.agent, **step["args"])
                except SkillError as err:
                    return Outcome(Status.FAILURE, f"{self.name}: step {self.index + 1}: {err}")
            outcome = self.current.tick()
            if outcome.status == Status.RUNNING:
                return RUNNING
            self.current = None
            if outcome.status == Status.FAILURE:
                return Outcome(
                    Status.FAILURE, f"{self.name}: step {self.index + 1} ({step['skill']}): {outcome.reason}"
                )
            self.index += 1
        return Outcome(Status.SUCCESS)

    def cancel(self) -> None:
        if self.current is not None:
            self.current.cancel()


def composite_skill(entry: Composite, base: SkillLibrary) -> type[Skill]:
    """A :class:`CompositeSkill` subclass for ``entry`` (no parameters; the agent is the caller)."""
    return type(
        f"Composite_{entry.name}",
        (CompositeSkill,),
        {"name": entry.name, "description": f"learned: {entry.description}", "composite": entry, "base": base},
    )

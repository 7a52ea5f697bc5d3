"""Contract 2 — the world: a backend's skill-level face (../shared/DESIGN.md).

Simulators and real robots implement the same :class:`World`, so a plan runs unchanged on either. The executor calls
:meth:`World.advance` once per tree tick; skills read :meth:`World.observe` and queue actions with :meth:`World.apply`,
and never step the world themselves.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ember.sims.predicates import Atom


@dataclass(frozen=True)
class ObjectInfo:
    """One object of the world."""

    id: str
    """Unique object id used in predicates and plans (``red_cube``)."""
    type: str
    """Object type used for typed skill parameters (``cube``, ``surface``, ``container``)."""
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """World-frame position [m]."""
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    """World-frame orientation as a quaternion (x, y, z, w)."""
    movable: bool = True
    """Whether skills may pick or push it."""
    attributes: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific extras (color, size [m], ...)."""


@dataclass(frozen=True)
class DerivedRule:
    """A derived predicate: ``head`` holds for an object unless some fact matches ``blocked_by``.

    ``clear(?x)`` is derived as "no ``on(?_, ?x)``": planners use the rule to recompute the predicate after simulated
    effects, and to see that achieving ``clear(x)`` means removing each fact that blocks it. Objects of a type in
    ``always_for_types`` (a tray, the table) satisfy the head regardless.
    """

    head: Atom
    blocked_by: Atom
    always_for_types: tuple[str, ...] = ()


class WorldError(RuntimeError):
    """A request the world cannot serve; the message names the field, the value and the fix."""


class World(ABC):
    """Skill-level interface of a simulator or robot."""

    control_dt: float
    """Seconds of world time per :meth:`advance` [s]."""

    @abstractmethod
    def facts(self) -> frozenset[Atom]:
        """The symbolic state: ``on(red_cube, tray)``, ``holding(panda, none)``, ``clear(blue_cube)``."""

    @abstractmethod
    def objects(self) -> dict[str, ObjectInfo]:
        """Every object, keyed by id."""

    @abstractmethod
    def agents(self) -> list[str]:
        """Agent ids (robots, characters, bots)."""

    @abstractmethod
    def render(self) -> np.ndarray:
        """RGB image, ``(H, W, 3)`` uint8, for videos and VLMs."""

    @abstractmethod
    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """That agent's observation by group (``policy``, ``critic`` where privileged state exists), laid out as the
        env contract lays out one env's row."""

    @abstractmethod
    def apply(self, agent: str, action: Mapping[str, Any]) -> None:
        """Queue a low-level action for ``agent``; it takes effect at the next :meth:`advance`."""

    @abstractmethod
    def advance(self) -> None:
        """Move the world one control period with every agent's queued action."""

    @abstractmethod
    def time(self) -> float:
        """World time [s] since the last reset."""

    def derived_rules(self) -> tuple[DerivedRule, ...]:
        """Rules for the derived predicates this world reports (none by default)."""
        return ()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engine or connection resources."""

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

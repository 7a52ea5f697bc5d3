"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import make_world

from ember.sims.pybullet.tabletop_world import TabletopWorld
from ember.skills.library import SkillLibrary


@pytest.fixture
def world() -> Iterator[TabletopWorld]:
    w = make_world()
    yield w
    w.close()


@pytest.fixture(scope="session")
def skills() -> SkillLibrary:
    return SkillLibrary.for_domain("tabletop")

"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

# Ray, where a test starts one, listens on 127.0.0.1 only (read when ``ray`` is imported; ../shared/notes/scale.md).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

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

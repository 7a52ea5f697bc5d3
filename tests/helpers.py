"""Test helpers: small real worlds built with keyword overrides."""

from __future__ import annotations

from typing import Any

from ember.sims.pybullet.tabletop_world import TabletopWorld


def make_world(**overrides: Any) -> TabletopWorld:
    settings: dict[str, Any] = {"seed": 0, "arrangement": "scattered"}
    settings.update(overrides)
    return TabletopWorld(**settings)

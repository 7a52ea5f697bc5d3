"""Test helpers: small real worlds built with keyword overrides."""

from __future__ import annotations

import re
import signal
from typing import Any

from ember.sims.pybullet.tabletop_world import TabletopWorld


def plain(text: str) -> str:
    """``text`` without ANSI colour codes (the CLI's rich output carried them in clean-clone CI runs)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def make_world(**overrides: Any) -> TabletopWorld:
    settings: dict[str, Any] = {"seed": 0, "arrangement": "scattered"}
    settings.update(overrides)
    return TabletopWorld(**settings)


# cramped_room: chef0 starts at (1, 2), onions at (0, 1) and (4, 1), pot (2, 0), dishes (1, 3), serving (3, 3).
ONION_TO_POT = ["left", "interact", "right", "up", "interact"]
SOUP_BY_CHEF0 = (
    ["up", *ONION_TO_POT[0:]]
    + ONION_TO_POT
    + ONION_TO_POT
    + ["left", "down", "down", "interact", "up", "right", "up"]
    + ["stay"] * 12
    + ["interact", "down", "right", "down", "interact"]
)


def default_sigint() -> None:
    """``preexec_fn`` of a child a test sends Ctrl-C: SIGINT back to its default. A shell that runs the suite as a
    background job (``bash .ci/run &``) ignores SIGINT, every child inherits that, and Python then never raises
    KeyboardInterrupt, so the test would see a run that ignored Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

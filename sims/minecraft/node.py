"""Where Ember's Node side lives: the project's ``node_modules`` (installed by ``npm ci`` from ``package-lock.json``)
and the scripts in ``sims/minecraft/js``. Nothing here installs anything: a missing module is an error that says to
run ``npm ci``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

JS_DIR = Path(__file__).parent / "js"
REQUIRED = ("flying-squid", "mineflayer", "mineflayer-pathfinder", "minecraft-data", "vec3")


class NodeSetupError(RuntimeError):
    """Node or the project's Node packages are missing; the message says how to install them."""


def project_root() -> Path:
    """The checkout holding ``package.json`` (the parent of ``sims/``)."""
    return Path(__file__).resolve().parents[2]


def node_modules() -> Path:
    """``$EMBER_NODE_MODULES`` if set, else ``<project>/node_modules``; checked for the packages Ember needs."""
    folder = Path(os.environ.get("EMBER_NODE_MODULES") or project_root() / "node_modules")
    absent = [name for name in REQUIRED if not (folder / name / "package.json").is_file()]
    if absent:
        raise NodeSetupError(
            f"node packages {absent} are missing from {folder}; run `npm ci` in {project_root()} (the README's "
            "install command does), or set EMBER_NODE_MODULES to a node_modules that has them"
        )
    return folder


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise NodeSetupError("`node` is not on PATH; install Node.js 18 or newer (apt install nodejs)")
    return found


def node_env() -> dict[str, str]:
    """The environment for Node processes: ``NODE_PATH`` at the project's modules, so nothing is resolved elsewhere."""
    env = dict(os.environ)
    env["NODE_PATH"] = str(node_modules())
    return env

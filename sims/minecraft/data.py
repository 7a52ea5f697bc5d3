"""Minecraft game data (items, blocks with drops and harvest tools, crafting recipes) read in Python from the
``minecraft-data`` npm package in the project's ``node_modules`` — the same files mineflayer and flying-squid use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ember.sims.minecraft.node import node_modules


@dataclass(frozen=True)
class Recipe:
    """One crafting recipe: ``ingredients`` item name -> count per craft, ``count`` items made per craft."""

    result: str
    count: int
    ingredients: tuple[tuple[str, int], ...]
    needs_table: bool


OLDEST = (1, 19)
"""The oldest version whose minecraft-data this loader reads right. Before it the block drops are missing (1.18),
name blocks by id (1.13, 1.16.2-1.17), list the silk-touch drop beside the usual one (1.14-1.16.1: stone drops stone
and cobblestone) or use the pre-1.13 format (1.12 and older: ``drops`` of ``{"drop": id}``, no ``oak_log``)."""
NEWEST = (1, 21, 4)
"""The newest version mineflayer (the bots) and flying-squid (the local server) are tested with."""


def _release(version: str) -> tuple[int, ...] | None:
    return tuple(int(p) for p in version.split(".")) if re.fullmatch(r"\d+\.\d+(?:\.\d+)?", version) else None


def _releases() -> list[str]:
    """The releases minecraft-data knows (no snapshots), oldest first."""
    paths = json.loads((data_dir() / "dataPaths.json").read_text())["pc"]
    return sorted((v for v in paths if _release(v) is not None), key=lambda v: _release(v) or ())


def supported_versions() -> list[str]:
    """Releases Ember plays: minecraft-data has them in a form the loader reads, and the bots and server speak them."""
    return [v for v in _releases() if OLDEST <= (_release(v) or ()) <= NEWEST]


def check_version(version: str, field: str = "version") -> None:
    """Raise ValueError naming ``field``, the version and the supported ones unless Ember supports ``version``."""
    supported = supported_versions()
    if version in supported:
        return
    if version not in _releases():
        why = "is not a Minecraft release minecraft-data knows"
    else:
        why = "is not supported"
    hint = ""
    if f"{version}0" in supported:  # Hydra reads task.version=1.20 as the number 1.2
        hint = f"; for {version}0 quote it: {field}='{version}0'"
    raise ValueError(f"{field}={version} {why} (supported: {', '.join(supported)}){hint}")


class MinecraftData:
    """Args: version: a Minecraft version Ember supports (:func:`supported_versions`, e.g. ``1.20.4``)."""

    def __init__(self, version: str) -> None:
        check_version(version)
        root = data_dir()
        paths = json.loads((root / "dataPaths.json").read_text())["pc"]
        self.version = version
        files = paths[version]

        def load(kind: str) -> Any:
            return json.loads((root / files[kind] / f"{kind}.json").read_text())

        self.items: dict[str, dict[str, Any]] = {i["name"]: i for i in load("items")}
        self.item_names = {i["id"]: i["name"] for i in self.items.values()}
        self.blocks: dict[str, dict[str, Any]] = {b["name"]: b for b in load("blocks")}
        self.recipes: dict[str, list[Recipe]] = {}
        for variants in load("recipes").values():
            for raw in variants:
                recipe = self._recipe(raw)
                if recipe is not None:
                    self.recipes.setdefault(recipe.result, []).append(recipe)
        self._sources: dict[str, list[str]] = {}
        for block, info in self.blocks.items():
            if info.get("diggable", True):
                for item in self.drops(block):
                    self._sources.setdefault(item, []).append(block)

    def _name(self, cell: Any) -> str | None:
        if cell is None or cell == -1:
            return None
        if isinstance(cell, dict):
            cell = cell.get("id")
        return self.item_names.get(int(cell))

    def _recipe(self, raw: dict[str, Any]) -> Recipe | None:
        result = raw["result"]
        name = self._name(result["id"] if isinstance(result, dict) else result)
        count = int(result.get("count", 1)) if isinstance(result, dict) else 1
        counts: dict[str, int] = {}
        if "inShape" in raw:
            rows = raw["inShape"]
            cells = [self._name(c) for row in rows for c in row]
            needs_table = len(rows) > 2 or any(len(row) > 2 for row in rows)
        else:
            cells = [self._name(c) for c in raw.get("ingredients", [])]
            needs_table = len(cells) > 4
        for cell in cells:
            if cell is not None:
                counts[cell] = counts.get(cell, 0) + 1
        if name is None or not counts:
            return None
        return Recipe(name, count, tuple(sorted(counts.items())), needs_table)

    def drops(self, block: str) -> list[str]:
        """Item names the block drops when mined (``air``, which minecraft-data lists for stems that drop nothing, is
        no drop)."""
        ids = self.blocks[block].get("drops") or []
        names = [self.item_names[d if isinstance(d, int) else d["drop"]["id"]] for d in ids if d is not None]
        return [n for n in names if n != "air"]

    def harvest_tools(self, block: str) -> list[str]:
        """Tools (item names) that harvest the block; empty when the hand does."""
        tools = self.blocks[block].get("harvestTools") or {}
        return [self.item_names[int(t)] for t in tools]

    def sources(self, item: str) -> list[str]:
        """Blocks that drop ``item`` when mined (the block named like the item first)."""
        return sorted(self._sources.get(item, []), key=lambda b: (b != item, b))

    def natural_sources(self, item: str) -> list[str]:
        """Blocks dropping ``item`` that no crafting recipe makes and that are items themselves (ores, logs, flowers:
        what a world generates; not storage blocks such as coal_block, nor placed forms such as wall_torch): the ones
        worth exploring for. Blocks both generated and craftable (prismarine, bone_block) are mined when near but not
        explored for."""
        return [b for b in self.sources(item) if b not in self.recipes and b in self.items]

    def stored(self, item: str) -> bool:
        """True when every recipe for ``item`` unpacks a storage block made of it (coal from coal_block): such an
        item is a raw resource, got by mining, not by crafting."""
        recipes = self.recipes.get(item, [])
        return bool(recipes) and all(
            len(r.ingredients) == 1
            and r.ingredients[0][1] == 1
            and all(i == item for p in self.recipes.get(r.ingredients[0][0], []) for i, _ in p.ingredients)
            for r in recipes
        )

    def is_item(self, name: str) -> bool:
        return name in self.items


@cache
def game_data(version: str) -> MinecraftData:
    return MinecraftData(version)


def data_dir() -> Path:
    return node_modules() / "minecraft-data" / "minecraft-data" / "data"

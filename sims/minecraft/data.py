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


class MinecraftData:
    """Args: version: a Minecraft version minecraft-data knows (``1.20.4``)."""

    def __init__(self, version: str) -> None:
        root = node_modules() / "minecraft-data" / "minecraft-data" / "data"
        paths = json.loads((root / "dataPaths.json").read_text())["pc"]
        if version not in paths:
            releases = sorted(
                (v for v in paths if re.fullmatch(r"\d+\.\d+(?:\.\d+)?", v)),
                key=lambda v: tuple(int(p) for p in v.split(".")),
            )
            raise ValueError(
                f"version={version!r} is unknown to minecraft-data; e.g. 1.20.4 (releases it knows: {releases[0]} to "
                f"{releases[-1]})"
            )
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
        """Item names the block drops when mined."""
        ids = self.blocks[block].get("drops") or []
        return [self.item_names[d if isinstance(d, int) else d["drop"]["id"]] for d in ids if d is not None]

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

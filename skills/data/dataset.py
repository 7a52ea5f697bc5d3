"""Episode datasets for imitation learning: a zarr v3 directory, one group per episode, chunked along time.

Layout::

    PATH/                      zarr group; attrs: format, version, fields {name: {shape, dtype}}, meta {...}
      episodes/episode_000000/ zarr group; attrs: length, success, plus what the recorder adds (seed, side, ...)
        <field>                array (length, *shape), chunks of ``chunk_steps`` steps
      _staging/                episodes being written (not part of the dataset)

An episode is written whole into ``_staging/`` and then renamed into ``episodes/`` (one atomic directory rename), so a
recording killed at any moment loses at most the episode it was writing. A writer holds an exclusive lock on
``_writer.lock`` while it lives (the OS drops it when the process dies); opening the dataset sweeps ``_staging/`` only
when no writer holds the lock, so reading a dataset during a recording never deletes the episode being written.
Every field, shape and dtype is checked on the way in, and a damaged or foreign directory is refused with what is
wrong and how to fix it.
"""

from __future__ import annotations

import os
import re
import shutil
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "ember-episodes"
VERSION = 1
_EPISODE = re.compile(r"^episode_(\d{6})$")


class DatasetError(ValueError):
    """A dataset that cannot be read or an episode that does not fit it; the message says which field and why."""


@dataclass(frozen=True)
class Field:
    """One per-step array of every episode: its shape per step and dtype."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}


def _zarr() -> Any:
    import zarr

    return zarr


_HELD: dict[str, list[Any]] = {}
"""Writer locks this process holds: resolved dataset path -> [locked file handle, number of writers]."""


def _try_lock(folder: Path, writer: bool) -> Any:
    """Lock ``folder/_writer.lock`` exclusively. A writer shares the lock with other writers of this process (they
    append in turn) and keeps it until :func:`_release`; a reader gets a handle to close, or None while any writer
    (of this process or another) holds the lock."""
    import fcntl

    key = str(folder.resolve())
    if key in _HELD:
        if not writer:
            return None
        _HELD[key][1] += 1
        return key
    handle = (folder / "_writer.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    if not writer:
        return handle
    _HELD[key] = [handle, 1]
    return key


def _release(key: str) -> None:
    held = _HELD.get(key)
    if held is not None:
        held[1] -= 1
        if held[1] == 0:
            held[0].close()
            del _HELD[key]


APPENDABLE = ("seed", "action_noise")
"""Settings a recording appended to a dataset may change; the root meta lists every recording's."""


class EpisodeWriter:
    """Append episodes to a dataset, creating it when absent (and refusing one whose fields differ).

    Args:
        path: dataset directory.
        fields: per-step arrays every episode has.
        meta: what the dataset is (task, env config, controller, ...); stored in the root attributes.
        chunk_steps: time steps per chunk.
    """

    def __init__(
        self,
        path: str | Path,
        fields: Mapping[str, Field],
        meta: Mapping[str, Any] | None = None,
        chunk_steps: int = 64,
    ) -> None:
        zarr = _zarr()
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        key = _try_lock(self.path, writer=True)
        if key is None:
            raise DatasetError(f"{self.path} is being written by another recording; wait for it or record elsewhere")
        self.close = weakref.finalize(self, _release, key)
        """Release the writer lock (also done when the writer is garbage-collected or the process ends)."""
        self.fields = dict(fields)
        self.chunk_steps = chunk_steps
        wanted = {name: f.to_json() for name, f in self.fields.items()}
        if (self.path / "zarr.json").is_file():
            existing = EpisodeDataset(self.path)
            if existing.field_specs != wanted:
                raise DatasetError(
                    f"{self.path} already holds episodes with fields {existing.field_specs}, not {wanted}; "
                    "record into a new path or delete it"
                )
            if meta:
                self._append_meta(existing.meta, dict(meta))
        else:
            root = zarr.open_group(str(self.path), mode="a")
            root.attrs.update({"format": FORMAT, "version": VERSION, "fields": wanted, "meta": dict(meta or {})})
            root.require_group("episodes")
        self._next = 1 + max(EpisodeDataset(self.path).indices(), default=-1)

    def _append_meta(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Appending: what the dataset is must match (task, env, controller); each recording's own settings
        (``APPENDABLE``: seed, action noise) are kept in the root meta's ``recordings``; a seed already recorded
        with the same settings would repeat its episodes and is refused."""
        differs = sorted(k for k in (set(old) | set(new)) - {"recordings"} if old.get(k) != new.get(k))
        fixed = [k for k in differs if k not in APPENDABLE]
        if fixed:
            k = fixed[0]
            raise DatasetError(
                f"{self.path} was recorded with {k}={old.get(k)!r}, this recording has {k}={new.get(k)!r}; "
                "record into a new path"
            )
        recordings = old.get("recordings") or [{k: old.get(k) for k in APPENDABLE}]
        this = {k: new.get(k) for k in APPENDABLE}
        if this in recordings:
            raise DatasetError(
                f"{self.path} already holds a recording with {this}: the same episodes again; pass another --seed"
            )
        root = _zarr().open_group(str(self.path), mode="a")
        root.attrs["meta"] = {**old, "recordings": [*recordings, this]}

    def add(self, steps: Mapping[str, np.ndarray], **attrs: Any) -> int:
        """Write one episode (``steps[name]`` of shape ``(length, *field.shape)``); returns its index."""
        missing = sorted(set(self.fields) - set(steps))
        extra = sorted(set(steps) - set(self.fields))
        if missing or extra:
            raise DatasetError(f"episode fields do not match the dataset: missing {missing}, unknown {extra}")
        lengths = {name: len(np.asarray(v)) for name, v in steps.items()}
        length = next(iter(lengths.values()))
        if len(set(lengths.values())) != 1 or length == 0:
            raise DatasetError(f"every field needs the same number of steps (> 0); got {lengths}")
        for name, f in self.fields.items():
            arr = np.asarray(steps[name])
            if arr.shape[1:] != f.shape:
                raise DatasetError(f"field {name!r}: steps have shape {arr.shape[1:]}, the dataset's is {f.shape}")
            if not np.all(np.isfinite(arr)):
                raise DatasetError(f"field {name!r} holds NaN or inf; such an episode is not written")
        zarr = _zarr()
        index = self._next
        name = f"episode_{index:06d}"
        staging = self.path / "_staging" / name
        shutil.rmtree(staging, ignore_errors=True)
        group = zarr.open_group(str(staging), mode="w")
        for field, f in self.fields.items():
            arr = np.asarray(steps[field], dtype=f.dtype)
            out = group.create_array(
                field,
                shape=arr.shape,
                chunks=(self.chunk_steps, *f.shape),
                dtype=f.dtype,
                config={"write_empty_chunks": True},  # every chunk a file, so a lost one can be told from zeros
            )
            out[...] = arr
        group.attrs.update({"length": length, **attrs, "_every_chunk": True})
        os.replace(staging, self.path / "episodes" / name)
        self._next += 1
        return index


class EpisodeDataset:
    """Read a dataset written by :class:`EpisodeWriter`."""

    def __init__(self, path: str | Path) -> None:
        zarr = _zarr()
        self.path = Path(path)
        if not (self.path / "zarr.json").is_file():
            raise DatasetError(f"{self.path} is not a dataset (no zarr.json); record one with `ember data record`")
        try:
            root = zarr.open_group(str(self.path), mode="r")
            attrs = dict(root.attrs)
        except Exception as err:
            raise DatasetError(
                f"{self.path}: the root metadata cannot be read ({err}); the dataset is damaged"
            ) from err
        if attrs.get("format") != FORMAT:
            raise DatasetError(f"{self.path}: format is {attrs.get('format')!r}, expected {FORMAT!r}")
        if attrs.get("version") != VERSION:
            raise DatasetError(f"{self.path}: version {attrs.get('version')!r} is not readable here (reads {VERSION})")
        self.field_specs: dict[str, Any] = attrs["fields"]
        self.meta: dict[str, Any] = attrs.get("meta", {})
        staging = self.path / "_staging"
        if staging.is_dir() and os.access(self.path, os.W_OK):
            lock = _try_lock(self.path, writer=False)
            if lock is not None:  # no live writer: these are episodes a killed recording never finished
                shutil.rmtree(staging, ignore_errors=True)
                lock.close()

    def indices(self) -> list[int]:
        folder = self.path / "episodes"
        if not folder.is_dir():
            return []
        found = (_EPISODE.match(p.name) for p in folder.iterdir() if (p / "zarr.json").is_file())
        return sorted(int(m.group(1)) for m in found if m)

    def __len__(self) -> int:
        return len(self.indices())

    def episode(self, index: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays by field, attributes)`` of one episode."""
        zarr = _zarr()
        where = self.path / "episodes" / f"episode_{index:06d}"
        try:
            group = zarr.open_group(str(where), mode="r")
            # a chunk file that is gone reads as the fill value (zeros) without an error: count them first
            every = bool(group.attrs.get("_every_chunk", False))  # episodes written before: all-zero chunks unwritten
            lost = [n for n in self.field_specs if every and group[n].nchunks_initialized < group[n].nchunks]
            arrays = {name: np.asarray(group[name][...]) for name in self.field_specs}
        except Exception as err:
            raise DatasetError(f"{where} cannot be read ({type(err).__name__}: {err}); delete that episode") from err
        if lost:
            raise DatasetError(f"{where}: chunk files of {lost} are missing (damaged); delete that episode")
        return arrays, {k: v for k, v in group.attrs.items() if k != "_every_chunk"}

    def __iter__(self) -> Iterator[tuple[dict[str, np.ndarray], dict[str, Any]]]:
        for index in self.indices():
            yield self.episode(index)

    def info(self) -> dict[str, Any]:
        """A summary: episodes, steps, success rate, fields, what the recorder stored about the data."""
        lengths: list[int] = []
        successes: list[bool] = []
        extra: dict[str, dict[str, int]] = {}
        for _, attrs in self:
            lengths.append(int(attrs["length"]))
            successes.append(bool(attrs.get("success", False)))
            for key, value in attrs.items():
                if key not in ("length", "success") and isinstance(value, str | int | float | bool):
                    if isinstance(value, str | bool) or key == "side":
                        counts = extra.setdefault(key, {})
                        counts[str(value)] = counts.get(str(value), 0) + 1
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {
            "path": str(self.path),
            "episodes": len(lengths),
            "steps": int(sum(lengths)),
            "length": {"min": min(lengths), "mean": float(np.mean(lengths)), "max": max(lengths)} if lengths else None,
            "success_rate": float(np.mean(successes)) if successes else None,
            "fields": self.field_specs,
            "counts": extra,
            "meta": self.meta,
            "bytes": size,
        }

"""The run directory: resolved config, ``trace.jsonl``, ``metrics.json``, and a video of the episode.

Files that are rewritten (metrics) go through a temp file and a rename, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ember.sims.atomic import atomic_write_text

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


class RunDir:
    """One run's folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        for n in range(2, 1000):
            try:  # exclusive: a run started in the same second (the same timestamped folder) gets its own folder
                self._trace = (self.path / "trace.jsonl").open("x", buffering=1)
                break
            except FileExistsError:
                taken, self.path = self.path, Path(path).with_name(f"{Path(path).name}_{n}")
                self.path.mkdir(parents=True, exist_ok=True)
                log.warning("%s holds another run; this one writes to %s", taken, self.path)
        else:
            raise FileExistsError(f"{path} and 998 folders beside it hold runs; give hydra.run.dir=<a new folder>")

    def trace(self, event: dict[str, Any]) -> None:
        """Append one event as a JSON line (line-buffered, so a crash loses at most the line being written)."""
        self._trace.write(json.dumps(event, default=_jsonable) + "\n")

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        atomic_write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        atomic_write_text(path, text)
        return path

    def close(self) -> None:
        self._trace.close()


class VideoWriter:
    """Streams RGB frames to ``episode.mp4`` (H.264 through imageio-ffmpeg's bundled binary), else ``episode.gif``."""

    def __init__(self, folder: Path, fps: float) -> None:
        self.folder = folder
        self.fps = fps
        self.path: Path | None = None
        self._writer: Any = None
        self._frames: list[np.ndarray] = []
        self.count = 0

    def add(self, frame: np.ndarray) -> None:
        self.count += 1
        if self._writer is None and not self._frames:
            try:
                import imageio.v2 as imageio

                self.path = self.folder / "episode.mp4"
                self._writer = imageio.get_writer(
                    self.path, fps=self.fps, codec="libx264", quality=7, macro_block_size=8, ffmpeg_log_level="error"
                )
            except Exception as err:
                log.warning("MP4 encoder unavailable (%s); writing a GIF instead", err)
                self._writer = None
        if self._writer is not None:
            self._writer.append_data(frame)
        else:
            self._frames.append(frame)

    def close(self) -> Path | None:
        if self._writer is not None:
            self._writer.close()
        elif self._frames:
            import imageio.v2 as imageio

            self.path = self.folder / "episode.gif"
            imageio.mimsave(self.path, self._frames, duration=1.0 / self.fps, loop=0)  # type: ignore[arg-type]
        return self.path

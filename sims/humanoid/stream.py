"""Recorded or live head/hand tracker streams, checked and put on the character's 30 Hz grid.

A stream is a sequence of :class:`TrackerSample`: a timestamp [s] and, per tracker (``sparse.TRACKERS``: head,
left_hand, right_hand), a position [m] and orientation (w, x, y, z) in the Z-up world frame — or nothing, when that
tracker did not report. Anything that yields samples is a :class:`TrackerSource` (a file here; a VR runtime or a ROS
``PoseStamped`` subscriber implements the same one method).

Files (``read_tracker_file``):

- JSON lines: ``{"t": 0.033, "head": {"pos": [x, y, z], "quat": [w, x, y, z]}, "left_hand": {...}, ...}``; a tracker
  that is absent or ``null`` did not report.
- CSV with a header: ``t, head_x, head_y, head_z, head_qw, head_qx, head_qy, head_qz, left_hand_x, ...``; empty cells
  mean the tracker did not report.

Rules: a timestamp that is not a finite number of seconds (a JSON number, not a string) or not after the previous
one is an error naming the line, and so are a pose with only one of pos/quat, a pose value that is a string rather than
a number, and a CSV row whose width differs from the header's; a sample with NaN/inf (or a number too large for a
float) or a quaternion that is not a rotation (norm far from 1) counts as a dropout of that tracker; a tracker that
never reports is an error. A stream that cannot be a person in meters, Z up, with timestamps in seconds is refused with
the likely cause: a median head height outside 0.2-3 m, hands more than 2 m from the head, samples a median of more
than ``MAX_GAP_S`` apart (timestamps in milliseconds), a gap of more than ``MAX_GAP_S`` without any tracker reporting
(named by its line), or fewer than ``MIN_COVERAGE`` of the grid's frames with a report (a stream slower than the grid);
so are streams of fewer than two samples or spanning less than ``MIN_FRAMES`` grid frames, and files that are not UTF-8
text.
:func:`resample` puts reports on the 30 Hz grid (the newest report at or before each grid time, if it is less than a
period old; otherwise that tracker is missing there), and :func:`~.sparse.hold_last` then holds the last valid pose
through dropouts, as a runtime would.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ember.sims.humanoid.sparse import TRACKERS, SparseSignals

MAX_GAP_S = 2.0
"""Longest time [s] without any tracker reporting that a stream may have (a dropout is held; longer is another take)."""
MIN_COVERAGE = 0.5
"""Smallest share of the grid's frames at which some tracker has a fresh report (a 60-90 Hz VR stream: all of them)."""
MIN_FRAMES = 3
"""Fewest grid frames a stream must span (the policy looks two frames ahead)."""


class StreamError(ValueError):
    """A tracker stream that cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True)
class TrackerSample:
    t: float
    """Timestamp [s]."""
    pos: np.ndarray
    """(K, 3) [m]; NaN rows where a tracker did not report."""
    quat: np.ndarray
    """(K, 4) (w, x, y, z); NaN rows where a tracker did not report."""
    where: str = ""
    """Where the sample came from (``file:line``), for errors; empty for live sources."""


class _HugeNumber:
    """A JSON number too large for a float (``1e400``, or an integer of hundreds of digits, which Python's ``int``
    refuses past 4300 digits): kept as its text so an error can show it; a pose value of it is a dropout, as inf is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        digits = sum(c.isdigit() for c in self.text)
        return f"{self.text[:12]}... ({digits} digits)" if len(self.text) > 24 else self.text


def _parse_int(text: str) -> int | _HugeNumber:
    if len(text) <= 300:  # below 1e300: fits a float
        return int(text)
    try:
        value = int(text)
        float(value)
    except (ValueError, OverflowError):
        return _HugeNumber(text)
    return value


def _parse_float(text: str) -> float | _HugeNumber:
    value = float(text)
    return value if math.isfinite(value) else _HugeNumber(text)


def _at(sample: TrackerSample) -> str:
    """The sample's place for an error: ``file:line (t=...)``."""
    return f"{sample.where} (t={sample.t:.6g})" if sample.where else f"the sample at t={sample.t:.6g}"


class TrackerSource(Protocol):
    """Anything that yields tracker samples in time order (a file, a VR runtime, a ROS subscriber)."""

    def samples(self) -> Iterator[TrackerSample]: ...


def _pose(where: str, pos: Sequence[object] | None, quat: Sequence[object] | None) -> tuple[np.ndarray, np.ndarray]:
    """One tracker's pose, or NaN rows when it did not report or reported something that is not a pose."""
    missing = np.full(3, np.nan), np.full(4, np.nan)
    if pos is None and quat is None:
        return missing
    if pos is None or quat is None:
        raise StreamError(
            f"{where}: a pose needs both pos (x, y, z) and quat (w, x, y, z); this one has only "
            f"{'quat' if pos is None else 'pos'} (leave the tracker out, or null, when it did not report)"
        )
    arrays = []
    for name, values, n in (("pos", pos, 3), ("quat", quat, 4)):
        if isinstance(values, list | tuple):
            for i, v in enumerate(values):
                if isinstance(v, str | bool):
                    raise StreamError(
                        f"{where}: {name}[{i}]={_shown(v)} is not a number; give pos as 3 numbers and quat as 4 "
                        "(w, x, y, z), without quotes"
                    )
            values = [math.inf if isinstance(v, _HugeNumber) else v for v in values]  # too large: a dropout
        try:
            arrays.append(np.asarray(values, dtype=np.float64).reshape(n))
        except (TypeError, ValueError) as err:
            raise StreamError(f"{where}: pos must be 3 numbers and quat 4 numbers (w, x, y, z); {err}") from err
    p, q = arrays
    norm = float(np.linalg.norm(q))
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))) or abs(norm - 1.0) > 0.1:
        return missing  # NaN/inf or a non-rotation: a dropout of this tracker
    return p, q / norm


def _shown(value: object) -> str:
    """``repr(value)``, shortened: a CSV cell of 5000 digits is no message."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _time(where: str, value: object, previous: float, cell: bool = False) -> float:
    """The timestamp of a JSON line (``cell``: of a CSV cell, which is text) after the ``previous`` one."""
    if isinstance(value, _HugeNumber):
        raise StreamError(f"{where}: t={value!r} is too large for seconds; give seconds as a finite number")
    if isinstance(value, bool) or not (cell or isinstance(value, int | float)):
        quotes = ", without quotes" if isinstance(value, str) else ""
        raise StreamError(f"{where}: t={_shown(value)} is not a number; give seconds as a number{quotes}")
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise StreamError(f"{where}: t={_shown(value)} is not a number; give seconds as a number") from err
    if not math.isfinite(t):
        raise StreamError(f"{where}: t={_shown(value)} is not finite; give seconds as a finite number")
    if t <= previous:
        raise StreamError(f"{where}: t={t} is not after the previous sample's t={previous}; timestamps must increase")
    return t


class FileSource:
    """Samples from a JSON-lines (``.jsonl``/``.json``) or CSV (``.csv``) file (module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not str(path).strip():
            raise StreamError(f"input={str(path)!r} is empty; give a .jsonl or .csv tracker recording")
        if not self.path.is_file():
            what = "a directory" if self.path.is_dir() else "no such file"
            raise StreamError(f"input={str(path)!r}: {what}; give a .jsonl or .csv tracker recording")
        if self.path.suffix.lower() not in (".jsonl", ".json", ".csv"):
            raise StreamError(f"input={str(path)!r}: unknown format {self.path.suffix!r}; use .jsonl or .csv")

    def samples(self) -> Iterator[TrackerSample]:
        try:
            yield from self._samples()
        except UnicodeDecodeError as err:
            raise StreamError(
                f"input={str(self.path)!r}: not a UTF-8 text file ({err.reason} at byte {err.start}); give a .jsonl or "
                ".csv tracker recording"
            ) from err

    def _samples(self) -> Iterator[TrackerSample]:
        previous = -math.inf
        if self.path.suffix.lower() == ".csv":
            with self.path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a byte-order mark is no column
                reader = csv.DictReader(f, skipinitialspace=True)
                header = [name.strip() for name in reader.fieldnames or []]
                reader.fieldnames = header
                need = {"t"} | {f"{k}_{c}" for k in TRACKERS for c in ("x", "y", "z", "qw", "qx", "qy", "qz")}
                missing = sorted(need - set(header))
                if missing:
                    raise StreamError(
                        f"{self.path}: CSV header lacks columns {missing}; the header is t, then x, y, z, qw, qx, qy, "
                        f"qz per tracker ({', '.join(TRACKERS)}), e.g. head_x"
                    )
                for line, row in enumerate(reader, start=2):
                    where = f"{self.path}:{line}"
                    if None in row or any(v is None for v in row.values()):  # too many cells / too few
                        width = (
                            len(row) - 1 + len(row[None]) if None in row else sum(v is not None for v in row.values())
                        )
                        raise StreamError(
                            f"{where}: {width} cells where the header has {len(header)}; leave a tracker's cells empty "
                            "when it did not report, but keep every comma"
                        )
                    previous = _time(where, row["t"], previous, cell=True)
                    poses = []
                    for k in TRACKERS:
                        cells = [row[f"{k}_{c}"] for c in ("x", "y", "z", "qw", "qx", "qy", "qz")]
                        if any(c is None or c.strip() == "" for c in cells):
                            poses.append(_pose(where, None, None))
                            continue
                        try:
                            values = [float(c) for c in cells]
                        except ValueError as err:
                            raise StreamError(f"{where}: {k}: {err}; cells must be numbers or empty") from err
                        poses.append(_pose(f"{where}: {k}", values[:3], values[3:]))
                    pos, quat = np.stack([p for p, _ in poses]), np.stack([q for _, q in poses])
                    yield TrackerSample(previous, pos, quat, where)
            return
        with self.path.open(encoding="utf-8-sig") as f:
            for line, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                where = f"{self.path}:{line}"
                try:
                    record = json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
                except json.JSONDecodeError as err:
                    raise StreamError(f"{where}: not JSON ({err.msg}); one JSON object per line") from err
                if not isinstance(record, dict) or "t" not in record:
                    raise StreamError(f'{where}: each line must be an object with "t" and tracker poses')
                previous = _time(where, record["t"], previous)
                poses = []
                for k in TRACKERS:
                    entry = record.get(k)
                    if entry is not None and (not isinstance(entry, dict) or not entry):
                        raise StreamError(f'{where}: {k} must be {{"pos": [...], "quat": [...]}} or null')
                    poses.append(
                        _pose(f"{where}: {k}", *(entry.get("pos"), entry.get("quat")) if entry else (None, None))
                    )
                yield TrackerSample(previous, np.stack([p for p, _ in poses]), np.stack([q for _, q in poses]), where)


def resample(samples: Sequence[TrackerSample], fps: float = 30.0, stale_s: float | None = None) -> SparseSignals:
    """Put samples on a ``fps`` grid from the first timestamp on: each grid time takes the newest report at or before
    it per tracker, if that report is younger than ``stale_s`` [s] (default one grid period: a tracker that skipped a
    frame is missing there); otherwise the sample is missing (``valid`` False, NaN). A stream too short, too sparse or
    with too long a gap for the grid is a :class:`StreamError` (module docstring; gaps before the grid is allocated)."""
    tol = 0.05 / fps  # timestamps within 5 % of a period of a grid time count as on it (rounding, jitter)
    stale = 1.0 / fps - 2 * tol if stale_s is None else stale_s
    if len(samples) < 2:
        raise StreamError(f"the tracker stream has {len(samples)} sample(s); it needs at least two, spanning time")
    times = np.array([s.t for s in samples])
    pos = np.stack([s.pos for s in samples])  # (S, K, 3)
    quat = np.stack([s.quat for s in samples])
    reported = np.all(np.isfinite(pos), -1)  # (S, K)
    never = [TRACKERS[k] for k in range(len(TRACKERS)) if not reported[:, k].any()]
    if never:
        raise StreamError(f"trackers {never} never report a valid pose; the stream needs head and both hands")
    with np.errstate(over="ignore"):  # t from -1e308 to 1e308: an infinite step, refused below
        median = float(np.median(np.diff(times)))
    if median > MAX_GAP_S:  # every sample seconds from the next: not seconds
        raise StreamError(
            f"the stream's samples are a median {median:.4g} s apart ({len(samples)} samples from {_at(samples[0])} "
            f"to {_at(samples[-1])}): timestamps must be seconds (milliseconds? divide by 1000)"
        )
    heard = np.unique(np.concatenate([[0], np.flatnonzero(reported.any(1)), [len(samples) - 1]]))
    with np.errstate(over="ignore"):
        gaps = np.diff(times[heard])  # between samples with a report (and the stream's ends)
    i = int(np.argmax(gaps))
    if not gaps[i] <= MAX_GAP_S:
        raise StreamError(
            f"{_at(samples[heard[i]])}: no tracker reports for {gaps[i]:.4g} s after this sample, until "
            f"{_at(samples[heard[i + 1]])}; the largest gap a stream may have is {MAX_GAP_S:g} s (shorter dropouts "
            "hold the last pose): split the recording at the gap, or cut the gap out and shift the later timestamps"
        )
    span = float(times[-1] - times[0])
    frames = math.floor(span * fps + 0.05) + 1
    if frames < MIN_FRAMES:
        raise StreamError(
            f"the tracker stream spans {span:.4g} s ({frames} frame(s) at {fps:g} Hz, {_at(samples[0])} to "
            f"{_at(samples[-1])}); it needs at least two samples spanning {(MIN_FRAMES - 1) / fps:.3g} s "
            f"({MIN_FRAMES} frames): record a longer stream"
        )
    _check_plausible(pos, reported)
    grid = times[0] + np.arange(frames) / fps
    out_pos = np.full((len(grid), len(TRACKERS), 3), np.nan)
    out_quat = np.full((len(grid), len(TRACKERS), 4), np.nan)
    valid = np.zeros((len(grid), len(TRACKERS)), dtype=bool)
    for k in range(len(TRACKERS)):
        idx = np.flatnonzero(reported[:, k])
        at = np.searchsorted(times[idx], grid + tol, side="right") - 1  # newest report at or before each grid time
        ok = at >= 0
        src = idx[np.clip(at, 0, None)]
        ok &= grid - times[src] <= stale + tol
        valid[:, k] = ok
        out_pos[ok, k], out_quat[ok, k] = pos[src[ok], k], quat[src[ok], k]
    covered = float(valid.any(1).mean())
    if covered < MIN_COVERAGE:  # a stream slower than the grid: most frames would be held poses
        raise StreamError(
            f"only {covered:.0%} of the stream's {frames} frames at {fps:g} Hz have a fresh tracker report (at least "
            f"{MIN_COVERAGE:.0%} must): its samples are a median {median:.4g} s apart ({1 / median:.3g} Hz); record "
            f"at {fps:g} Hz or more"
        )
    return SparseSignals(out_pos, out_quat, valid, fps)


HEAD_HEIGHT_M = (0.2, 3.0)
"""Median head height a person's stream has [m] (the 15 clips: 0.38 crawling to 1.50 walking)."""
HAND_REACH_M = 2.0
"""Largest median hand-to-head distance [m] (the clips: at most 0.73; arms x1.3: about 1)."""


def _check_plausible(pos: np.ndarray, reported: np.ndarray) -> None:
    """Refuse a stream whose geometry cannot be a person in meters with Z up — centimeters, a Y-up VR frame, a
    misplaced origin — rather than drive the character with it (its fall test compares against the input's own head
    height, so such a stream would even "stay up")."""
    head = pos[reported[:, 0], 0]
    z = float(np.median(head[:, 2]))
    if not HEAD_HEIGHT_M[0] <= z <= HEAD_HEIGHT_M[1]:
        raise StreamError(
            f"the head's median height is {z:.4g} m, not a person's ({HEAD_HEIGHT_M[0]}-{HEAD_HEIGHT_M[1]} m): "
            "positions must be meters in a Z-up frame with the floor at z=0 (a Y-up VR frame needs y and z swapped; "
            "centimeters need dividing by 100)"
        )
    for k in range(1, len(TRACKERS)):
        both = reported[:, 0] & reported[:, k]
        if both.any():
            reach = float(np.median(np.linalg.norm(pos[both, k] - pos[both, 0], axis=-1)))
            if reach > HAND_REACH_M:
                raise StreamError(
                    f"{TRACKERS[k]} is {reach:.4g} m from the head (median), farther than an arm reaches "
                    f"({HAND_REACH_M} m): positions must be meters, all trackers in one frame"
                )


def read_tracker_file(path: str | Path, fps: float = 30.0, stale_s: float | None = None) -> SparseSignals:
    """A recorded stream on the 30 Hz grid (missing samples NaN; use ``sparse.hold_last`` to hold them)."""
    return resample(list(FileSource(path).samples()), fps, stale_s)


def write_tracker_jsonl(signals: SparseSignals, path: str | Path, t0: float = 0.0) -> Path:
    """Write tracker reports as JSON lines (the format ``read_tracker_file`` reads); missing samples become ``null``.
    Used to turn a clip's sparse signals into a recording, for examples and tests."""
    path = Path(path)
    lines = []
    for f in range(signals.pos.shape[0]):
        record: dict[str, object] = {"t": round(t0 + f / signals.fps, 6)}
        for k, name in enumerate(signals.trackers):
            ok = bool(signals.valid[f, k])
            record[name] = (
                {
                    "pos": [round(float(v), 5) for v in signals.pos[f, k]],
                    "quat": [round(float(v), 6) for v in signals.quat[f, k]],
                }
                if ok
                else None
            )
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path
